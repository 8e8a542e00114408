// gpu::indexer_scores — the CUDA twin of kernels/cpu/indexer.h indexer_scores (MODEL §7.5), fused:
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
//
// gpu::indexer_scores_bf16 — the decode-oriented variant over a bf16 key cache (MODEL §7.2 rounds
// q and k to bf16 after the Hadamard anyway): same formula and arguments, but
//   keys : bf16 [n, d_I] device (uint16_t bits, 16-byte aligned rows: d_I % 16 == 0, d_I ≤ 256)
//   q    : fp32, rounded to bf16 in the kernel; H_I ≤ 64 (padded with zero heads to 16/32/64)
//   !! q·k on bf16 tensor cores (exact products, fp32 accumulation); ReLU, w and the head sum fp32.
//   Streams the keys once at 2 B/element: 128K keys × 128 = 32 MiB, ~11 µs at 3 TB/s.
// Not yet: the FP8 profile (e4m3 q and k codes, k_scale per key, q_scale folded into w) on
// Hopper's fp8 tensor cores — see kernels/cuda/README.md.
#pragma once
#include <cstdint>

#include "kernels/cpu/indexer.h"
#include "kernels/cuda/context.h"

namespace dsv32::gpu {

void indexer_scores(Context& ctx, const IndexerParams& p, const float* q, const float* w, const float* keys,
                    int64_t n, float* scores, int64_t n_queries = 1, int64_t scores_stride = -1);

void indexer_scores_bf16(Context& ctx, const IndexerParams& p, const float* q, const float* w,
                         const uint16_t* keys_bf16, int64_t n, float* scores, int64_t n_queries = 1,
                         int64_t scores_stride = -1);

}  // namespace dsv32::gpu
