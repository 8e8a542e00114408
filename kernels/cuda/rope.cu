// RoPE, in place. One thread per rotated pair: grid over rows × heads × dim/2.
//
// Variants: one. Both layouts share the kernel (the layout is a kernel argument; the branch is
// uniform across the grid). Memory-bound and tiny (q_rope: 128 heads × 32 pairs per token).
#include <vector>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/rope.h"

namespace dsv32::gpu {
namespace {

__global__ void rope_kernel(const float* __restrict__ cos_t, const float* __restrict__ sin_t,
                            int64_t half, bool interleaved, float* x, int64_t rows, int64_t x_stride,
                            int64_t heads, int64_t head_stride, int64_t pos0,
                            const int32_t* __restrict__ positions) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * heads * half) return;
  const int64_t j = i % half, h = (i / half) % heads, r = i / (half * heads);
  const int64_t t = positions ? int64_t(positions[r]) : pos0 + r;
  const float c = cos_t[t * half + j], s = sin_t[t * half + j];
  float* v = x + r * x_stride + h * head_stride;
  float* a = interleaved ? v + 2 * j : v + j;
  float* b = interleaved ? v + 2 * j + 1 : v + j + half;
  const float x0 = *a, x1 = *b;
  // __fmul_rn/__fadd_rn: no FMA contraction, the same two roundings per product as plain C++.
  *a = __fadd_rn(__fmul_rn(x0, c), -__fmul_rn(x1, s));
  *b = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
}

}  // namespace

RopeTableDevice::RopeTableDevice(Context& ctx, const RopeTable& table)
    : half_(int64_t(table.freqs().size())), max_pos_(table.max_pos()),
      cos_(size_t(half_ * max_pos_)), sin_(size_t(half_ * max_pos_)) {
  if (max_pos_ > 0) {
    copy_to_device(ctx, cos_.get(), table.cos_row(0), cos_.size() * sizeof(float));
    copy_to_device(ctx, sin_.get(), table.sin_row(0), sin_.size() * sizeof(float));
  }
}

void rope_apply(Context& ctx, const RopeTableDevice& table, RopeLayout layout, float* x, int64_t rows,
                int64_t x_stride, int64_t heads, int64_t head_stride, int64_t pos0,
                const int32_t* positions) {
  const int64_t n = rows * heads * table.half();
  if (n <= 0) return;
  constexpr int kThreads = 256;
  rope_kernel<<<unsigned(detail::ceil_div(n, kThreads)), kThreads, 0, ctx.stream>>>(
      table.cos(), table.sin(), table.half(), layout == RopeLayout::kInterleaved, x, rows, x_stride,
      heads, head_stride, pos0, positions);
  DSV32_CUDA_LAUNCH_CHECK("rope_apply");
}

}  // namespace dsv32::gpu
