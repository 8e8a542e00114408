// gpu::moe_route — the CUDA twin of kernels/cpu/moe_route.h moe_route (MODEL §8.2), for T tokens.
//
//   logits : fp32 [T, E] device          bias : fp32 [E] device or nullptr
//   ids    : int32 [T, K] device, ascending per token
//   weights: fp32 [T, K] device, aligned with ids
//   select : fp32 [T, E] device, σ + bias with −inf for experts of dropped groups
//   !! Ties as on the CPU: equal group scores → lower group wins; equal z → lower expert id wins.
//   !! σ uses CUDA's expf (≤ 2 ulp) where the CPU uses the host libm: σ, select and weights agree
//      to a few fp32 ulp, and the chosen set agrees except at near-ties of that size.
#pragma once
#include <cstdint>

#include "kernels/cpu/moe_route.h"
#include "kernels/cuda/context.h"

namespace dsv32::gpu {

void moe_route(Context& ctx, const MoeRouteParams& p, int64_t tokens, const float* logits, const float* bias,
               int32_t* ids, float* weights, float* select);

}  // namespace dsv32::gpu
