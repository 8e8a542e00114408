// --device, --gpu-gemm and --numerics on the command line (one registration, DeviceChoice, shared
// by run, ppl, bench and eval): unknown values are rejected with a one-line error naming the
// option; --device cuda fails with one line in a build without CUDA, and in a CUDA build on a
// machine without a device; a profile the CPU backend lacks (bf16, fp8; --gpu-gemm is their old
// spelling) fails in one line naming what it lacks; bench and eval accept
// --numerics ref1 and record it in their JSON.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/cli/cli_util.h"
#include "tests/model/tiny_model.h"

namespace dsv32::testing {
namespace {

// Exit status 2 and exactly one line of output that contains `needle`.
void expect_one_line_error(const std::string& args, const std::string& needle) {
  CliResult r = run_cli(args);
  EXPECT_EQ(r.status, 2) << args << "\n" << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << args << "\n" << r.out;
  std::string text = r.out;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  EXPECT_EQ(text.find('\n'), std::string::npos) << "more than one line:\n" << r.out;
}

TEST(CliDevice, RejectsUnknownValues) {
  const std::string m = tiny_checkpoint();
  expect_one_line_error("run --model " + m + " --ids 1,2 --device bogus", "--device: 'bogus' is not one of cpu, cuda");
  expect_one_line_error("run --model " + m + " --ids 1,2 --device cuda --gpu-gemm fp4",
                        "--gpu-gemm: 'fp4' is not one of fp32, bf16, fp8");
  // A profile the CPU backend cannot compute fails in one line naming what it lacks.
  expect_one_line_error("run --model " + m + " --ids 1,2 --gpu-gemm fp8", "--numerics fp8: the CPU backend has no fp8 GEMM");
  expect_one_line_error("run --model " + m + " --ids 1,2 --numerics fp8", "--numerics fp8: the CPU backend has no fp8 GEMM");
  expect_one_line_error("run --model " + m + " --ids 1,2 --numerics ref1 --gpu-gemm bf16",
                        "--gpu-gemm bf16 contradicts --numerics ref1");
  expect_one_line_error("bench --model " + m + " --device bogus", "--device: 'bogus'");
  expect_one_line_error("ppl --model " + m + " --text /dev/null --device bogus", "--device: 'bogus'");
  for (const std::string cmd : {"run --ids 1,2", "bench", "eval --no-reference --no-bench", "ppl --text /dev/null"})
    expect_one_line_error(cmd + " --model " + m + " --numerics bogus", "--numerics: 'bogus' is not one of exact, ref1, bf16, fp8");
}

TEST(CliDevice, HelpListsDeviceOptions) {
  for (const char* cmd : {"run", "ppl", "bench", "eval"}) {
    CliResult r = run_cli(std::string(cmd) + " --help");
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.out;
    for (const char* opt : {"--device DEV", "--gpu-gemm PREC", "--numerics PROFILE"})
      EXPECT_NE(r.out.find(opt), std::string::npos) << cmd << " --help lacks " << opt << "\n" << r.out;
  }
}

// A minimal bench (one mode, 4-token prefill at depth 0 only, no decode, no curve) under REF-1.
TEST(CliDevice, BenchAcceptsNumericsRef1) {
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("dsv32_bench_ref1_" + std::to_string(getpid()) + ".json")).string();
  CliResult r = run_cli("bench --model " + tiny_checkpoint() + " --modes dense/absorbed --pp 4 --tg 0 --depths 0 --reps 1 "
                        "--curve 0 --numerics ref1 --json " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("numerics: ref1"), std::string::npos) << r.out;
  nlohmann::json j = read_json(out);
  std::filesystem::remove(out);
  EXPECT_EQ(j["context"]["numerics"], "ref1");
  EXPECT_EQ(j["context"]["device"], "cpu");
  EXPECT_EQ(j["context"]["device_name"], "cpu");
  EXPECT_EQ(j["results"].size(), 1u) << j.dump(1);
}

// eval passes --numerics on to ppl (and run/bench): its smallest run, ppl --compare on one short
// chunk, records ref1. Needs the tokenizer and the default text, like tests/cli/test_ppl_cli.cpp.
TEST(CliDevice, EvalAcceptsNumericsRef1) {
  namespace fs = std::filesystem;
  const std::string text = std::string(DSV32_SOURCE_DIR) + "/datasets/data/default.txt";
  const std::string tok = std::string(DSV32_SOURCE_DIR) + "/.cache/tokenizer/tokenizer.json";
  if (!fs::exists(text)) GTEST_SKIP() << "no " << text << ": run datasets/prepare.sh";
  if (!fs::exists(tok)) GTEST_SKIP() << "no " << tok << ": run scripts/fetch_tokenizer.sh";
  const fs::path dir = fs::path(DSV32_BUILD_DIR) / ("eval-ref1-" + std::to_string(getpid()));
  CliResult r = run_cli("eval --model " + tiny_checkpoint() + " --text " + text + " --tokenizer " + tok +
                        " --no-reference --no-bench --no-dsa --ctx 16 --chunks 1 --numerics ref1 --out " + dir.string() +
                        " --history " + (dir / "history.sqlite").string());
  nlohmann::json j;
  if (fs::exists(dir / "results/ppl.json")) j = read_json((dir / "results/ppl.json").string());
  fs::remove_all(dir);
  ASSERT_EQ(r.status, 0) << r.out;
  ASSERT_TRUE(j.is_object()) << "no results/ppl.json\n" << r.out;
  EXPECT_EQ(j["context"]["numerics"], "ref1");
  EXPECT_EQ(j["context"]["device"], "cpu");
}

TEST(CliDevice, CudaWithoutSupportOrDeviceIsOneLine) {
  const std::string m = tiny_checkpoint();
  const std::string args = "run --model " + m + " --ids 1,2 --device cuda --quiet";
#ifdef DSV32_WITH_CUDA
  CliResult r = run_cli(args);
  if (r.status == 0) GTEST_SKIP() << "this machine has a CUDA device: --device cuda runs (tests/cuda cover it)";
  expect_one_line_error(args, "no CUDA device: ");
#else
  expect_one_line_error(args, "this build has no CUDA support (configure with -DDSV32_CUDA=ON)");
#endif
}

TEST(CliDevice, CpuRunsReportNoGpu) {
  CliResult r = run_cli("run --model " + tiny_checkpoint() + " --ids 1,2,3 --device cpu --gpu-gemm fp32 --quiet");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("device  "), std::string::npos) << r.out;  // the GPU's name line
}

}  // namespace
}  // namespace dsv32::testing
