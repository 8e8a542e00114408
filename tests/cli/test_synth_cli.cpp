// dsv32 synth --experts N: a real-shape model with fewer routed experts (issue 13's benchmark
// model), and --scales amax (non-power-of-two FP8 block scales).
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/cli/cli_util.h"

namespace dsv32::testing {
namespace {

namespace fs = std::filesystem;

TEST(SynthCli, FewerExpertsKeepEveryOtherDimension) {
  const fs::path dir = fs::path(DSV32_BUILD_DIR) / "synth-cli-e16";
  fs::create_directories(dir);
  CliResult r = run_cli("synth --preset v32 --layers 4 --experts 16 --config-only --out " + dir.string());
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json c = read_json((dir / "config.json").string());
  EXPECT_EQ(c["n_routed_experts"], 16);
  EXPECT_EQ(c["n_group"], 8);        // the largest divisor of 16 not above V3.2's 8
  EXPECT_EQ(c["topk_group"], 4);
  EXPECT_EQ(c["num_experts_per_tok"], 8);
  EXPECT_EQ(c["hidden_size"], 7168);
  EXPECT_EQ(c["moe_intermediate_size"], 2048);
  EXPECT_EQ(c["quantization_config"]["scale_fmt"], "ue8m0");
  // 6 experts: 6 groups of 1, 4 kept -> only 4 reachable, fewer than the 8 routed per token.
  r = run_cli("synth --preset v32 --experts 6 --config-only --out " + dir.string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--experts 6"), std::string::npos) << r.out;
}

TEST(SynthCli, AmaxScalesDropScaleFmt) {
  const fs::path dir = fs::path(DSV32_BUILD_DIR) / "synth-cli-amax";
  fs::create_directories(dir);
  CliResult r = run_cli("synth --preset tiny --scales amax --config-only --out " + dir.string());
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json c = read_json((dir / "config.json").string());
  EXPECT_FALSE(c["quantization_config"].contains("scale_fmt"));
  r = run_cli("synth --preset tiny --scales pow3 --config-only --out " + dir.string());
  EXPECT_EQ(r.status, 2) << r.out;
}

}  // namespace
}  // namespace dsv32::testing
