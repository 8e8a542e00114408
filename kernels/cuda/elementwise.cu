// Elementwise kernels: one thread per element, grid-stride loop (memory-bound; no variants).
// __fadd_rn/__fmul_rn keep the add and the scale to the single rounding of the CPU loop.
#include <algorithm>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/elementwise.h"

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

}  // namespace dsv32::gpu
