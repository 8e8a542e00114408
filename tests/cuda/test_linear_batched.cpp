// gpu::linear_batched_heads (one strided-batched GEMM for all heads) against the CPU linear run
// once per head on the same strided views: absorbed MLA's W_UKᵀ·q_nope (x heads inside wider rows,
// y heads inside [S, H, r_kv + d_r] rows) and W_UV·õ (packed heads), F32 and BF16 weights.
//
// Tolerance: both sides multiply the same numbers — for BF16 weights x is made bf16-representable,
// so the GPU's rounding of x to bf16 is exact and bf16×bf16 products are exact in fp32. What remains
// is summation order over K terms: CPU fp32 ≤ γ_K·Σ|x·w|, cuBLAS (tensor-core adders truncate)
// ≤ 2γ_K·Σ|x·w| → bound 3γ_K·Σ_k|x_k·w_nk| per output, the Σ in double (as LinearTest in
// test_cuda_ops.cpp). Elements of y outside the heads' outputs must be left untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <vector>

#include "kernels/cpu/linear.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/cuda/linear.h"
#include "kernels/numeric.h"
#include "kernels/error.h"
#include "tests/cuda/cuda_test_util.h"

namespace dsv32 {
namespace {

using test::close_within;
using test::gamma_n;
using test::GpuParamTest;
using test::randn;

struct BatchedCase {
  DType dtype;
  int64_t heads, rows, n, k;
  int64_t x_head_stride, y_head_stride;  // ≥ k, ≥ n: the head slices sit inside wider rows
};
void PrintTo(const BatchedCase& c, std::ostream* os) {
  *os << dtype_name(c.dtype) << "_H" << c.heads << "_S" << c.rows << "_N" << c.n << "_K" << c.k << "_xs"
      << c.x_head_stride << "_ys" << c.y_head_stride;
}
class LinearBatchedHeadsTest : public GpuParamTest<BatchedCase> {};

TEST_P(LinearBatchedHeadsTest, MatchesCpuLinearPerHead) {
  const BatchedCase c = GetParam();
  const int64_t H = c.heads, S = c.rows, N = c.n, K = c.k;
  const int64_t xrs = H * c.x_head_stride, yrs = H * c.y_head_stride;
  std::vector<float> wf = randn(H * N * K, 41, 0.05f), x = randn(S * xrs, 42);
  std::vector<uint16_t> wb;
  Weight w{c.dtype, H * N, K};
  if (c.dtype == DType::BF16) {
    for (auto& v : x) v = bf16_to_f32(f32_to_bf16(v));
    wb.resize(wf.size());
    for (size_t i = 0; i < wf.size(); ++i) wb[i] = f32_to_bf16(wf[i]);
    w.data = wb.data();
  } else {
    w.data = wf.data();
  }

  // CPU: one linear per head on the strided views; sentinel 7 where no head writes.
  const float kUntouched = 7.f;
  std::vector<float> want(size_t(S * yrs), kUntouched);
  ThreadPool pool(1);
  for (int64_t h = 0; h < H; ++h)
    linear(pool, x.data() + h * c.x_head_stride, S, xrs, w.rows_slice(h * N, N), want.data() + h * c.y_head_stride, yrs);

  gpu::WeightUpload dw(ctx(), w);
  gpu::DeviceArray<float> dx(ctx(), x), dy(ctx(), std::vector<float>(want.size(), kUntouched));
  gpu::BatchedHeadsParams p;
  p.heads = H, p.rows = S, p.n = N, p.k = K;
  p.x_row_stride = xrs, p.x_head_stride = c.x_head_stride, p.y_row_stride = yrs, p.y_head_stride = c.y_head_stride;
  gpu::linear_batched_heads(ctx(), p, dx.get(), dw.view(), dy.get());

  std::vector<double> bound(want.size(), 0.0);  // 0 outside the outputs: must stay exactly 7
  for (int64_t s = 0; s < S; ++s)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t n = 0; n < N; ++n) {
        double a = 0;
        for (int64_t k = 0; k < K; ++k)
          a += std::fabs(double(x[s * xrs + h * c.x_head_stride + k]) * w.at(h * N + n, k));
        bound[s * yrs + h * c.y_head_stride + n] = 3 * gamma_n(K) * a;
      }
  EXPECT_TRUE(close_within(dy.download(ctx()), want, bound));
}

INSTANTIATE_TEST_SUITE_P(
    Cuda, LinearBatchedHeadsTest,
    ::testing::Values(
        // W_UKᵀ: q_nope (d_n 128) inside [d_qk 192] head slices, q̃ into [576]-wide head slices.
        BatchedCase{DType::F32, 16, 1, 512, 128, 192, 576}, BatchedCase{DType::F32, 16, 5, 512, 128, 192, 576},
        BatchedCase{DType::BF16, 16, 3, 512, 128, 192, 576},
        // W_UV: packed õ [H, r_kv] → packed [H, d_v]; odd sizes.
        BatchedCase{DType::F32, 8, 4, 128, 512, 512, 128}, BatchedCase{DType::BF16, 8, 1, 128, 512, 512, 128},
        BatchedCase{DType::F32, 3, 7, 33, 17, 20, 40}));

class LinearBatchedHeadsErrors : public test::GpuTest {};

TEST_F(LinearBatchedHeadsErrors, RejectsBadShapesAndDtypes) {
  std::vector<float> wf(size_t(4 * 8 * 16), 0.f);
  Weight w{DType::F32, 4 * 8, 16, wf.data()};
  gpu::WeightUpload dw(ctx(), w);
  gpu::DeviceArray<float> dx(size_t(2 * 4 * 16)), dy(size_t(2 * 4 * 8));
  gpu::BatchedHeadsParams p;
  p.heads = 4, p.rows = 2, p.n = 8, p.k = 16;
  p.x_row_stride = 64, p.x_head_stride = 16, p.y_row_stride = 32, p.y_head_stride = 8;
  EXPECT_NO_THROW(gpu::linear_batched_heads(ctx(), p, dx.get(), dw.view(), dy.get()));
  gpu::BatchedHeadsParams q = p;
  q.n = 16;  // weight rows ≠ heads·n
  EXPECT_THROW(gpu::linear_batched_heads(ctx(), q, dx.get(), dw.view(), dy.get()), Error);
  q = p;
  q.x_row_stride = 8;  // row shorter than k
  EXPECT_THROW(gpu::linear_batched_heads(ctx(), q, dx.get(), dw.view(), dy.get()), Error);
  std::vector<uint8_t> f8(wf.size(), 0);
  std::vector<float> scale(1, 1.f);
  Weight w8{DType::F8_E4M3, 4 * 8, 16, f8.data(), scale.data(), 1};
  gpu::WeightUpload dw8(ctx(), w8);
  EXPECT_THROW(gpu::linear_batched_heads(ctx(), p, dx.get(), dw8.view(), dy.get()), Error);
  gpu::synchronize(ctx());
}

}  // namespace
}  // namespace dsv32
