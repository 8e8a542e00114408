// gpu::rmsnorm — the CUDA twin of kernels/cpu/norm.h rmsnorm (MODEL §4.1).
//
//   x, y : fp32 [rows, dim] device, row-major, contiguous; y may alias x
//   w    : fp32 [dim] device
//   y[m, :] = w ⊙ x[m, :] · (mean(x[m, :]²) + eps)^-½
//   !! the sum of squares is accumulated in double, as on the CPU, so the only difference from
//      the CPU op is the order of the double additions (far below fp32 resolution).
#pragma once
#include "kernels/cpu/norm.h"
#include "kernels/cuda/context.h"

namespace dsv32::gpu {

void rmsnorm(Context& ctx, const NormParams& p, const float* x, const float* w, float* y);

}  // namespace dsv32::gpu
