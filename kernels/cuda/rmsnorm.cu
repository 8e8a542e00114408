// RMSNorm, one block per row.
//
// Variants: one (kBlockPerRow): 256 threads stride the row, double partial sums, block reduction,
// then a second pass over the (L1/L2-resident) row to scale. Memory-bound; DeepSeek rows are
// 7168 (hidden), 1536 (q latent) and 512 (kv latent) floats.
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/rmsnorm.h"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 256;

// x may alias y (the model normalises in place), so x is not __restrict__.
__global__ void rmsnorm_kernel(const float* x, const float* __restrict__ w,
                               float* y, int64_t dim, double eps) {
  __shared__ double red[32];
  const float* xr = x + int64_t(blockIdx.x) * dim;
  float* yr = y + int64_t(blockIdx.x) * dim;
  double ss = 0;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += double(xr[i]) * double(xr[i]);
  ss = detail::block_sum(ss, red);
  const float r = float(1.0 / sqrt(ss / double(dim) + eps));
  // All reads of the row happened before block_sum's barriers, so y may alias x.
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = w[i] * (xr[i] * r);
}

}  // namespace

void rmsnorm(Context& ctx, const NormParams& p, const float* x, const float* w, float* y) {
  if (p.rows <= 0 || p.dim <= 0) return;
  rmsnorm_kernel<<<unsigned(p.rows), kThreads, 0, ctx.stream>>>(x, w, y, p.dim, p.eps);
  DSV32_CUDA_LAUNCH_CHECK("rmsnorm");
}

}  // namespace dsv32::gpu
