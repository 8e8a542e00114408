// Row movement kernels (variants: one each; all memory-bound). Each uses a 2-D grid: blockIdx.y
// walks rows (or row × head pairs), blockIdx.x × blockDim.x the columns, so a warp reads and
// writes 32 consecutive floats of one row. Row counts beyond gridDim.y's 65535 are walked by a
// grid-stride loop over y.
#include <algorithm>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/rows.h"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 128;
constexpr int64_t kMaxGridY = 65535;

dim3 grid_2d(int64_t rows, int64_t width) {
  return dim3(unsigned(detail::ceil_div(width, kThreads)), unsigned(std::min(rows, kMaxGridY)));
}

__global__ void copy_strided_kernel(StridedCopy p, const float* __restrict__ src, float* __restrict__ dst) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= p.width) return;
  for (int64_t rh = blockIdx.y; rh < p.rows * p.heads; rh += gridDim.y) {
    const int64_t r = rh / p.heads, h = rh % p.heads;
    dst[r * p.dst_row_stride + h * p.dst_head_stride + i] = src[r * p.src_row_stride + h * p.src_head_stride + i];
  }
}

__global__ void gather_kernel(const float* __restrict__ src, int64_t src_stride, const int32_t* __restrict__ index,
                              int64_t index_div, int64_t rows, int64_t width, float* __restrict__ dst) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= width) return;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    dst[r * width + i] = src[(int64_t(index[r]) / index_div) * src_stride + i];
}

__global__ void scatter_kernel(const float* __restrict__ src, int64_t rows, int64_t width,
                               const int32_t* __restrict__ index, float* __restrict__ dst, int64_t dst_stride) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= width) return;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) dst[int64_t(index[r]) * dst_stride + i] = src[r * width + i];
}

__global__ void moe_combine_kernel(const float* __restrict__ slots, const float* __restrict__ w, int64_t tokens,
                                   int64_t K, int64_t D, const int32_t* __restrict__ slot_rows, float* __restrict__ y) {
  const int64_t d = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (d >= D) return;
  for (int64_t s = blockIdx.y; s < tokens; s += gridDim.y) {
    float acc = 0.f;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t row = slot_rows ? int64_t(slot_rows[s * K + k]) : s * K + k;
      acc = __fadd_rn(acc, __fmul_rn(w[s * K + k], slots[row * D + d]));
    }
    y[s * D + d] = __fadd_rn(y[s * D + d], acc);
  }
}

}  // namespace

void copy_strided(Context& ctx, const StridedCopy& p, const float* src, float* dst) {
  if (p.rows <= 0 || p.heads <= 0 || p.width <= 0) return;
  copy_strided_kernel<<<grid_2d(p.rows * p.heads, p.width), kThreads, 0, ctx.stream>>>(p, src, dst);
  DSV32_CUDA_LAUNCH_CHECK("copy_strided");
}

void gather_rows(Context& ctx, const float* src, int64_t src_stride, const int32_t* index, int64_t index_div,
                 int64_t rows, int64_t width, float* dst) {
  if (rows <= 0 || width <= 0) return;
  if (index_div < 1) fail("gpu::gather_rows: index_div must be at least 1");
  gather_kernel<<<grid_2d(rows, width), kThreads, 0, ctx.stream>>>(src, src_stride, index, index_div, rows, width, dst);
  DSV32_CUDA_LAUNCH_CHECK("gather_rows");
}

void scatter_rows(Context& ctx, const float* src, int64_t rows, int64_t width, const int32_t* index, float* dst,
                  int64_t dst_stride) {
  if (rows <= 0 || width <= 0) return;
  scatter_kernel<<<grid_2d(rows, width), kThreads, 0, ctx.stream>>>(src, rows, width, index, dst, dst_stride);
  DSV32_CUDA_LAUNCH_CHECK("scatter_rows");
}

void moe_combine(Context& ctx, const float* slots, const float* weights, int64_t tokens, int64_t K, int64_t D,
                 float* y, const int32_t* slot_rows) {
  if (tokens <= 0 || D <= 0 || K <= 0) return;
  moe_combine_kernel<<<grid_2d(tokens, D), kThreads, 0, ctx.stream>>>(slots, weights, tokens, K, D, slot_rows, y);
  DSV32_CUDA_LAUNCH_CHECK("moe_combine");
}

}  // namespace dsv32::gpu
