// dsv32 info --ranks N --tp T --ep E: what each rank holds under RankLayout (model/parallel.h)
// at the config's shapes, from config.json alone, so a cluster can be planned before a byte of
// the checkpoint is read. Weights in the deployed storage (FP8 e4m3 matrices + fp32 block scales,
// bf16 embedding and LM head); KV cache and activations in this harness's fp32 layout.
#include "app/info_ranks.h"

#include <cstdio>
#include <string>

#include "kernels/error.h"
#include "model/checked.h"
#include "model/model.h"
#include "model/parallel.h"

namespace dsv32::app {
namespace {

// Checked size arithmetic (model/checked.h): the config parser caps every dimension, but their
// products over experts and layers can pass int64 and would print wrapped sizes.
struct Sizes {
  std::string where;
  int64_t mul(std::initializer_list<int64_t> f) const { return checked_product(f, where); }
  int64_t add(std::initializer_list<int64_t> t) const { return checked_sum(t, where); }
  // One FP8 matrix [rows, cols] as V3.2 stores it: e4m3 codes plus fp32 B×B block scales.
  int64_t fp8(int64_t rows, int64_t cols, int64_t B) const {
    return add({mul({rows, cols}), mul({(rows + B - 1) / B, (cols + B - 1) / B, 4})});
  }
};

// Bytes of one rank, split by what divides them.
struct RankBytes {
  int64_t replicated = 0;  // embedding, LM head, norms, q_a, kv_a, indexer, router
  int64_t tp_split = 0;    // q_b, kv_b, o_proj, dense MLP, shared expert: this TP rank's share
  int64_t experts = 0;     // routed experts of this EP rank's block
  int64_t total() const { return replicated + tp_split + experts; }  // each checked; see rank_bytes
};

RankBytes rank_bytes(const ModelConfig& c, int tp, int tp_rank, int ep, int ep_rank) {
  const Sizes z{c.source + ": per-rank weight bytes"};
  const int64_t B = c.quant_block > 0 ? c.quant_block : 128, D = c.hidden_size, dqk = c.qk_head_dim();
  const int64_t kvw = c.qk_nope_head_dim + c.v_head_dim, dv = c.v_head_dim;
  const auto [h0, h1] = split_range(c.n_heads, 1, tp, tp_rank);
  const int64_t hl = h1 - h0;
  auto mlp_slice = [&](int64_t I) {
    const auto [i0, i1] = split_range(I, B, tp, tp_rank);
    return z.add({z.fp8(i1 - i0, D, B), z.fp8(i1 - i0, D, B), z.fp8(D, i1 - i0, B)});
  };
  RankBytes r;
  r.replicated = z.add({z.mul({2, c.vocab_size, D, 2}), z.mul({D, 4})});  // bf16 embedding + LM head, final norm
  for (int l = 0; l < c.n_layers; ++l) {
    r.replicated = z.add({r.replicated, z.fp8(c.q_lora_rank, D, B), z.fp8(c.kv_lora_rank + c.qk_rope_head_dim, D, B),
                          z.mul({z.add({2 * D, c.q_lora_rank, c.kv_lora_rank}), 4})});
    if (c.has_indexer)
      r.replicated = z.add({r.replicated, z.fp8(z.mul({c.index_n_heads, c.index_head_dim}), c.q_lora_rank, B),
                            z.fp8(c.index_head_dim, D, B), z.mul({c.index_n_heads, D, 2}), z.mul({2, c.index_head_dim, 4})});
    r.tp_split = z.add({r.tp_split, z.fp8(z.mul({hl, dqk}), c.q_lora_rank, B), z.fp8(z.mul({hl, kvw}), c.kv_lora_rank, B),
                        z.fp8(D, z.mul({hl, dv}), B)});
    if (!c.is_moe_layer(l)) {
      r.tp_split = z.add({r.tp_split, mlp_slice(c.intermediate_size)});
      continue;
    }
    r.replicated = z.add({r.replicated, z.mul({c.n_routed_experts, D, 2}), z.mul({c.n_routed_experts, 4})});  // bf16 router + bias
    if (c.n_shared_experts) r.tp_split = z.add({r.tp_split, mlp_slice(z.mul({c.moe_intermediate_size, c.n_shared_experts}))});
    const auto [lo, hi] = expert_block(c.n_routed_experts, ep, ep_rank);
    const int64_t expert = z.add({z.fp8(c.moe_intermediate_size, D, B), z.fp8(c.moe_intermediate_size, D, B),
                                  z.fp8(D, c.moe_intermediate_size, B)});
    r.experts = z.add({r.experts, z.mul({hi - lo, expert})});
  }
  z.add({r.replicated, r.tp_split, r.experts});  // total() then fits
  return r;
}

// fp32 KV-cache bytes per token per rank: naive K/V hold this rank's heads, the latent and the
// indexer key are replicated (MQA: every head reads them).
int64_t cache_per_token(const ModelConfig& c, MlaMode mla, AttnMode attn, int64_t hl) {
  const Sizes z{c.source + ": per-rank KV-cache bytes"};
  const KvBytes k = kv_cache_bytes(c, mla, attn);
  const int64_t mla_b = mla == MlaMode::kNaive ? z.mul({k.mla_per_layer / c.n_heads, hl}) : k.mla_per_layer;
  return z.mul({z.add({mla_b, k.indexer_per_layer}), c.n_layers});
}

// fp32 activation bytes per prefill token on one rank (the workspace of model/layer_program.cpp
// reserve(), absorbed + sparse, without dumps): hidden-sized buffers, this rank's per-head
// buffers, the indexer, router and logits rows, the TP gather [T, D], and the MoE scratch (K
// grouped rows of D in and out, the same in slot order, and the intermediate of width I).
int64_t activations_per_token(const ModelConfig& c, int tp, int64_t hl) {
  const Sizes z{c.source + ": per-rank activation bytes"};
  const int64_t D = c.hidden_size, lat = c.kv_lora_rank + c.qk_rope_head_dim, K = c.n_experts_per_tok;
  int64_t f = z.add({z.mul({4, D}), c.q_lora_rank, z.mul({hl, c.qk_head_dim()}), lat, z.mul({hl, c.v_head_dim}),
                     z.mul({hl, lat}), z.mul({hl, c.kv_lora_rank})});
  if (c.has_indexer)
    f = z.add({f, z.mul({c.index_n_heads, c.index_head_dim}), c.index_head_dim, c.index_n_heads, c.index_topk, 1});
  f = z.add({f, z.mul({2, c.n_routed_experts}), z.mul({2, K}), c.vocab_size});
  if (tp > 1) f = z.add({f, z.mul({tp, D})});
  if (c.n_routed_experts) f = z.add({f, z.mul({3, K, D}), z.mul({2, c.moe_intermediate_size})});
  return z.mul({f, 4});
}

}  // namespace

void print_ranks(const ModelConfig& c, int ranks, int tp, int ep, int64_t ctx) {
  if (ranks < 1) fail("--ranks: must be at least 1");
  const RankLayout l = rank_layout({0, ranks}, tp, ep);
  if (l.tp > c.n_heads)
    fail("--tp " + std::to_string(l.tp) + " exceeds num_attention_heads " + std::to_string(c.n_heads) + " (" +
         c.source + ")");
  if (c.n_routed_experts && l.ep > c.n_routed_experts)
    fail("--ep " + std::to_string(l.ep) + " exceeds n_routed_experts " + std::to_string(c.n_routed_experts) + " (" +
         c.source + ")");
  const double gib = double(1 << 30);
  std::printf("\nranks %d: tensor-parallel %d (heads, dense MLP and shared-expert columns), expert-parallel %d "
              "(routed experts); rank r is TP rank r mod %d, EP rank r mod %d\n",
              ranks, l.tp, l.ep, l.tp, l.ep);
  std::printf("%5s %6s %9s %13s %13s %13s %13s %14s %14s %14s\n", "rank", "heads", "experts", "replicated",
              "tp-split", "experts", "weights", "KV/token", "KV@ctx", "act/token");
  std::printf("%5s %6s %9s %13s %13s %13s %13s %14s %14s %14s\n", "", "", "", "GiB", "GiB", "GiB", "GiB",
              "bytes", "GiB", "bytes");
  RankBytes tp_sum, ep_sum;
  for (int r = 0; r < ranks; ++r) {
    const int tr = r % l.tp, er = r % l.ep;
    const RankBytes b = rank_bytes(c, l.tp, tr, l.ep, er);
    const auto [h0, h1] = split_range(c.n_heads, 1, l.tp, tr);
    const auto [lo, hi] = expert_block(c.n_routed_experts, l.ep, er);
    if (r < l.tp) tp_sum.tp_split += b.tp_split;
    if (r < l.ep) ep_sum.experts += b.experts;
    // The mode whose cache TP divides: naive (per-head K/V) and sparse (with its indexer key).
    const int64_t kv = cache_per_token(c, MlaMode::kNaive, c.has_indexer ? AttnMode::kSparse : AttnMode::kDense, h1 - h0);
    char ex[32];
    std::snprintf(ex, sizeof ex, "%lld-%lld", (long long)lo, (long long)hi - 1);
    std::printf("%5d %2lld-%-3lld %9s %13.3f %13.3f %13.3f %13.3f %14lld %14.3f %14lld\n", r, (long long)h0,
                (long long)h1 - 1, c.n_routed_experts ? ex : "-", b.replicated / gib, b.tp_split / gib,
                b.experts / gib, b.total() / gib, (long long)kv, double(kv) * ctx / gib,
                (long long)activations_per_token(c, l.tp, h1 - h0));
  }
  const RankBytes one = rank_bytes(c, 1, 0, 1, 0);
  std::printf("check: tp-split bytes summed over a TP group %lld, one process %lld; routed-expert bytes summed over "
              "an EP group %lld, one process %lld\n",
              (long long)tp_sum.tp_split, (long long)one.tp_split, (long long)ep_sum.experts,
              (long long)one.experts);
  std::printf("KV: naive MLA%s, fp32 (absorbed: %lld bytes/token on every rank: the latent is shared by all heads); "
              "KV@ctx at --ctx %lld\n",
              c.has_indexer ? " + indexer key" : "",
              (long long)cache_per_token(c, MlaMode::kAbsorbed, c.has_indexer ? AttnMode::kSparse : AttnMode::kDense, 1),
              (long long)ctx);
  int moe_layers = 0;
  for (int i = 0; i < c.n_layers; ++i) moe_layers += c.is_moe_layer(i);
  const int64_t D = c.hidden_size, K = c.n_experts_per_tok;
  std::printf("communication: EP exchange K·D·4 = %lld bytes per token per MoE layer (over %d MoE layers: %.2f MiB "
              "per token), each EP rank receiving (E-1)/E of it; TP gathers (T-1)·D·4 = %lld bytes received per rank "
              "per token per reduction, %d reductions per layer (o_proj; MLP or shared expert): %.2f MiB per token\n",
              (long long)(K * D * 4), moe_layers, double(K * D * 4) * moe_layers / (1 << 20),
              (long long)((l.tp - 1) * D * 4), 2, double((l.tp - 1) * D * 4) * 2 * c.n_layers / (1 << 20));
}

}  // namespace dsv32::app
