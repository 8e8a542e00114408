#include "model/config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kernels/error.h"

namespace dsv32 {

using nlohmann::json;

double ModelConfig::softmax_scale() const {
  double m = rope_factor > 1.0 ? 0.1 * mscale * std::log(rope_factor) + 1.0 : 1.0;
  return std::pow(double(qk_head_dim()), -0.5) * m * m;
}

namespace {

// Typed, validated access to config keys; every error names the file and the key.
struct Keys {
  const json& j;
  const std::string& src;
  [[noreturn]] void bad(const std::string& key, const std::string& why) const {
    fail(src + ": key '" + key + "': " + why);
  }
  const json& need(const json& obj, const std::string& key, const std::string& path) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) bad(path, "missing");
    return *it;
  }
  int64_t integer(const std::string& key, int64_t lo, int64_t hi = INT64_MAX) const {
    return integer_in(j, key, key, lo, hi);
  }
  int64_t integer_in(const json& obj, const std::string& key, const std::string& path, int64_t lo,
                     int64_t hi = INT64_MAX) const {
    const json& v = need(obj, key, path);
    if (!v.is_number_integer()) bad(path, "expected an integer, found " + v.dump());
    int64_t x = v.get<int64_t>();
    if (x < lo || x > hi)
      bad(path, "value " + std::to_string(x) + " out of range [" + std::to_string(lo) + ", " +
                    (hi == INT64_MAX ? std::string("inf") : std::to_string(hi)) + "]");
    return x;
  }
  double number_in(const json& obj, const std::string& key, const std::string& path, double lo) const {
    const json& v = need(obj, key, path);
    if (!v.is_number()) bad(path, "expected a number, found " + v.dump());
    double x = v.get<double>();
    if (!(x >= lo) || !std::isfinite(x)) bad(path, "value " + v.dump() + " out of range");
    return x;
  }
  double number(const std::string& key, double lo) const { return number_in(j, key, key, lo); }
  std::string string(const std::string& key) const {
    const json& v = need(j, key, key);
    if (!v.is_string()) bad(key, "expected a string, found " + v.dump());
    return v.get<std::string>();
  }
  bool boolean(const std::string& key, bool dflt) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return dflt;
    if (!it->is_boolean()) bad(key, "expected true or false, found " + it->dump());
    return it->get<bool>();
  }
};

}  // namespace

ModelConfig parse_config(const std::string& text, const std::string& src) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(src + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  if (!j.is_object()) fail(src + ": expected a JSON object");
  Keys k{j, src};
  ModelConfig c;
  c.source = src;
  c.json_text = text;

  const json& arch = k.need(j, "architectures", "architectures");
  if (!arch.is_array() || arch.empty() || !arch[0].is_string())
    k.bad("architectures", "expected a non-empty array of strings");
  c.architecture = arch[0].get<std::string>();
  if (c.architecture == "DeepseekV32ForCausalLM") c.has_indexer = true;
  else if (c.architecture == "DeepseekV3ForCausalLM") c.has_indexer = false;
  else k.bad("architectures", "unsupported architecture '" + c.architecture +
                                   "' (expected DeepseekV32ForCausalLM or DeepseekV3ForCausalLM)");

  // Dimensions are capped at 2^20 (V3.2's largest is 18432): products of a few of them -- weight
  // sizes, KV bytes per token -- then fit int64 wherever they are computed, and a hostile config
  // cannot wrap them into small, plausible sizes.
  constexpr int64_t kDim = int64_t(1) << 20;
  c.vocab_size = k.integer("vocab_size", 1, (int64_t(1) << 31) - 1);
  c.hidden_size = k.integer("hidden_size", 1, kDim);
  c.intermediate_size = k.integer("intermediate_size", 1, kDim);
  c.moe_intermediate_size = k.integer("moe_intermediate_size", 1, kDim);
  c.n_layers = int(k.integer("num_hidden_layers", 1, 4096));
  c.first_k_dense_replace = int(k.integer("first_k_dense_replace", 0, c.n_layers));
  if (j.contains("moe_layer_freq") && k.integer("moe_layer_freq", 1) != 1)
    k.bad("moe_layer_freq", "only 1 (every layer after the dense ones is MoE) is supported");
  c.n_heads = int(k.integer("num_attention_heads", 1, 65536));
  c.q_lora_rank = k.integer("q_lora_rank", 1, kDim);
  c.kv_lora_rank = k.integer("kv_lora_rank", 1, kDim);
  c.qk_nope_head_dim = k.integer("qk_nope_head_dim", 1, kDim);
  c.qk_rope_head_dim = k.integer("qk_rope_head_dim", 2, kDim);
  if (c.qk_rope_head_dim % 2) k.bad("qk_rope_head_dim", "must be even (RoPE rotates pairs)");
  c.v_head_dim = k.integer("v_head_dim", 1, kDim);
  c.rms_norm_eps = k.number("rms_norm_eps", 0.0);
  // RMSNorm divides by sqrt(mean(x^2) + eps) (MODEL §4.1): eps = 0 (or one that rounds to 0 as the
  // float the kernels use) turns an all-zero row into 0/0 = NaN instead of 0.
  if (!(float(c.rms_norm_eps) > 0.0f))
    k.bad("rms_norm_eps", "value " + j["rms_norm_eps"].dump() + " must be greater than 0");
  c.rope_theta = k.number("rope_theta", 1.0);
  // RoPE frequencies are theta^(-2i/d) and YaRN divides by log(theta): theta = 1 makes every
  // rotation the identity and every logit NaN.
  if (c.rope_theta <= 1.0) k.bad("rope_theta", "value " + j["rope_theta"].dump() + " must be greater than 1");
  c.max_position_embeddings = k.integer("max_position_embeddings", 1, (int64_t(1) << 31) - 1);
  if (k.boolean("tie_word_embeddings", false))
    k.bad("tie_word_embeddings", "tied embeddings are not DeepSeek's layout (expected false)");

  bool any_moe = c.first_k_dense_replace < c.n_layers;
  if (any_moe) {
    c.n_routed_experts = int(k.integer("n_routed_experts", 1, 1 << 20));
    c.n_shared_experts = int(k.integer("n_shared_experts", 0, 64));
    c.n_experts_per_tok = int(k.integer("num_experts_per_tok", 1, c.n_routed_experts));
    c.n_group = int(k.integer("n_group", 1, c.n_routed_experts));
    if (c.n_routed_experts % c.n_group) k.bad("n_group", "must divide n_routed_experts");
    c.topk_group = int(k.integer("topk_group", 1, c.n_group));
    if (int64_t(c.topk_group) * (c.n_routed_experts / c.n_group) < c.n_experts_per_tok)
      k.bad("topk_group", "kept groups hold fewer experts than num_experts_per_tok");
    if (c.n_group > 1 && c.n_routed_experts / c.n_group < 2)
      k.bad("n_group", "groups need at least 2 experts (group score = sum of the top 2)");
    c.routed_scaling_factor = k.number("routed_scaling_factor", 0.0);
    std::string sf = k.string("scoring_func");
    if (sf == "sigmoid") c.scoring_sigmoid = true;
    else if (sf == "softmax") c.scoring_sigmoid = false;
    else k.bad("scoring_func", "unsupported '" + sf + "' (expected sigmoid or softmax)");
    std::string tm = k.string("topk_method");
    if (tm == "noaux_tc") c.has_score_bias = true;
    else if (tm == "greedy" || tm == "group_limited_greedy") c.has_score_bias = false;
    else k.bad("topk_method", "unsupported '" + tm + "'");
    c.norm_topk_prob = k.boolean("norm_topk_prob", true);
  }

  // YaRN: always on when rope_scaling is present (MODEL §4.3).
  auto rs = j.find("rope_scaling");
  if (rs != j.end() && !rs->is_null()) {
    if (!rs->is_object()) k.bad("rope_scaling", "expected an object");
    std::string type;
    for (const char* key : {"rope_type", "type"}) {  // "type" wins when both are present
      auto t = rs->find(key);
      if (t == rs->end() || t->is_null()) continue;
      if (!t->is_string()) k.bad(std::string("rope_scaling.") + key, "expected a string, found " + t->dump());
      type = t->get<std::string>();
    }
    if (type != "yarn") k.bad("rope_scaling.type", "unsupported '" + type + "' (expected yarn)");
    c.rope_factor = k.number_in(*rs, "factor", "rope_scaling.factor", 1.0);
    c.original_seq_len = k.integer_in(*rs, "original_max_position_embeddings",
                                      "rope_scaling.original_max_position_embeddings", 1, (int64_t(1) << 31) - 1);
    c.beta_fast = k.number_in(*rs, "beta_fast", "rope_scaling.beta_fast", 0.0);
    c.beta_slow = k.number_in(*rs, "beta_slow", "rope_scaling.beta_slow", 0.0);
    c.mscale = rs->contains("mscale") ? k.number_in(*rs, "mscale", "rope_scaling.mscale", 0.0) : 1.0;
  }

  if (c.has_indexer) {
    c.index_n_heads = int(k.integer("index_n_heads", 1, 65536));
    c.index_head_dim = k.integer("index_head_dim", 1, kDim);
    if (c.index_head_dim & (c.index_head_dim - 1))
      k.bad("index_head_dim", "must be a power of two (Walsh-Hadamard transform)");
    if (c.index_head_dim < c.qk_rope_head_dim)
      k.bad("index_head_dim", "must be at least qk_rope_head_dim (rope part comes first)");
    // More keys than the model has positions is meaningless (and 2^62 is an allocation).
    c.index_topk = k.integer("index_topk", 1, c.max_position_embeddings);
    c.indexer_rope_interleave = k.boolean("indexer_rope_interleave", false);
  }

  auto qc = j.find("quantization_config");
  if (qc != j.end() && !qc->is_null()) {
    if (!qc->is_object()) k.bad("quantization_config", "expected an object");
    if (qc->contains("fmt") && qc->at("fmt") != "e4m3")
      k.bad("quantization_config.fmt", "unsupported " + qc->at("fmt").dump() + " (expected \"e4m3\")");
    if (qc->contains("weight_block_size")) {
      const json& b = qc->at("weight_block_size");
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || b[0] != b[1] || b[0].get<int64_t>() <= 0 ||
          b[0].get<int64_t>() > kDim)
        k.bad("quantization_config.weight_block_size", "expected [n, n] with n > 0, found " + b.dump());
      c.quant_block = b[0].get<int64_t>();
    }
  }
  return c;
}

ModelConfig load_config(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path + ": cannot open config");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_config(ss.str(), path);
}

}  // namespace dsv32
