// Elementwise ops of the forward pass on the GPU: the residual add, SwiGLU's gate, a scale.
//
//   add_inplace  : y[i] += x[i]                           y, x fp32 [n] device
//   swiglu_inplace: g[i] = silu(g[i]) · u[i]              g, u fp32 [n] device
//                   silu(g) = g / (1 + exp(−g)) exactly as the CPU writes it (model/ffn.cpp)
//   scale_inplace: x[i] *= s                              x fp32 [n] device
//   fill         : x[i] = value                           x fp32 [n] device
//   convert_to_bf16: dst[r·dst_stride + c] = bf16_rn(src[r·src_stride + c])   r < rows, c < cols
//                  src fp32, dst bf16 bits (uint16_t) device; round to nearest even (kernels/numeric.h).
//                  The one fp32 → bf16 conversion: bf16 latent/indexer cache rows, mla_decode's q,
//                  the bf16 GEMM inputs of linear and moe_experts.
//   !! add and scale are one fp32 rounding each, bit-identical to the CPU loop; swiglu uses CUDA's
//      expf (≤ 2 ulp, see the CUDA C Programming Guide's accuracy tables) where the CPU uses libm,
//      so it agrees to a few ulp, not bit for bit.
#pragma once
#include <cstdint>

#include "kernels/cuda/context.h"

namespace dsv32::gpu {

void add_inplace(Context& ctx, float* y, const float* x, int64_t n);
void swiglu_inplace(Context& ctx, float* g, const float* u, int64_t n);
void scale_inplace(Context& ctx, float* x, int64_t n, float s);
void fill(Context& ctx, float* x, int64_t n, float value);
void convert_to_bf16(Context& ctx, const float* src, int64_t rows, int64_t cols, int64_t src_stride,
                     uint16_t* dst, int64_t dst_stride);

}  // namespace dsv32::gpu
