// --device and --gpu-gemm on the command line: unknown values are rejected with a one-line error
// naming the option; --device cuda fails with one line in a build without CUDA, and in a CUDA
// build on a machine without a device; --gpu-gemm other than fp32 needs --device cuda.
#include <gtest/gtest.h>

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
  expect_one_line_error("run --model " + m + " --ids 1,2 --gpu-gemm bf16", "--gpu-gemm bf16: needs --device cuda");
  expect_one_line_error("bench --model " + m + " --device bogus", "--device: 'bogus'");
  expect_one_line_error("ppl --model " + m + " --text /dev/null --device bogus", "--device: 'bogus'");
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
  EXPECT_EQ(r.out.find("gpu gemm"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace dsv32::testing
