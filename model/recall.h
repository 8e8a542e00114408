// The lightning indexer's recall (MODEL §7.11): how much of the dense attention its top-k keeps.
//
// For query s of layer l with n = s + 1 visible keys, the dense attention's head-averaged
// distribution is p_s(u) = (1/H) Σ_h softmax_u(A[s, h, u]) (A: the scaled attention logits of
// MODEL §6.3; each head's row sums to 1, so p_s does too: the head-summed attention L1-normalised,
// the target the indexer is distilled towards). T_k(s) is the indexer's top-k set under the
// forward pass's own rule (kernels/cpu/indexer.h: score descending, ties to the lower position,
// NaN as −inf, k_eff = min(k, n)). recall_k(s) = Σ_{u ∈ T_k(s)} p_s(u) ∈ [0, 1], = 1 when k ≥ n.
// chunk_recall averages it over the queries of a chunk, per layer and per k.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"

namespace dsv32 {

// One query: logits [H, n] (row-major, the scaled attention logits of each head over keys
// 0..n-1), scores [n] (the indexer's). Adds recall_k to out[i] for each k = ks[i].
// scratch: reused between calls.
void add_query_recall(const double* logits, int64_t H, int64_t n, const float* scores, const std::vector<int64_t>& ks,
                      double* out, std::vector<int32_t>& scratch);

// The scaled attention logits A[s, h, u] = s_att · Q_h(s) · K_h(u) [H, n] of one query over keys
// u < n of `layer` (MODEL §6.3), in double, from its q_nope [H, d_n] and q_rope [H, d_r] rows as
// the forward pass reports them and K from the model's naive cache (sparse/naive or dense/naive).
void query_logits(Model& m, int layer, const float* q_nope, const float* q_rope, int64_t n, double* logits);

// Runs ids[0, S) at positions 0..S-1 and returns, per layer, Σ over queries s in [q0, S) of
// recall_k(s) for each k of ks ([layers][ks.size()]; divide by S - q0 for the mean). The model
// must be sparse/naive with index_topk >= S (so that attention is exactly dense, MODEL §7.8, and
// the naive cache holds every head's keys) in the exact profile; Error otherwise.
std::vector<std::vector<double>> chunk_recall(Model& m, const int32_t* ids, int64_t S, int64_t q0,
                                              const std::vector<int64_t>& ks);

}  // namespace dsv32
