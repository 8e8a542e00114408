// Elementwise kernels: one thread per element, grid-stride loop (memory-bound; no variants).
// __fadd_rn/__fmul_rn keep the add and the scale to the single rounding of the CPU loop.
#include <algorithm>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/mma.cuh"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t n) { return unsigned(std::min<int64_t>(detail::ceil_div(n, kThreads), 65535 * 8)); }

__global__ void add_kernel(float* __restrict__ y, const float* __restrict__ x, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __fadd_rn(y[i], x[i]);
}

__global__ void swiglu_kernel(float* __restrict__ g, const float* __restrict__ u, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float a = g[i];
    g[i] = __fmul_rn(__fdiv_rn(a, __fadd_rn(1.f, expf(-a))), u[i]);
  }
}

__global__ void scale_kernel(float* __restrict__ x, int64_t n, float s) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x[i] = __fmul_rn(x[i], s);
}

__global__ void fill_kernel(float* __restrict__ x, int64_t n, float value) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x[i] = value;
}

__global__ void convert_to_bf16_kernel(const float* __restrict__ src, int64_t rows, int64_t cols, int64_t src_stride,
                                       uint16_t* __restrict__ dst, int64_t dst_stride) {
  const int64_t total = rows * cols;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / cols, c = i % cols;
    dst[r * dst_stride + c] = detail::bf16_bits(src[r * src_stride + c]);
  }
}

}  // namespace

void add_inplace(Context& ctx, float* y, const float* x, int64_t n) {
  if (n <= 0) return;
  add_kernel<<<grid_for(n), kThreads, 0, ctx.stream>>>(y, x, n);
  DSV32_CUDA_LAUNCH_CHECK("add_inplace");
}

void swiglu_inplace(Context& ctx, float* g, const float* u, int64_t n) {
  if (n <= 0) return;
  swiglu_kernel<<<grid_for(n), kThreads, 0, ctx.stream>>>(g, u, n);
  DSV32_CUDA_LAUNCH_CHECK("swiglu_inplace");
}

void scale_inplace(Context& ctx, float* x, int64_t n, float s) {
  if (n <= 0) return;
  scale_kernel<<<grid_for(n), kThreads, 0, ctx.stream>>>(x, n, s);
  DSV32_CUDA_LAUNCH_CHECK("scale_inplace");
}

void fill(Context& ctx, float* x, int64_t n, float value) {
  if (n <= 0) return;
  fill_kernel<<<grid_for(n), kThreads, 0, ctx.stream>>>(x, n, value);
  DSV32_CUDA_LAUNCH_CHECK("fill");
}

void convert_to_bf16(Context& ctx, const float* src, int64_t rows, int64_t cols, int64_t src_stride, uint16_t* dst,
                     int64_t dst_stride) {
  if (rows <= 0 || cols <= 0) return;
  if (src_stride < cols || dst_stride < cols) fail("gpu::convert_to_bf16: a stride is smaller than cols");
  convert_to_bf16_kernel<<<grid_for(rows * cols), kThreads, 0, ctx.stream>>>(src, rows, cols, src_stride, dst, dst_stride);
  DSV32_CUDA_LAUNCH_CHECK("convert_to_bf16");
}

}  // namespace dsv32::gpu
