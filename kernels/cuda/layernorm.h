// gpu::layernorm — the CUDA twin of kernels/cpu/norm.h layernorm (MODEL §4.2; the indexer's k_norm).
//
//   x, y : fp32 [rows, dim] device, contiguous; y may alias x
//   w, b : fp32 [dim] device
//   y[m, i] = float((x[m, i] − mean) · (var + eps)^-½) · w[i] + b[i]   (population variance)
//   !! mean and variance are accumulated in double, as on the CPU, and the per-element formula
//      is the CPU's (the normalised value is formed in double, rounded once, then w and b applied
//      in fp32 with no FMA contraction). Differences: the order of the double sums (far below fp32
//      resolution) and the host compiler's freedom to fuse ·w + b into one FMA (one rounding).
#pragma once
#include "kernels/cpu/norm.h"
#include "kernels/cuda/context.h"

namespace dsv32::gpu {

void layernorm(Context& ctx, const NormParams& p, const float* x, const float* w, const float* b, float* y);

}  // namespace dsv32::gpu
