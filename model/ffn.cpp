// Feed-forward blocks (SPEC §8): the dense SwiGLU MLP and the routed MoE with shared experts.
// Projections go through Impl::proj and rounding points through Impl::round (ref1.cpp): plain fp32
// in the exact profile, REF-1 fp8_gemm / bf16 under --numerics ref1. The router is fp32 in both.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/moe_route.h"
#include "model/model_impl.h"

namespace dsv32 {

// y[rows, D] = down(silu(gate x) ⊙ up x), x [rows, D]; intermediates in ws.g / ws.u.
void Model::Impl::swiglu(const MlpWeights& m, const float* x, int64_t rows, float* y) {
  const int64_t I = m.gate.rows;
  ws.g.resize(std::max<size_t>(ws.g.size(), rows * I));
  ws.u.resize(std::max<size_t>(ws.u.size(), rows * I));
  proj(x, rows, m.gate, ws.g.data());
  proj(x, rows, m.up, ws.u.data());
  for (int64_t i = 0; i < rows * I; ++i) {
    float g = ws.g[i];
    ws.g[i] = g / (1.f + std::exp(-g)) * ws.u[i];
  }
  round(ws.g.data(), rows * I);  // REF-1: bf16(SiLU(g)·u)
  proj(ws.g.data(), rows, m.down, y);
}

void Model::Impl::ffn_block(int layer, int64_t S, int64_t P) {
  const LayerWeights& L = w->layers[layer];
  const int64_t D = c.hidden_size;
  ws.ffn.resize(S * D);
  if (!L.is_moe) {
    swiglu(L.mlp, ws.x.data(), S, ws.ffn.data());
    emit("ffn_out", layer, P, {S, D}, ws.ffn.data());
    return;
  }

  // Router: logits = x·W_gateᵀ in fp32, then group-limited top-K selection per token.
  const int E = c.n_routed_experts, K = c.n_experts_per_tok;
  ws.rlogits.resize(S * E);
  ws.rselect.resize(S * E);
  ws.rids.resize(S * K);
  ws.rweights.resize(S * K);
  linear(pool, ws.x.data(), S, L.router, ws.rlogits.data());
  const MoeRouteParams rp{E, c.n_group, c.topk_group, K, c.scoring_sigmoid, c.norm_topk_prob,
                          c.routed_scaling_factor};
  const float* bias = L.router_bias.empty() ? nullptr : L.router_bias.data();
  const std::vector<int32_t>* pinned =
      pins && layer < int(pins->expert_ids.size()) && !pins->expert_ids[layer].empty()
          ? &pins->expert_ids[layer] : nullptr;
  for (int64_t s = 0; s < S; ++s) {
    int32_t* ids = &ws.rids[s * K];
    float* wts = &ws.rweights[s * K];
    moe_route(rp, &ws.rlogits[s * E], bias, ids, wts, &ws.rselect[s * E]);
    if (pinned) {
      // Take the expert set from the dump; weights still come from this run's router scores.
      const int32_t* row = pinned->data() + (P + s) * pins->experts_width;
      std::copy(row, row + K, ids);
      std::sort(ids, ids + K);
      moe_route_weights(rp, &ws.rlogits[s * E], ids, wts);
    }
  }
  emit("router_logits", layer, P, {S, E}, ws.rlogits.data());
  emit("router_scores", layer, P, {S, E}, ws.rselect.data());
  emit("expert_ids", layer, P, {S, K}, ws.rids.data(), DType::I32);
  emit("expert_weights", layer, P, {S, K}, ws.rweights.data());

  // Group (token, slot) pairs by expert, run each expert once on its gathered rows, and scatter
  // the outputs back to [S, K, D] slots. Rows are computed independently, so a token's output does
  // not depend on which other tokens share its expert.
  ws.expert_count.assign(E, 0);
  for (int64_t i = 0; i < S * K; ++i) ++ws.expert_count[ws.rids[i]];
  ws.expert_offset.resize(E + 1);
  ws.expert_offset[0] = 0;
  for (int e = 0; e < E; ++e) ws.expert_offset[e + 1] = ws.expert_offset[e] + ws.expert_count[e];
  ws.expert_rows.resize(S * K);
  {
    std::vector<int32_t>& fill = ws.expert_count;  // reuse as a cursor
    std::fill(fill.begin(), fill.end(), 0);
    for (int64_t i = 0; i < S * K; ++i) {
      int e = ws.rids[i];
      ws.expert_rows[ws.expert_offset[e] + fill[e]++] = int32_t(i);  // i = s·K + slot
    }
  }
  ws.xg.resize(S * K * D);
  ws.yg.resize(S * K * D);
  ws.slot_out.resize(S * K * D);
  for (int e = 0; e < E; ++e) {
    const int64_t n = ws.expert_offset[e + 1] - ws.expert_offset[e];
    if (n == 0) continue;
    const int32_t* rows = &ws.expert_rows[ws.expert_offset[e]];
    for (int64_t r = 0; r < n; ++r) std::memcpy(&ws.xg[r * D], &ws.x[(rows[r] / K) * D], D * 4);
    swiglu(L.experts[e], ws.xg.data(), n, ws.yg.data());
    for (int64_t r = 0; r < n; ++r) std::memcpy(&ws.slot_out[rows[r] * D], &ws.yg[r * D], D * 4);
  }
  // y = Σ_slots weight · expert_out (ascending expert id) + shared expert(x).
  if (L.has_shared) swiglu(L.shared, ws.x.data(), S, ws.ffn.data());
  else std::fill(ws.ffn.begin(), ws.ffn.begin() + S * D, 0.f);
  for (int64_t s = 0; s < S; ++s) {
    float* y = &ws.ffn[s * D];
    for (int64_t d = 0; d < D; ++d) {
      float acc = 0;
      for (int k = 0; k < K; ++k) acc += ws.rweights[s * K + k] * ws.slot_out[(s * K + k) * D + d];
      y[d] += acc;
    }
  }
  round(ws.ffn.data(), S * D);  // REF-1: the fp32 sum is stored as bf16
  emit("ffn_out", layer, P, {S, D}, ws.ffn.data());
}

}  // namespace dsv32
