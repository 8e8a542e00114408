// LayerNorm, one block per row (variants: one, kBlockPerRow). 256 threads stride the row: a double
// sum for the mean, a second pass for the centred sum of squares (the CPU's two-pass formula),
// then the write. The indexer's rows are d_I = 128 floats: the block is mostly idle, and the op
// is negligible next to the projections around it.
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/layernorm.h"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void layernorm_kernel(const float* x, const float* __restrict__ w, const float* __restrict__ b,
                                 float* y, int64_t dim, double eps) {
  __shared__ double red[32];
  const float* xr = x + int64_t(blockIdx.x) * dim;
  float* yr = y + int64_t(blockIdx.x) * dim;
  double s = 0;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) s += double(xr[i]);
  const double mean = detail::block_sum(s, red) / double(dim);
  double v = 0;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const double d = double(xr[i]) - mean;
    v += d * d;
  }
  const double var = detail::block_sum(v, red) / double(dim);
  const double r = 1.0 / sqrt(var + eps);
  // Every read of the row happened before block_sum's barriers, so y may alias x.
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
    yr[i] = __fadd_rn(__fmul_rn(float((double(xr[i]) - mean) * r), w[i]), b[i]);
}

}  // namespace

void layernorm(Context& ctx, const NormParams& p, const float* x, const float* w, const float* b, float* y) {
  if (p.rows <= 0 || p.dim <= 0) return;
  layernorm_kernel<<<unsigned(p.rows), kThreads, 0, ctx.stream>>>(x, w, b, y, p.dim, p.eps);
  DSV32_CUDA_LAUNCH_CHECK("layernorm");
}

}  // namespace dsv32::gpu
