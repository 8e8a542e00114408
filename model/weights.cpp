#include "model/weights.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "kernels/error.h"
#include "model/synth.h"

namespace dsv32 {


namespace {

class Loader {
 public:
  Loader(ModelWeights& mw) : mw_(mw), ck_(*mw.checkpoint), c_(mw.config) {}

  // A matrix [rows, cols]; F8 needs its "<name>_scale_inv" sibling of the block-grid shape.
  Weight matrix(const std::string& name, int64_t rows, int64_t cols) {
    const TensorInfo& t = ck_.get(name, {rows, cols}, {DType::F8_E4M3, DType::BF16, DType::F16, DType::F32});
    Weight w;
    w.dtype = t.dtype;
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    w.block = c_.quant_block;
    if (t.dtype == DType::F8_E4M3) {
      int64_t B = c_.quant_block;
      std::string sname = name + "_scale_inv";
      if (!ck_.has(sname)) fail(t.file + ": tensor '" + name + "' is F8_E4M3 but '" + sname + "' is missing");
      const TensorInfo& s = ck_.get(sname, {(rows + B - 1) / B, (cols + B - 1) / B}, {DType::F32});
      w.scale = reinterpret_cast<const float*>(s.data);
      w.scale_cols = (cols + B - 1) / B;
    }
    mw_.weight_bytes += w.bytes();
    ++dtype_count_[dtype_name(t.dtype)];
    return w;
  }

  std::vector<float> vector(const std::string& name, int64_t n) {
    const TensorInfo& t = ck_.get(name, {n}, {DType::F32, DType::BF16, DType::F16});
    std::vector<float> v(n);
    // Norm weights and biases are copied here anyway, so scanning them is free: a NaN or inf in
    // one makes every logit NaN with exit 0 (the big matrices are not scanned; their FP8 scales are
    // at open, Checkpoint::check_scales).
    for (int64_t i = 0; i < n; ++i) {
      v[i] = load_as_f32(t.dtype, t.data, i);
      if (!std::isfinite(v[i]))
        fail(t.file + ": tensor '" + name + "': element " + std::to_string(i) + " is " + std::to_string(v[i]) +
             " (norm weights and biases must be finite)");
    }
    return v;
  }

  MlpWeights mlp(const std::string& p, int64_t inter) {
    MlpWeights m;
    m.gate = matrix(p + "gate_proj.weight", inter, c_.hidden_size);
    m.up = matrix(p + "up_proj.weight", inter, c_.hidden_size);
    m.down = matrix(p + "down_proj.weight", c_.hidden_size, inter);
    return m;
  }

  void layer(int i, LayerWeights& L) {
    const ModelConfig& c = c_;
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const int64_t D = c.hidden_size, H = c.n_heads, dqk = c.qk_head_dim();
    L.attn_norm = vector(p + "input_layernorm.weight", D);
    L.q_a = matrix(p + "self_attn.q_a_proj.weight", c.q_lora_rank, D);
    L.q_a_norm = vector(p + "self_attn.q_a_layernorm.weight", c.q_lora_rank);
    L.q_b = matrix(p + "self_attn.q_b_proj.weight", H * dqk, c.q_lora_rank);
    L.kv_a = matrix(p + "self_attn.kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, D);
    L.kv_a_norm = vector(p + "self_attn.kv_a_layernorm.weight", c.kv_lora_rank);
    L.kv_b = matrix(p + "self_attn.kv_b_proj.weight", H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
    L.o = matrix(p + "self_attn.o_proj.weight", D, H * c.v_head_dim);
    L.has_indexer = c.has_indexer;
    if (c.has_indexer) {
      const std::string q = p + "self_attn.indexer.";
      L.indexer.wq_b = matrix(q + "wq_b.weight", c.index_n_heads * c.index_head_dim, c.q_lora_rank);
      L.indexer.wk = matrix(q + "wk.weight", c.index_head_dim, D);
      L.indexer.weights_proj = matrix(q + "weights_proj.weight", c.index_n_heads, D);
      L.indexer.k_norm_w = vector(q + "k_norm.weight", c.index_head_dim);
      L.indexer.k_norm_b = vector(q + "k_norm.bias", c.index_head_dim);
    }
    L.ffn_norm = vector(p + "post_attention_layernorm.weight", D);
    L.is_moe = c.is_moe_layer(i);
    if (!L.is_moe) {
      L.mlp = mlp(p + "mlp.", c.intermediate_size);
      return;
    }
    L.router = matrix(p + "mlp.gate.weight", c.n_routed_experts, D);
    if (c.has_score_bias) L.router_bias = vector(p + "mlp.gate.e_score_correction_bias", c.n_routed_experts);
    L.experts.resize(c.n_routed_experts);
    for (int e = 0; e < c.n_routed_experts; ++e)
      L.experts[e] = mlp(p + "mlp.experts." + std::to_string(e) + ".", c.moe_intermediate_size);
    L.has_shared = c.n_shared_experts > 0;
    if (L.has_shared) L.shared = mlp(p + "mlp.shared_experts.", c.moe_intermediate_size * c.n_shared_experts);
  }

  std::string summary() const {
    std::string s;
    for (auto& [k, v] : dtype_count_) s += (s.empty() ? "" : ", ") + k + " x " + std::to_string(v);
    return s;
  }

 private:
  ModelWeights& mw_;
  const Checkpoint& ck_;
  const ModelConfig& c_;
  std::map<std::string, int> dtype_count_;
};

}  // namespace

namespace {

void apply_overrides(ModelWeights& mw, const WeightOverrides& ov) {
  ModelConfig& c = mw.config;
  if ((ov.index_topk > 0 || ov.random_indexer_seed != 0) && !c.has_indexer)
    fail(ov.what + ": " + c.source + ": architecture " + c.architecture + " has no lightning indexer");
  if (ov.index_topk > 0) {
    if (ov.index_topk > c.max_position_embeddings)
      fail(ov.what + ": " + std::to_string(ov.index_topk) + " exceeds max_position_embeddings " +
           std::to_string(c.max_position_embeddings) + " of " + c.source);
    c.index_topk = ov.index_topk;
  }
  if (ov.random_indexer_seed == 0) return;
  auto redraw = [&](Weight& w, const std::string& name) {
    mw.owned.push_back(synth_normal(ov.random_indexer_seed, name, w.rows * w.cols, 0.0, 1.0 / std::sqrt(double(w.cols))));
    mw.weight_bytes -= w.bytes();
    Weight r;
    r.dtype = DType::F32;
    r.rows = w.rows;
    r.cols = w.cols;
    r.data = mw.owned.back().data();
    r.block = w.block;
    w = r;
    mw.weight_bytes += w.bytes();
  };
  for (size_t i = 0; i < mw.layers.size(); ++i) {
    IndexerWeights& x = mw.layers[i].indexer;
    const std::string p = "model.layers." + std::to_string(i) + ".self_attn.indexer.";
    redraw(x.wq_b, p + "wq_b.weight");
    redraw(x.wk, p + "wk.weight");
    redraw(x.weights_proj, p + "weights_proj.weight");
    std::fill(x.k_norm_w.begin(), x.k_norm_w.end(), 1.0f);
    std::fill(x.k_norm_b.begin(), x.k_norm_b.end(), 0.0f);
  }
  mw.dtype_summary += " (indexers re-drawn at random, F32, seed " + std::to_string(ov.random_indexer_seed) + ")";
}

}  // namespace

std::shared_ptr<const ModelWeights> load_weights(const std::string& dir, const WeightOverrides& ov) {
  auto mw = std::make_shared<ModelWeights>();
  mw->config = load_config(dir + "/config.json");
  mw->checkpoint = std::make_unique<Checkpoint>(dir);
  const ModelConfig& c = mw->config;
  Loader ld(*mw);
  mw->embed = ld.matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size);
  mw->layers.resize(c.n_layers);
  for (int i = 0; i < c.n_layers; ++i) ld.layer(i, mw->layers[i]);
  mw->final_norm = ld.vector("model.norm.weight", c.hidden_size);
  mw->lm_head = ld.matrix("lm_head.weight", c.vocab_size, c.hidden_size);
  mw->dtype_summary = ld.summary();
  apply_overrides(*mw, ov);
  return mw;
}

}  // namespace dsv32
