// The command-line side of expert parallelism without mpirun: option errors, `info --ranks`
// at the real V3.2 shapes, and a one-rank --parallel ep run (MPI singleton) equal to a plain run.
// The multi-rank bit-identity tests are CTest scripts under mpirun (tests/mpi/).
#include <gtest/gtest.h>

#include <string>

#include "tests/cli/cli_util.h"
#include "tests/model/tiny_model.h"

namespace dsv32::testing {
namespace {

TEST(ParallelCli, RejectsBadInput) {
  const std::string m = tiny_checkpoint();
  CliResult r = run_cli("run --model " + m + " --ids 1 --parallel tp");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--parallel: 'tp' is not one of none, ep, auto"), std::string::npos) << r.out;
  r = run_cli("info --preset tiny --ranks 17");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--ranks: 17 exceeds n_routed_experts 16"), std::string::npos) << r.out;
}

TEST(ParallelCli, InfoRanksAtV32Shapes) {
  const CliResult r = run_cli("info --preset v32 --ranks 8");
  ASSERT_EQ(r.status, 0) << r.out;
  // 256 experts over 8 ranks: rank 7 holds 224..255; K·D·4 = 8·7168·4 bytes per token per layer.
  EXPECT_NE(r.out.find("224-255"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("229376 bytes per token per MoE layer"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("over 58 MoE layers"), std::string::npos) << r.out;
}

// The per-position table (top-5 logits and NLL, printed to 3 decimals) up to the summary lines.
std::string table(const std::string& out) { return out.substr(0, out.find("\nmodel ")); }

TEST(ParallelCli, OneRankEqualsPlainRun) {
  const std::string m = tiny_checkpoint();
  const std::string args = "run --model " + m + " --ids 5,6,7,8,9,10 --prefill 3 --threads 1";
  const CliResult plain = run_cli(args + " --parallel none");
  ASSERT_EQ(plain.status, 0) << plain.out;
  EXPECT_EQ(plain.out.find("ranks "), std::string::npos) << plain.out;
  const CliResult ep = run_cli(args + " --parallel ep");
#ifdef DSV32_WITH_MPI
  ASSERT_EQ(ep.status, 0) << ep.out;
  EXPECT_NE(ep.out.find("ranks   1 "), std::string::npos) << ep.out;
  EXPECT_EQ(table(ep.out), table(plain.out));
  EXPECT_NE(table(plain.out).find("top next tokens"), std::string::npos) << plain.out;
#else
  EXPECT_EQ(ep.status, 2) << ep.out;
  EXPECT_NE(ep.out.find("no MPI support"), std::string::npos) << ep.out;
#endif
}

}  // namespace
}  // namespace dsv32::testing
