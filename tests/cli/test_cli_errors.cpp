// The CLI's contract for bad input: a one-line error naming what is wrong, exit status 2, never a
// crash; and the main paths succeed with exit 0.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tests/cli/cli_util.h"
#include "tests/model/tiny_model.h"

namespace dsv32::testing {
namespace {

using Result = CliResult;
Result dsv32(const std::string& args) { return run_cli(args); }

void expect_error(const std::string& args, const std::string& needle) {
  Result r = dsv32(args);
  EXPECT_EQ(r.status, 2) << args << "\n" << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << args << "\n" << r.out;
  EXPECT_NE(r.out.find("error"), std::string::npos) << r.out;
}

TEST(Cli, HelpAndUnknownCommand) {
  EXPECT_EQ(dsv32("--help").status, 0);
  Result r = dsv32("run --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--attn"), std::string::npos);
  EXPECT_EQ(dsv32("frobnicate").status, 2);
}

TEST(Cli, RunRejectsBadInput) {
  const std::string m = tiny_checkpoint();
  expect_error("run --model " + m + " --ids 1,2 --bogus", "unknown option '--bogus'");
  expect_error("run --model " + m + " --ids 1,999999", "token id 999999 at index 1 is out of range");
  expect_error("run --model " + m + " --ids 1,-3", "out of range");
  expect_error("run --model " + m + " --ids 1,x", "'x' is not an integer");
  expect_error("run --model " + m + " --ids 1 --attn fancy", "--attn: 'fancy'");
  expect_error("run --model " + m + " --ids 1 --mla fused", "--mla: 'fused'");
  expect_error("run --model /nonexistent/model --ids 1", "/nonexistent/model");
  expect_error("run --model " + m + " --ids-file /nonexistent/ids.txt", "/nonexistent/ids.txt: cannot open");
  expect_error("run --model " + m, "missing token ids");
  expect_error("run --ids 1", "missing required option --model");
  expect_error("run --model " + m + " --ids 1 --threads", "needs a value");
  expect_error("run --model " + m + " --ids 1,2 --prefill 3", "--prefill 3 exceeds the 2 ids");
  const std::string v3 = tiny_checkpoint(SynthWeights::kBf16, 3, "DeepseekV3ForCausalLM");
  expect_error("run --model " + v3 + " --ids 1 --attn sparse", "no lightning indexer");
  expect_error("synth --preset huge --out /tmp/x", "unknown preset 'huge'");
  expect_error("synth --preset tiny --weights fp4 --out /tmp/x", "--weights: 'fp4'");
}

TEST(Cli, RunSucceedsInAllModes) {
  const std::string m = tiny_checkpoint();
  for (const char* attn : {"dense", "sparse"})
    for (const char* mla : {"naive", "absorbed"}) {
      Result r = dsv32("run --model " + m + " --ids 5,6,7,8,9,10 --prefill 3 --attn " + attn + " --mla " + mla);
      EXPECT_EQ(r.status, 0) << r.out;
      EXPECT_NE(r.out.find("decode  3 tokens"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find(std::string("attn ") + attn + ", mla " + mla), std::string::npos) << r.out;
    }
}

TEST(Cli, InfoReportsRealV32Footprint) {
  Result r = dsv32("info --preset v32");
  EXPECT_EQ(r.status, 0) << r.out;
  // MODEL §6.5: REF caches 78,324 bytes/token over 61 layers; naive bf16 K/V 4,997,120.
  EXPECT_NE(r.out.find("78324"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4997120"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("671.878 B total"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace dsv32::testing
