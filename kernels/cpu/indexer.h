// Lightning-indexer scores and top-k selection (MODEL §7.5, §7.6), exact fp32 profile.
//
//   indexer_scores: for one query with per-head queries q [H_I, d_I] and head weights w [H_I]
//     (weights_proj(x)·H_I^-½·d_I^-½), and keys k(u) = keys + u·d_I for u < n:
//       scores[u] = Σ_j w[j] · ReLU(q[j]·k(u))          (fp32, heads summed in order)
//   indexer_topk: the positions of the k largest scores among scores[0, n), k_eff = min(k, n),
//     written ascending to out[0, k_eff); returns k_eff.
//     !! Ties: score descending, then the LOWER position wins (deterministic; documented in
//        verify/SCHEMA.md). NaN ranks as −inf (ties with it broken by position).
#pragma once
#include <cstdint>

namespace dsv32 {

struct IndexerParams {
  int64_t n_heads = 0, head_dim = 0;  // H_I, d_I
  int64_t topk = 0;                   // index_topk
};

void indexer_scores(const IndexerParams& p, const float* q, const float* w, const float* keys,
                    int64_t n, float* scores);

// indexer_scores_rows: `rows` queries over the same keys [0, n) — a block of prefill tokens, each
// cut later to its own visible prefix. Query r: q + r·q_stride [H_I, d_I], w + r·w_stride [H_I],
// scores + r·scores_stride [n]. The dots run as 4 heads × 4 keys tiles (vec::dot_tile) over blocks
// of 64 keys (32 KiB at d_I = 128) that all rows reuse from cache, and the ReLU-weighted head sum
// is fused into the tile loop (no [rows, H_I, n] buffer).
//   !! per score, the arithmetic and its order are exactly indexer_scores()' (dot() per head, then
//      s = 0, s += w[j]·ReLU(d_j) for j ascending), so the results are bit-identical to it.
void indexer_scores_rows(const IndexerParams& p, int64_t rows, const float* q, int64_t q_stride, const float* w,
                         int64_t w_stride, const float* keys, int64_t n, float* scores, int64_t scores_stride);

// scratch: at least n int32.
int64_t indexer_topk(const float* scores, int64_t n, int64_t k, int32_t* scratch, int32_t* out);

}  // namespace dsv32
