// Private to kernels/cuda: the Context's layout, error checks and small device helpers.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "kernels/cuda/context.h"
#include "kernels/error.h"

namespace dsv32::gpu {

struct Context {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  cublasLtHandle_t blas_lt = nullptr;
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  void* blas_workspace = nullptr;  // cuBLAS workspace (set with cublasSetWorkspace)
  size_t blas_workspace_bytes = 0;
};

// A device buffer of at least `bytes`, valid for work enqueued on ctx.stream until the next call
// (stream order makes reuse safe: a later op's kernels run after an earlier op's).
void* scratch(Context& ctx, size_t bytes);

[[noreturn]] void throw_cuda(const char* what, cudaError_t e, const char* file, int line);
[[noreturn]] void throw_cublas(const char* what, cublasStatus_t s, const char* file, int line);

}  // namespace dsv32::gpu

#define DSV32_CUDA_CHECK(expr)                                                     \
  do {                                                                             \
    cudaError_t e_ = (expr);                                                       \
    if (e_ != cudaSuccess) ::dsv32::gpu::throw_cuda(#expr, e_, __FILE__, __LINE__); \
  } while (0)
// After a kernel launch: catches bad configurations (not asynchronous faults).
#define DSV32_CUDA_LAUNCH_CHECK(name) DSV32_CUDA_CHECK(cudaGetLastError())
#define DSV32_CUBLAS_CHECK(expr)                                                       \
  do {                                                                                 \
    cublasStatus_t s_ = (expr);                                                        \
    if (s_ != CUBLAS_STATUS_SUCCESS) ::dsv32::gpu::throw_cublas(#expr, s_, __FILE__, __LINE__); \
  } while (0)

namespace dsv32::gpu::detail {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum/max through shared memory; every thread gets the result. blockDim.x % 32 == 0,
// at most 1024 threads. `red` is caller-provided shared memory of 32 elements.
template <class T>
__device__ T block_sum(T v, T* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // red may still be read by a previous call
  if (lane == 0) red[warp] = v;
  __syncthreads();
  T s = lane < nw ? red[lane] : T(0);
  return warp_sum(s);
}
__device__ inline float block_max(float v, float* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float s = lane < nw ? red[lane] : -INFINITY;
  return warp_max(s);
}

}  // namespace dsv32::gpu::detail
