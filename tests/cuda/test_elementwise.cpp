// kernels/cuda/elementwise: the residual add, SwiGLU's gate, scale and fill against the CPU loops
// of model/model.cpp and model/ffn.cpp, on random inputs. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/cuda/elementwise.h"
#include "tests/cuda/cuda_test_util.h"

namespace dsv32 {
namespace {

using test::close_within;
using test::GpuTest;
using test::kU;
using test::randn;
template <class T>
using Dev = gpu::DeviceArray<T>;

class Elementwise : public GpuTest {};

// One fp32 rounding of the same operands on both sides (an add or a multiply cannot be contracted
// on its own): bit-identical.
TEST_F(Elementwise, AddScaleFillAreExact) {
  const int64_t n = 70001;  // not a multiple of the block
  auto y = randn(n, 1, 5.f), x = randn(n, 2, 0.1f);
  Dev<float> dy(ctx(), y), dx(ctx(), x);
  gpu::add_inplace(ctx(), dy.get(), dx.get(), n);
  gpu::scale_inplace(ctx(), dy.get(), n, 0.37f);
  auto got = dy.download(ctx());
  for (int64_t i = 0; i < n; ++i) {
    const float want = (y[i] + x[i]) * 0.37f;
    ASSERT_EQ(got[i], want) << "element " << i;
  }
  gpu::fill(ctx(), dx.get(), n, -2.5f);
  for (float v : dx.download(ctx())) ASSERT_EQ(v, -2.5f);
}

// silu(g)·u = g·u / (1 + e), e = exp(−g). CUDA's expf is within 2 ulp, the host's within 1: the
// two e differ by ≤ 3u·e, so 1 + e by ≤ 3u·(1 + e) relative, plus one rounding of the add on each
// side (2u); the division and the multiply add 2u each: |Δy| ≤ (3 + 2 + 2 + 2)u·|y| → 10u·|y|.
TEST_F(Elementwise, SwigluMatchesCpu) {
  const int64_t n = 4099;
  auto g = randn(n, 3, 4.f), u = randn(n, 4);
  std::vector<float> want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = g[i] / (1.f + std::exp(-g[i])) * u[i];
  Dev<float> dg(ctx(), g), du(ctx(), u);
  gpu::swiglu_inplace(ctx(), dg.get(), du.get(), n);
  std::vector<double> bound(n);
  for (int64_t i = 0; i < n; ++i) bound[i] = 10 * kU * std::fabs(want[i]);
  EXPECT_TRUE(close_within(dg.download(ctx()), want, bound));
}

}  // namespace
}  // namespace dsv32
