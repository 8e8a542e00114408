// Feed-forward blocks (docs/MODEL.md §8): the dense SwiGLU MLP, and the MoE — router, then the
// routed experts, shared expert and weighted combine in one backend op (Ops::moe_experts). The
// router GEMM is fp32 in every CPU profile (Point::kAuxProj).
#include <algorithm>

#include "kernels/error.h"
#include "model/layer_program.h"

namespace dsv32 {

void LayerProgram::ffn_block(int layer, int64_t S, int64_t P) {
  const LayerWeights& L = w_->layers[layer];
  const int64_t D = c_.hidden_size;
  Workspace& ws = ws_;
  const MlpRules rules{prof_.rule(Point::kProj), prof_.rule(Point::kSwigluMid).out};
  if (!L.is_moe) {
    ops_->mlp(rules, tp_[layer].mlp, ws.x.f(), S, ws.ffn.f());  // under TP: this rank's columns, reduced
    tp_reduce(ws.ffn.f(), S * D);
    emit("ffn_out", layer, P, {S, D}, ws.ffn.p);
    return;
  }
  route(layer, S, P);
  MoeCall m;
  m.tokens = S, m.hidden = D, m.top_k = c_.n_experts_per_tok;
  m.experts = L.experts.data(), m.n_experts = int64_t(L.experts.size());
  m.shared = L.has_shared ? &tp_[layer].shared : nullptr;  // under TP a slice, reduced in moe_experts
  m.rules = rules;
  m.sum = prof_.rule(Point::kMoeSum).out;
  ops_->moe_experts(m, ws.x.f(), ws.rids.i(), rids_host_.data(), ws.rweights.f(), ws.ffn.f());
  emit("ffn_out", layer, P, {S, D}, ws.ffn.p);
}

// Router: logits = x·W_gateᵀ, then group-limited top-K per token. The ids come to the host (the
// MoE op sizes its grouped GEMMs from them). Pinned ids replace the computed ones; their weights
// are recomputed from this run's router logits.
void LayerProgram::route(int layer, int64_t S, int64_t P) {
  const LayerWeights& L = w_->layers[layer];
  const int E = c_.n_routed_experts, K = c_.n_experts_per_tok;
  Workspace& ws = ws_;
  proj(Point::kAuxProj, ws.x.f(), S, L.router, ws.rlogits.f());
  const MoeRouteParams rp{E, c_.n_group, c_.topk_group, K, c_.scoring_sigmoid, c_.norm_topk_prob,
                          c_.routed_scaling_factor};
  ops_->moe_route(rp, S, ws.rlogits.f(), L.router_bias, ws.rids.i(), ws.rweights.f(), ws.rselect.f());
  rids_host_.resize(size_t(S * K));
  if (const std::vector<int32_t>* rows = pins_ ? pinned(pins_->expert_ids, layer) : nullptr) {
    host_f2_.resize(size_t(S * E));
    host_f_.resize(size_t(S * K));
    ops_->to_host(host_f2_.data(), ws.rlogits.p, size_t(S * E) * 4);
    for (int64_t s = 0; s < S; ++s) {
      int32_t* ids = &rids_host_[s * K];
      const int32_t* row = rows->data() + (P + s) * pins_->experts_width;
      for (int k = 0; k < K; ++k) {
        // The pin file is untrusted: an id outside [0, E) would index the router's arrays.
        if (row[k] < 0 || row[k] >= E)
          fail(pins_->source + ": expert_ids of layer " + std::to_string(layer) + " at position " +
               std::to_string(P + s) + " holds " + std::to_string(row[k]) + ", outside [0, " + std::to_string(E) + ")");
        ids[k] = row[k];
      }
      std::sort(ids, ids + K);
      moe_route_weights(rp, &host_f2_[s * E], ids, &host_f_[s * K]);
    }
    ops_->to_device(ws.rids.p, rids_host_.data(), size_t(S * K) * 4);
    ops_->to_device(ws.rweights.p, host_f_.data(), size_t(S * K) * 4);
  } else {
    ops_->to_host(rids_host_.data(), ws.rids.p, size_t(S * K) * 4);
  }
  emit("router_logits", layer, P, {S, E}, ws.rlogits.p);
  emit("router_scores", layer, P, {S, E}, ws.rselect.p);
  emit("expert_ids", layer, P, {S, K}, ws.rids.p, DType::I32);
  emit("expert_weights", layer, P, {S, K}, ws.rweights.p);
}

}  // namespace dsv32
