// How the weights are drawn (so activations stay O(1) through the layers, the router spreads
// tokens and the indexer's top-k is informative):
//   * embeddings ~ N(0, 1): the residual stream starts at unit RMS;
//   * every projection W [out, in] ~ N(0, 1/in): a unit-RMS input gives a unit-RMS output, and
//     every sub-layer input is RMS-normalised first, so no layer can blow up or vanish;
//   * norm weights ~ 1 + N(0, 0.1²), the indexer LayerNorm bias ~ N(0, 0.1²);
//   * the router W_gate ~ N(0, 1/D) gives logits ~ N(0, 1) that differ per token, so tokens spread
//     over the experts; e_score_correction_bias ~ N(0, 0.05²) perturbs selection without dominating;
//   * the indexer's q/k/weights projections are independent N(0, 1/in), so scores vary per
//     (query, key) and the selected set changes from query to query.
// Each tensor has its own random stream seeded from (seed, tensor name): a tensor's values do not
// depend on the preset's other shapes or on the order tensors are written.
#include "model/synth.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "kernels/numeric.h"
#include "kernels/error.h"
#include "model/atomic_file.h"
#include "model/safetensors.h"

namespace dsv32 {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Deterministic N(mean, std²) stream (Box–Muller on splitmix64), identical on every platform.
struct Normal {
  uint64_t state;
  bool have = false;
  double spare = 0;
  Normal(uint64_t seed, const std::string& name) : state(seed * 0x2545f4914f6cdd1dull) {
    for (unsigned char ch : name) state = (state ^ ch) * 0x100000001b3ull;
    splitmix(state);
  }
  double next() {
    if (have) { have = false; return spare; }
    double u1 = (double(splitmix(state) >> 11) + 0.5) * 0x1.0p-53;
    double u2 = double(splitmix(state) >> 11) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * M_PI * u2;
    spare = r * std::sin(a);
    have = true;
    return r * std::cos(a);
  }
};

}  // namespace

std::vector<float> synth_normal(uint64_t seed, const std::string& name, int64_t n, double mean, double std) {
  Normal g(seed, name);
  std::vector<float> v(n);
  for (auto& x : v) x = float(mean + std * g.next());
  return v;
}

namespace {

json preset_config(const SynthOptions& o) {
  json c;
  if (o.preset == "tiny") {
    c = {{"vocab_size", 129280}, {"hidden_size", 256}, {"intermediate_size", 512},
         {"moe_intermediate_size", 128}, {"num_hidden_layers", 4}, {"first_k_dense_replace", 1},
         {"num_attention_heads", 8}, {"n_routed_experts", 16}, {"n_shared_experts", 1},
         {"num_experts_per_tok", 4}, {"n_group", 4}, {"topk_group", 2}, {"q_lora_rank", 128},
         {"kv_lora_rank", 64}, {"qk_nope_head_dim", 32}, {"qk_rope_head_dim", 32},
         {"v_head_dim", 32}, {"index_n_heads", 4}, {"index_head_dim", 64}, {"index_topk", 64}};
  } else if (o.preset == "small") {
    c = {{"vocab_size", 129280}, {"hidden_size", 1024}, {"intermediate_size", 2816},
         {"moe_intermediate_size", 256}, {"num_hidden_layers", 8}, {"first_k_dense_replace", 1},
         {"num_attention_heads", 16}, {"n_routed_experts", 32}, {"n_shared_experts", 1},
         {"num_experts_per_tok", 4}, {"n_group", 4}, {"topk_group", 2}, {"q_lora_rank", 384},
         {"kv_lora_rank", 256}, {"qk_nope_head_dim", 64}, {"qk_rope_head_dim", 32},
         {"v_head_dim", 64}, {"index_n_heads", 8}, {"index_head_dim", 64}, {"index_topk", 256}};
  } else if (o.preset == "v32") {
    c = {{"vocab_size", 129280}, {"hidden_size", 7168}, {"intermediate_size", 18432},
         {"moe_intermediate_size", 2048}, {"num_hidden_layers", 61}, {"first_k_dense_replace", 3},
         {"num_attention_heads", 128}, {"n_routed_experts", 256}, {"n_shared_experts", 1},
         {"num_experts_per_tok", 8}, {"n_group", 8}, {"topk_group", 4}, {"q_lora_rank", 1536},
         {"kv_lora_rank", 512}, {"qk_nope_head_dim", 128}, {"qk_rope_head_dim", 64},
         {"v_head_dim", 128}, {"index_n_heads", 64}, {"index_head_dim", 128}, {"index_topk", 2048}};
  } else {
    fail("--preset: unknown preset '" + o.preset + "' (expected tiny, small or v32)");
  }
  if (o.experts > 0) {
    const int K = c["num_experts_per_tok"].get<int>();
    int groups = std::min(c["n_group"].get<int>(), o.experts);
    while (o.experts % groups) --groups;
    const int kept = std::min(c["topk_group"].get<int>(), groups);
    if (o.experts / groups * kept < K)
      fail("--experts " + std::to_string(o.experts) + ": fewer than num_experts_per_tok = " + std::to_string(K) +
           " experts in the kept groups");
    c["n_routed_experts"] = o.experts;
    c["n_group"] = groups;
    c["topk_group"] = kept;
  }
  if (o.layers > 0) {
    c["num_hidden_layers"] = o.layers;
    c["first_k_dense_replace"] = std::min<int>(c["first_k_dense_replace"].get<int>(), o.layers);
  }
  const bool v32 = o.architecture == "DeepseekV32ForCausalLM";
  if (!v32 && o.architecture != "DeepseekV3ForCausalLM")
    fail("--arch: unknown architecture '" + o.architecture + "'");
  if (!v32) {
    c.erase("index_n_heads"); c.erase("index_head_dim"); c.erase("index_topk");
  }
  c["architectures"] = {o.architecture};
  c["model_type"] = v32 ? "deepseek_v32" : "deepseek_v3";
  c["num_key_value_heads"] = c["num_attention_heads"];
  c["moe_layer_freq"] = 1;
  c["routed_scaling_factor"] = 2.5;
  c["scoring_func"] = "sigmoid";
  c["topk_method"] = "noaux_tc";
  c["norm_topk_prob"] = true;
  c["rope_theta"] = 10000;
  c["rope_scaling"] = {{"type", "yarn"}, {"factor", 40}, {"original_max_position_embeddings", 4096},
                       {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 1.0}, {"mscale_all_dim", 1.0}};
  c["max_position_embeddings"] = 163840;
  c["rms_norm_eps"] = 1e-6;
  c["hidden_act"] = "silu";
  c["tie_word_embeddings"] = false;
  c["attention_bias"] = false;
  c["bos_token_id"] = 0;
  c["eos_token_id"] = 1;
  c["torch_dtype"] = "bfloat16";
  c["num_nextn_predict_layers"] = 0;
  if (o.weights == SynthWeights::kFp8)
    c["quantization_config"] = {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"},
                                {"quant_method", "fp8"}, {"weight_block_size", {128, 128}}};
  if (o.weights == SynthWeights::kFp8 && o.pow2_scales) c["quantization_config"]["scale_fmt"] = "ue8m0";
  c["dsv32_synth"] = {{"preset", o.preset}, {"seed", o.seed}, {"scales", o.pow2_scales ? "ue8m0" : "amax"},
                      {"experts", o.experts}};
  return c;
}

// Collects the tensors of one shard and writes them.
class ShardWriter {
 public:
  ShardWriter(const SynthOptions& o) : o_(o) {}
  std::vector<float> normal(const std::string& name, int64_t n, double mean, double std) {
    return synth_normal(o_.seed, name, n, mean, std);
  }
  // A matrix [rows, cols] ~ N(0, 1/cols), stored per --weights (keep_bf16: tensors DeepSeek keeps
  // in BF16 even in FP8 checkpoints — embeddings, lm_head, router, indexer weights_proj).
  void matrix(const std::string& name, int64_t rows, int64_t cols, bool keep_bf16 = false,
              double std = -1) {
    if (std < 0) std = 1.0 / std::sqrt(double(cols));
    std::vector<float> v = normal(name, rows * cols, 0.0, std);
    if (o_.weights == SynthWeights::kFp32) return put(name, DType::F32, {rows, cols}, v.data(), v.size() * 4);
    if (o_.weights == SynthWeights::kBf16 || keep_bf16) {
      std::vector<uint16_t> b(v.size());
      for (size_t i = 0; i < v.size(); ++i) b[i] = f32_to_bf16(v[i]);
      return put(name, DType::BF16, {rows, cols}, b.data(), b.size() * 2);
    }
    // FP8 block scales per 128x128 block: power-of-two (ue8m0) s = 2^ceil(log2(amax/448)), or
    // amax/448 as is.
    const int64_t B = 128, sr = (rows + B - 1) / B, sc = (cols + B - 1) / B;
    std::vector<float> scale(sr * sc);
    for (int64_t bi = 0; bi < sr; ++bi)
      for (int64_t bj = 0; bj < sc; ++bj) {
        float amax = 1e-4f;
        for (int64_t r = bi * B; r < std::min(rows, (bi + 1) * B); ++r)
          for (int64_t c = bj * B; c < std::min(cols, (bj + 1) * B); ++c) amax = std::max(amax, std::fabs(v[r * cols + c]));
        scale[bi * sc + bj] = o_.pow2_scales ? std::exp2(std::ceil(std::log2(amax / 448.f))) : amax / 448.f;
      }
    std::vector<uint8_t> q(v.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) q[r * cols + c] = f32_to_f8e4m3(v[r * cols + c] / scale[(r / B) * sc + c / B]);
    put(name, DType::F8_E4M3, {rows, cols}, q.data(), q.size());
    put(name + "_scale_inv", DType::F32, {sr, sc}, scale.data(), scale.size() * 4);
  }
  void vector(const std::string& name, int64_t n, double mean, double std) {
    std::vector<float> v = normal(name, n, mean, std);
    put(name, DType::F32, {n}, v.data(), v.size() * 4);
  }
  void put(const std::string& name, DType t, std::vector<int64_t> shape, const void* p, size_t nbytes) {
    w_.add(name, t, std::move(shape), p, nbytes);
    names_.push_back(name);
  }
  const std::vector<std::string>& names() const { return names_; }
  void write(const std::string& path) { w_.write(path, {{"format", "pt"}}); }

 private:
  const SynthOptions& o_;
  SafetensorsWriter w_;
  std::vector<std::string> names_;
};

}  // namespace

std::string synth_config_json(const SynthOptions& opt) { return preset_config(opt).dump(2); }

void synth_checkpoint(const SynthOptions& o, const std::string& out_dir,
                      const std::function<void(int64_t, int64_t)>& progress) {
  const json cj = preset_config(o);
  const ModelConfig c = parse_config(cj.dump(), "<synth " + o.preset + ">");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) fail(out_dir + ": cannot create directory (" + ec.message() + ")");
  // Until the new index is written the directory is no checkpoint: an old index would name a mix
  // of old and new shards if this run is killed.
  fs::remove(out_dir + "/model.safetensors.index.json", ec);

  // One shard per layer plus one for embeddings/head: at least 2 shards for any preset, and the
  // writer holds only one layer in memory (the v32 preset's MoE layers are ~11 GB each in FP8).
  const int n_shards = c.n_layers + 1;
  auto shard_name = [&](int i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%06d.safetensors", i + 1, n_shards);
    return std::string(buf);
  };
  json weight_map = json::object();
  const int64_t D = c.hidden_size, H = c.n_heads;
  for (int shard = 0; shard < n_shards; ++shard) {
    ShardWriter sw(o);
    if (shard == c.n_layers) {
      sw.matrix("model.embed_tokens.weight", c.vocab_size, D, true, 1.0);
      sw.vector("model.norm.weight", D, 1.0, 0.1);
      sw.matrix("lm_head.weight", c.vocab_size, D, true);
    } else {
      const std::string p = "model.layers." + std::to_string(shard) + ".";
      sw.vector(p + "input_layernorm.weight", D, 1.0, 0.1);
      sw.matrix(p + "self_attn.q_a_proj.weight", c.q_lora_rank, D);
      sw.vector(p + "self_attn.q_a_layernorm.weight", c.q_lora_rank, 1.0, 0.1);
      sw.matrix(p + "self_attn.q_b_proj.weight", H * c.qk_head_dim(), c.q_lora_rank);
      sw.matrix(p + "self_attn.kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, D);
      sw.vector(p + "self_attn.kv_a_layernorm.weight", c.kv_lora_rank, 1.0, 0.1);
      sw.matrix(p + "self_attn.kv_b_proj.weight", H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
      sw.matrix(p + "self_attn.o_proj.weight", D, H * c.v_head_dim);
      if (c.has_indexer) {
        const std::string q = p + "self_attn.indexer.";
        sw.matrix(q + "wq_b.weight", c.index_n_heads * c.index_head_dim, c.q_lora_rank);
        sw.matrix(q + "wk.weight", c.index_head_dim, D);
        sw.vector(q + "k_norm.weight", c.index_head_dim, 1.0, 0.1);
        sw.vector(q + "k_norm.bias", c.index_head_dim, 0.0, 0.1);
        sw.matrix(q + "weights_proj.weight", c.index_n_heads, D, true);
      }
      sw.vector(p + "post_attention_layernorm.weight", D, 1.0, 0.1);
      auto mlp = [&](const std::string& m, int64_t inter) {
        sw.matrix(m + "gate_proj.weight", inter, D);
        sw.matrix(m + "up_proj.weight", inter, D);
        sw.matrix(m + "down_proj.weight", D, inter);
      };
      if (!c.is_moe_layer(shard)) {
        mlp(p + "mlp.", c.intermediate_size);
      } else {
        sw.matrix(p + "mlp.gate.weight", c.n_routed_experts, D, true);
        sw.vector(p + "mlp.gate.e_score_correction_bias", c.n_routed_experts, 0.0, 0.05);
        for (int e = 0; e < c.n_routed_experts; ++e)
          mlp(p + "mlp.experts." + std::to_string(e) + ".", c.moe_intermediate_size);
        mlp(p + "mlp.shared_experts.", c.moe_intermediate_size * c.n_shared_experts);
      }
    }
    sw.write(out_dir + "/" + shard_name(shard));
    for (auto& n : sw.names()) weight_map[n] = shard_name(shard);
    if (progress) progress(shard + 1, n_shards);
  }
  // The index goes last: only a directory whose every shard is written names them all.
  json index = {{"metadata", {{"generator", "dsv32 synth"}}}, {"weight_map", weight_map}};
  write_file_atomic(out_dir + "/config.json", cj.dump(2) + "\n");
  write_file_atomic(out_dir + "/model.safetensors.index.json", index.dump(2) + "\n");
}

}  // namespace dsv32
