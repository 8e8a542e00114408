// Fast Walsh–Hadamard transform, one block per vector (variants: one, kBlockPerVector). The
// vector is staged in shared memory; each of the log2(n) passes has n/2 butterflies, thread t
// taking butterflies t, t + blockDim, … with a barrier between passes; the scale is applied on
// the way out. d_I = 128 for DeepSeek: 64 butterflies per pass, 7 passes.
#include <cmath>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/hadamard.h"
#include "kernels/error.h"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void hadamard_kernel(float* x, int64_t n, float scale) {
  extern __shared__ float v[];  // [n]
  float* row = x + int64_t(blockIdx.x) * n;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) v[i] = row[i];
  __syncthreads();
  for (int64_t h = 1; h < n; h *= 2) {
    // Butterfly b pairs j = (b / h)·2h + b % h with j + h: the CPU's (i, j) loop, reindexed.
    for (int64_t b = threadIdx.x; b < n / 2; b += blockDim.x) {
      const int64_t j = (b / h) * 2 * h + b % h;
      const float p = v[j], q = v[j + h];
      v[j] = __fadd_rn(p, q);
      v[j + h] = __fsub_rn(p, q);
    }
    __syncthreads();
  }
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) row[i] = __fmul_rn(v[i], scale);
}

}  // namespace

void hadamard_rotate(Context& ctx, float* x, int64_t count, int64_t n) {
  if (count <= 0) return;
  if (n < 1 || n > kHadamardMaxN || (n & (n - 1)))
    fail("gpu::hadamard_rotate: length " + std::to_string(n) + " is not a power of two <= 8192");
  const float scale = float(1.0 / std::sqrt(double(n)));
  hadamard_kernel<<<unsigned(count), kThreads, size_t(n) * sizeof(float), ctx.stream>>>(x, n, scale);
  DSV32_CUDA_LAUNCH_CHECK("hadamard_rotate");
}

}  // namespace dsv32::gpu
