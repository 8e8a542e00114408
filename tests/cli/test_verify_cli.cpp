// `dsv32 verify` end to end: exit codes 0/1/2, the JSON report, and one-line errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/verify/synth_dump.h"

using dsv32::test::SynthRun;
using dsv32::test::tmp_path;

namespace {
struct Result {
  int code = -1;
  std::string out;
};
Result run_cli(const std::string& args) {
  std::string cmd = std::string(DSV32_BIN) + " verify " + args + " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}
nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}
}  // namespace

TEST(VerifyCli, ExitCodesAndJson) {
  SynthRun run;
  const std::string a = tmp_path("cli_a.h5"), b = tmp_path("cli_b.h5"), j = tmp_path("cli.json");
  run.write(a);
  run.write(b);
  Result r = run_cli(a + " " + b + " --json " + j);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("layers/02/q_rope"), std::string::npos);
  EXPECT_NE(r.out.find("PASS"), std::string::npos);
  auto js = read_json(j);
  EXPECT_EQ(js["verdict"], "pass");
  EXPECT_EQ(js["first_failure"], "");
  EXPECT_EQ(js["tensors"].size(), run.order.size());

  // Planted bug: rope halves swapped in layer 2.
  auto& q = run.t["layers/02/q_rope"].f;
  for (size_t base = 0; base < q.size(); base += size_t(run.dr))
    for (int64_t k = 0; k < run.dr / 2; ++k) std::swap(q[base + size_t(k)], q[base + size_t(k + run.dr / 2)]);
  run.write(a);
  r = run_cli(a + " " + b + " --profile bitwise --json " + j);
  EXPECT_EQ(r.code, 1) << r.out;
  js = read_json(j);
  EXPECT_EQ(js["verdict"], "fail");
  EXPECT_EQ(js["first_failure"], "layers/02/q_rope");
  EXPECT_EQ(js["first_flip"], "");

  r = run_cli(a + " " + b + " --quiet --tensors '^layers/01/'");
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST(VerifyCli, ErrorsExitTwo) {
  SynthRun run;
  const std::string b = tmp_path("cli_e_b.h5"), j = tmp_path("cli_e.json");
  run.write(b);
  SynthRun other = run;
  auto& t = other.t["layers/01/k_rope"];
  t.row_shape = {run.dr * 2};
  t.f.resize(size_t(run.n * t.row()), 0.f);
  const std::string a = tmp_path("cli_e_a.h5");
  other.write(a);
  Result r = run_cli(a + " " + b + " --json " + j);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("layers/01/k_rope"), std::string::npos) << r.out;
  EXPECT_EQ(read_json(j)["verdict"], "error");

  const std::string garbage = tmp_path("cli_garbage.h5");
  std::ofstream(garbage) << "garbage";
  r = run_cli(garbage + " " + b);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("not an HDF5 file"), std::string::npos) << r.out;
  r = run_cli(b);  // one file
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_cli(b + " " + b + " --profile nope");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("unknown tolerance profile"), std::string::npos) << r.out;
}
