// gpu::indexer_scores — the CUDA twin of kernels/cpu/indexer.h indexer_scores (SPEC §7.5), fused:
// no [heads × keys] intermediate is written anywhere.
//
//   for query s < n_queries and key u < n:
//     scores[s·scores_stride + u] = Σ_j w[s·H + j] · ReLU(q[s, j, :] · keys[u, :])
//   q      : fp32 [n_queries, H_I, d_I] device        w : fp32 [n_queries, H_I] device
//   keys   : fp32 [n, d_I] device (the indexer key cache, dequantized)
//   scores : fp32 [n_queries, scores_stride] device
//   !! exact fp32 profile (no FP8): the per-head dots and the head sum are in a different order
//      from the CPU op, so results agree to fp32 rounding, not bit for bit.
//   !! no causal mask: prefill callers mask key u > P + s themselves (or pass n per query later).
// Not yet: the FP8 profile (e4m3 q and k codes, k_scale per key, q_scale folded into w) on
// Hopper's fp8 tensor cores — see kernels/cuda/README.md.
#pragma once
#include <cstdint>

#include "kernels/cpu/indexer.h"
#include "kernels/cuda/context.h"

namespace dsv32::gpu {

void indexer_scores(Context& ctx, const IndexerParams& p, const float* q, const float* w, const float* keys,
                    int64_t n, float* scores, int64_t n_queries = 1, int64_t scores_stride = -1);

}  // namespace dsv32::gpu
