// kernels/cuda/layernorm against kernels/cpu/norm.h layernorm (the indexer's k_norm).
// Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <vector>

#include "kernels/cpu/norm.h"
#include "kernels/cuda/layernorm.h"
#include "tests/cuda/cuda_test_util.h"

namespace dsv32 {
namespace {

using test::close_within;
using test::GpuParamTest;
using test::kU;
using test::randn;
template <class T>
using Dev = gpu::DeviceArray<T>;

struct LnCase { int64_t rows, dim; };
void PrintTo(const LnCase& c, std::ostream* os) { *os << "rows" << c.rows << "_dim" << c.dim; }
class LayerNormTest : public GpuParamTest<LnCase> {};

// Both sides form n = (x − mean)·r in double from double statistics that differ only in summation
// order (relative ~1e-16), so float(n) differs by at most one rounding flip: ≤ 2u·|n|. Then
// y = n·w + b: the GPU rounds the product and the sum (u each), the host may fuse them (one
// rounding): |Δy| ≤ 2u·|n·w| + 2u·|n·w| + 2u·|y| → bound 4u·|n·w| + 2u·|y|, with a non-zero
// mean (offset 3) so that the centring matters.
TEST_P(LayerNormTest, MatchesCpu) {
  const auto c = GetParam();
  const NormParams p{c.rows, c.dim, 1e-6};
  auto x = randn(c.rows * c.dim, 21, 2.f), w = randn(c.dim, 22), b = randn(c.dim, 23, 0.5f);
  for (auto& v : x) v += 3.f;
  std::vector<float> want(x.size());
  layernorm(p, x.data(), w.data(), b.data(), want.data());
  Dev<float> dx(ctx(), x), dw(ctx(), w), db(ctx(), b);
  gpu::layernorm(ctx(), p, dx.get(), dw.get(), db.get(), dx.get());  // in place, as the forward pass calls it
  std::vector<double> bound(want.size());
  for (int64_t m = 0; m < c.rows; ++m) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < c.dim; ++i) mean += x[m * c.dim + i];
    mean /= double(c.dim);
    for (int64_t i = 0; i < c.dim; ++i) var += (x[m * c.dim + i] - mean) * (x[m * c.dim + i] - mean);
    const double r = 1 / std::sqrt(var / double(c.dim) + p.eps);
    for (int64_t i = 0; i < c.dim; ++i) {
      const size_t k = size_t(m * c.dim + i);
      bound[k] = 4 * kU * std::fabs((x[k] - mean) * r * w[i]) + 2 * kU * std::fabs(want[k]);
    }
  }
  EXPECT_TRUE(close_within(dx.download(ctx()), want, bound));
}
INSTANTIATE_TEST_SUITE_P(Cuda, LayerNormTest, ::testing::Values(LnCase{1, 128}, LnCase{5, 128}, LnCase{3, 1000}));

}  // namespace
}  // namespace dsv32
