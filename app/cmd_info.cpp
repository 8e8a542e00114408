// dsv32 info: a checkpoint's (or preset's) hyper-parameters, parameter counts and the KV-cache
// bytes per token of each mode — from config.json alone, so it works at the real V3.2 shapes
// without the 640 GB of weights.
#include <algorithm>
#include <cstdio>

#include "app/args.h"
#include "app/command.h"
#include "app/info_ranks.h"
#include "model/checked.h"
#include "model/config.h"
#include "kernels/error.h"
#include "model/model.h"
#include "model/parallel.h"
#include "model/synth.h"

namespace dsv32::app {
namespace {

// Parameters of the main model (no MTP), per MODEL §2.2. Checked arithmetic: config caps keep each
// dimension small, but their products over experts and layers can still pass int64.
int64_t param_count(const ModelConfig& c, int64_t* active) {
  const std::string w = c.source + ": parameter count";
  auto mul = [&](std::initializer_list<int64_t> f) { return checked_product(f, w); };
  auto add = [&](std::initializer_list<int64_t> t) {
    int64_t s = 0;
    for (int64_t x : t) s = checked_add(s, x, w);
    return s;
  };
  const int64_t D = c.hidden_size, H = c.n_heads;
  int64_t attn = add({mul({c.q_lora_rank, D}), c.q_lora_rank, mul({H, c.qk_head_dim(), c.q_lora_rank}),
                      mul({c.kv_lora_rank + c.qk_rope_head_dim, D}), c.kv_lora_rank,
                      mul({H, c.qk_nope_head_dim + c.v_head_dim, c.kv_lora_rank}), mul({D, H, c.v_head_dim}),
                      2 * D});
  if (c.has_indexer)
    attn = add({attn, mul({c.index_n_heads, c.index_head_dim, c.q_lora_rank}), mul({c.index_head_dim, D}),
                2 * c.index_head_dim, mul({c.index_n_heads, D})});
  const int64_t dense_ffn = mul({3, D, c.intermediate_size});
  const int64_t expert = mul({3, D, c.moe_intermediate_size});
  const int64_t router = add({mul({c.n_routed_experts, D}), c.n_routed_experts});
  int64_t total = add({mul({2, c.vocab_size, D}), D}), act = total;
  for (int l = 0; l < c.n_layers; ++l) {
    total = add({total, attn});
    act = add({act, attn});
    if (!c.is_moe_layer(l)) {
      total = add({total, dense_ffn});
      act = add({act, dense_ffn});
    } else {
      total = add({total, router, mul({expert, c.n_routed_experts + c.n_shared_experts})});
      act = add({act, router, mul({expert, c.n_experts_per_tok + c.n_shared_experts})});
    }
  }
  *active = act;
  return total;
}

int run(const std::vector<std::string>& args) {
  std::string model, preset;
  int layers = 0, ranks = 0, tp = 1, ep = 0;
  int64_t ctx = 4096;
  ArgParser p("info",
              "Show a model's shapes, parameter counts and KV-cache bytes per token for each mode.\n"
              "Reads only config.json, so --preset v32 reports the real DeepSeek V3.2 numbers.");
  p.add("--model", &model, "DIR", "checkpoint directory (reads DIR/config.json)");
  p.add("--preset", &preset, "NAME", "a synth preset instead: tiny | small | v32");
  p.add("--layers", &layers, "N", "with --preset: keep the first N layers");
  p.add("--ranks", &ranks, "N", "also show per-rank weight, KV-cache and activation bytes over N ranks");
  p.add("--tp", &tp, "T", "with --ranks: tensor-parallel degree (divides N; default 1)");
  p.add("--ep", &ep, "E", "with --ranks: expert-parallel degree (divides N; default N)");
  p.add("--ctx", &ctx, "N", "with --ranks: context length for the KV-cache column (default 4096)");
  if (!p.parse(args)) return 0;
  if (model.empty() == preset.empty()) fail("give exactly one of --model DIR or --preset NAME");
  ModelConfig c;
  if (!model.empty()) {
    c = load_config(model + "/config.json");
  } else {
    SynthOptions o;
    o.preset = preset;
    o.layers = layers;
    c = parse_config(synth_config_json(o), "preset " + preset);
  }
  int64_t active = 0, total = param_count(c, &active);
  std::printf("architecture  %s (%s)\n", c.architecture.c_str(), c.source.c_str());
  std::printf("layers        %d (%d dense, %d MoE), hidden %lld, heads %d, vocab %lld\n", c.n_layers,
              c.first_k_dense_replace, c.n_layers - c.first_k_dense_replace, (long long)c.hidden_size,
              c.n_heads, (long long)c.vocab_size);
  std::printf("MLA           q_lora %lld, kv_lora %lld, nope %lld, rope %lld, v %lld, softmax scale %.16g\n",
              (long long)c.q_lora_rank, (long long)c.kv_lora_rank, (long long)c.qk_nope_head_dim,
              (long long)c.qk_rope_head_dim, (long long)c.v_head_dim, c.softmax_scale());
  if (c.n_routed_experts)
    std::printf("MoE           %d experts (+%d shared), top-%d, %d groups keep %d, scale %g\n",
                c.n_routed_experts, c.n_shared_experts, c.n_experts_per_tok, c.n_group, c.topk_group,
                c.routed_scaling_factor);
  if (c.has_indexer)
    std::printf("indexer       %d heads x %lld, top-k %lld, rope %s\n", c.index_n_heads,
                (long long)c.index_head_dim, (long long)c.index_topk,
                c.indexer_rope_interleave ? "interleaved" : "rotate-half");
  std::printf("parameters    %.3f B total, %.3f B active per token (main model, no MTP)\n\n",
              double(total) / 1e9, double(active) / 1e9);
  std::printf("KV cache bytes per token (all %d layers)\n", c.n_layers);
  std::printf("%-8s %-10s %14s %14s %16s %16s\n", "attn", "mla", "MLA/layer", "indexer/layer",
              "dsv32 fp32", "deployed bf16/fp8");
  for (AttnMode a : {AttnMode::kDense, AttnMode::kSparse}) {
    if (a == AttnMode::kSparse && !c.has_indexer) continue;
    for (MlaMode m : {MlaMode::kNaive, MlaMode::kAbsorbed}) {
      KvBytes k = kv_cache_bytes(c, m, a);
      std::printf("%-8s %-10s %14lld %14lld %16lld %16lld\n", to_string(a), to_string(m),
                  (long long)k.mla_per_layer, (long long)k.indexer_per_layer, (long long)k.per_token,
                  (long long)k.deployed_per_token);
    }
  }
  std::printf("\ndeployed = REF-1 layout: absorbed bf16 latent+rope, naive bf16 per-head K/V, indexer "
              "e4m3 key + fp32 scale (MODEL §6.5, §7.7)\n");
  if (!p.given("--ranks") && (p.given("--ep") || p.given("--tp"))) ranks = std::max(tp, ep);
  if (ctx < 1) fail("--ctx: must be at least 1");
  if (ranks) print_ranks(c, ranks, tp, ep, ctx);
  return 0;
}

const Command kCmd{"info", "shapes, parameter counts, KV-cache bytes per token per mode", &run};

}  // namespace
}  // namespace dsv32::app
