// dsv32 info: a checkpoint's (or preset's) hyper-parameters, parameter counts and the KV-cache
// bytes per token of each mode — from config.json alone, so it works at the real V3.2 shapes
// without the 640 GB of weights.
#include <cstdio>

#include "app/args.h"
#include "app/command.h"
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

// One FP8 matrix [rows, cols] as V3.2 stores it: e4m3 codes plus fp32 128×128 block scales.
int64_t fp8_matrix_bytes(int64_t rows, int64_t cols, int64_t block) {
  return rows * cols + ((rows + block - 1) / block) * ((cols + block - 1) / block) * 4;
}

// --ranks N: what each expert-parallel rank holds (model/parallel.h: contiguous expert blocks,
// everything else replicated) and what the expert exchange moves, at the config's shapes with the
// deployed storage (FP8 matrices with block scales; embedding and LM head bf16).
void print_ranks(const ModelConfig& c, int ranks, int64_t total_params) {
  const int64_t D = c.hidden_size, E = c.n_routed_experts, B = c.quant_block > 0 ? c.quant_block : 128;
  if (ranks < 1) fail("--ranks: must be at least 1");
  if (E == 0) fail(c.source + ": n_routed_experts: 0 (a dense model has no experts to split)");
  if (ranks > E)
    fail("--ranks: " + std::to_string(ranks) + " exceeds n_routed_experts " + std::to_string(E) + " (" + c.source + ")");
  const int64_t I = c.moe_intermediate_size;
  const int64_t expert = 2 * fp8_matrix_bytes(I, D, B) + fp8_matrix_bytes(D, I, B);
  int moe_layers = 0;
  for (int l = 0; l < c.n_layers; ++l) moe_layers += c.is_moe_layer(l);
  const int64_t routed_params = int64_t(moe_layers) * E * 3 * I * D, vd = 2 * c.vocab_size * D;
  // Replicated: every other parameter, ~1 byte (FP8) except the bf16 embedding and LM head.
  const int64_t replicated = (total_params - routed_params - vd) + 2 * vd;
  const double gib = double(1 << 30);
  std::printf("\nexpert parallelism over %d ranks (--parallel ep; contiguous expert blocks, the rest replicated)\n", ranks);
  std::printf("%6s %10s %18s %18s %18s\n", "rank", "experts", "routed expert GiB", "replicated GiB", "weights GiB");
  for (int r = 0; r < ranks; ++r) {
    const auto [lo, hi] = expert_block(E, ranks, r);
    const int64_t mine = (hi - lo) * expert * moe_layers;
    std::printf("%6d %4lld-%-5lld %18.3f %18.3f %18.3f\n", r, (long long)lo, (long long)hi - 1, mine / gib,
                replicated / gib, (mine + replicated) / gib);
  }
  const int64_t per_layer = int64_t(c.n_experts_per_tok) * D * 4;
  std::printf("exchange: S·K·D·4 = %lld bytes per token per MoE layer (fp32 expert rows, all-gathered), %.2f MiB per "
              "token over %d MoE layers; each rank receives (N-1)/N of it\n",
              (long long)per_layer, double(per_layer) * moe_layers / (1 << 20), moe_layers);
  std::printf("(weights: FP8 e4m3 matrices + fp32 %lldx%lld scales, bf16 embedding and LM head; KV cache and "
              "activations are replicated too: the table above)\n",
              (long long)B, (long long)B);
}

int run(const std::vector<std::string>& args) {
  std::string model, preset;
  int layers = 0, ranks = 0, ep = 0;
  ArgParser p("info",
              "Show a model's shapes, parameter counts and KV-cache bytes per token for each mode.\n"
              "Reads only config.json, so --preset v32 reports the real DeepSeek V3.2 numbers.");
  p.add("--model", &model, "DIR", "checkpoint directory (reads DIR/config.json)");
  p.add("--preset", &preset, "NAME", "a synth preset instead: tiny | small | v32");
  p.add("--layers", &layers, "N", "with --preset: keep the first N layers");
  p.add("--ranks", &ranks, "N", "also show per-rank weight bytes under expert parallelism over N ranks");
  p.add("--ep", &ep, "E", "expert-parallel degree (must equal --ranks: tensor parallelism is not implemented)");
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
  if (p.given("--ep") && !p.given("--ranks")) ranks = ep;
  if (p.given("--ep") && ep != ranks)
    fail("--ep " + std::to_string(ep) + " differs from --ranks " + std::to_string(ranks) +
         " (every rank is an expert-parallel rank; tensor parallelism is not implemented)");
  if (p.given("--ranks") || p.given("--ep")) print_ranks(c, ranks, total);
  return 0;
}

const Command kCmd{"info", "shapes, parameter counts, KV-cache bytes per token per mode", &run};

}  // namespace
}  // namespace dsv32::app
