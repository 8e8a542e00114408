// docs/MODEL.md §5.5: the formulas, term by term. FLOPs = 2 × multiply-adds; norms, RoPE, softmax,
// SwiGLU and the routing arithmetic are O(D) per token and left out.
#include "app/bench_cost.h"

#include <algorithm>

namespace dsv32::app {

double projection_macs(const ModelConfig& c, AttnMode attn) {
  const double D = double(c.hidden_size), H = c.n_heads, rq = double(c.q_lora_rank), rkv = double(c.kv_lora_rank);
  const double dn = double(c.qk_nope_head_dim), dr = double(c.qk_rope_head_dim), dv = double(c.v_head_dim);
  // q_a, q_b, kv_a, kv_b (naive: the new latent's up-projection; absorbed: W_UKᵀ on the query and
  // W_UV on the latent output, the same count), o_proj.
  double per_layer = D * rq + rq * H * (dn + dr) + D * (rkv + dr) + rkv * H * (dn + dv) + H * dv * D;
  if (attn == AttnMode::kSparse && c.has_indexer)  // wq_b, wk, weights_proj
    per_layer += rq * c.index_n_heads * double(c.index_head_dim) + D * double(c.index_head_dim) + D * c.index_n_heads;
  double macs = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    macs += per_layer;
    if (!c.is_moe_layer(l)) macs += 3 * D * double(c.intermediate_size);
    else macs += D * c.n_routed_experts +  // router
                 double(c.n_experts_per_tok + c.n_shared_experts) * 3 * D * double(c.moe_intermediate_size);
  }
  return macs;
}

double attention_macs(const ModelConfig& c, AttnMode attn, MlaMode mla, int64_t t) {
  const double H = c.n_heads, rkv = double(c.kv_lora_rank), dr = double(c.qk_rope_head_dim);
  const double n = double(t + 1);
  const bool sparse = attn == AttnMode::kSparse && c.has_indexer;
  const double m = sparse ? std::min(n, double(c.index_topk)) : n;
  const double per_key = mla == MlaMode::kNaive ? H * double(c.qk_head_dim() + c.v_head_dim)  // q·K_h, P·V_h
                                                : H * (rkv + dr + rkv);                      // q̃·[c;k_r], P·c
  double per_layer = per_key * m;
  if (sparse) per_layer += double(c.index_n_heads) * double(c.index_head_dim) * n;  // indexer scores
  return per_layer * c.n_layers;
}

double token_weight_bytes(const ModelWeights& w, AttnMode attn, MlaMode mla, bool with_head) {
  const ModelConfig& c = w.config;
  auto mlp = [](const MlpWeights& m) { return double(m.gate.bytes() + m.up.bytes() + m.down.bytes()); };
  double b = with_head ? double(w.lm_head.bytes()) : 0.0;
  for (const LayerWeights& L : w.layers) {
    b += double(L.q_a.bytes() + L.q_b.bytes() + L.kv_a.bytes() + L.o.bytes());
    if (mla == MlaMode::kNaive) {
      b += double(L.kv_b.bytes());
    } else {
      // Absorbed (exact profile): W_UKᵀ is an fp32 copy made at load, [H, r_kv, d_n]
      // (model/layer_program.cpp); W_UV is kv_b's own d_v rows of each head.
      const double dn = double(c.qk_nope_head_dim), dv = double(c.v_head_dim);
      b += double(c.n_heads) * double(c.kv_lora_rank) * dn * 4 + double(L.kv_b.bytes()) * dv / (dn + dv);
    }
    if (attn == AttnMode::kSparse && L.has_indexer)
      b += double(L.indexer.wq_b.bytes() + L.indexer.wk.bytes() + L.indexer.weights_proj.bytes());
    if (!L.is_moe) { b += mlp(L.mlp); continue; }
    b += double(L.router.bytes()) + (L.experts.empty() ? 0.0 : c.n_experts_per_tok * mlp(L.experts[0]));
    if (L.has_shared) b += mlp(L.shared);
  }
  return b;
}

TokenCost token_cost(const ModelWeights& w, AttnMode attn, MlaMode mla, int64_t depth, int64_t n, bool with_head) {
  const ModelConfig& c = w.config;
  double att = 0;
  for (int64_t t = depth; t < depth + n; ++t) att += attention_macs(c, attn, mla, t);
  const double head = with_head ? double(c.vocab_size) * double(c.hidden_size) : 0.0;
  TokenCost tc;
  tc.flops = 2 * (projection_macs(c, attn) + head + att / double(std::max<int64_t>(n, 1)));
  tc.weight_bytes = token_weight_bytes(w, attn, mla, with_head);
  return tc;
}

}  // namespace dsv32::app
