// The command-line side of expert parallelism without mpirun: option errors, `info --ranks`
// at the real V3.2 shapes, and a one-rank --parallel ep run (MPI singleton) equal to a plain run.
// The multi-rank bit-identity tests are CTest scripts under mpirun (tests/mpi/).
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

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
  EXPECT_NE(r.out.find("--ep 17 exceeds n_routed_experts 16"), std::string::npos) << r.out;
  r = run_cli("info --preset tiny --ranks 4 --tp 3");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--tp 3: the tensor-parallel degree must divide the 4 ranks"), std::string::npos) << r.out;
  r = run_cli("run --model " + m + " --ids 1 --parallel none --tp 2");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--tp/--ep: need ranks"), std::string::npos) << r.out;
}

// Per-rank numbers from `info --ranks`: column `col` (0-based, after the rank) of every rank row.
std::vector<double> rank_column(const std::string& out, int col) {
  std::vector<double> v;
  std::istringstream in(out.substr(out.find("act/token")));
  std::string line;
  std::getline(in, line), std::getline(in, line);  // header, units
  while (std::getline(in, line) && !line.empty() && line.rfind("check", 0) != 0) {
    std::istringstream f(line);
    std::string tok;
    for (int i = 0; i <= col + 1 && f >> tok; ++i) {}
    v.push_back(std::stod(tok));
  }
  return v;
}

// Expert bytes per rank fall as 1/EP, the TP-split bytes as 1/TP, and both sum to the
// single-process totals (the "check:" line), at the real V3.2 shapes.
TEST(ParallelCli, InfoRanksSplitsSumToOneProcess) {
  const CliResult one = run_cli("info --preset v32 --ranks 1");
  const CliResult r = run_cli("info --preset v32 --ranks 8 --tp 4 --ep 8");
  ASSERT_EQ(one.status, 0) << one.out;
  ASSERT_EQ(r.status, 0) << r.out;
  // columns: heads experts replicated tp-split experts weights KV/token KV@ctx act/token
  const std::vector<double> e1 = rank_column(one.out, 4), e8 = rank_column(r.out, 4);
  const std::vector<double> t1 = rank_column(one.out, 3), t4 = rank_column(r.out, 3);
  const std::vector<double> kv1 = rank_column(one.out, 6), kv4 = rank_column(r.out, 6);
  ASSERT_EQ(e1.size(), 1u);
  ASSERT_EQ(e8.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(e8[i], e1[0] / 8, 1e-3) << i;  // 256 experts: 32 per rank, printed to 1 MiB
    EXPECT_NEAR(t4[i], t1[0] / 4, 1e-3) << i;
    EXPECT_LT(kv4[i], kv1[0]);                  // naive K/V: a quarter of the heads' rows
  }
  std::smatch m;
  const std::string out = r.out;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("TP group (\\d+), one process (\\d+); routed-expert bytes "
                                                   "summed over an EP group (\\d+), one process (\\d+)")))
      << out;
  EXPECT_EQ(m[1].str(), m[2].str());
  EXPECT_EQ(m[3].str(), m[4].str());
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
