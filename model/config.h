// ModelConfig: the hyper-parameters of a DeepSeek V3 / V3.2 checkpoint, read from HF config.json
// (MODEL §1.1) and validated. Derived constants (MODEL §1.2) are computed here once.
#pragma once
#include <cstdint>
#include <string>

namespace dsv32 {

struct ModelConfig {
  std::string architecture;       // "DeepseekV32ForCausalLM" or "DeepseekV3ForCausalLM"
  bool has_indexer = false;       // V3.2 only: DSA lightning indexer tensors present

  int64_t vocab_size = 0;         // V
  int64_t hidden_size = 0;        // D
  int64_t intermediate_size = 0;  // dense MLP width (layers < first_k_dense_replace)
  int64_t moe_intermediate_size = 0;  // per expert width
  int n_layers = 0;               // main stack; layer n_layers (MTP) is never loaded
  int first_k_dense_replace = 0;
  int n_heads = 0;                // H
  int n_routed_experts = 0;       // E
  int n_shared_experts = 0;
  int n_experts_per_tok = 0;      // K
  int n_group = 1, topk_group = 1;
  double routed_scaling_factor = 1.0;
  bool scoring_sigmoid = true;    // scoring_func: "sigmoid" (V3/V3.2) or "softmax"
  bool norm_topk_prob = true;
  bool has_score_bias = true;     // topk_method "noaux_tc": e_score_correction_bias present
  int64_t q_lora_rank = 0;        // r_q
  int64_t kv_lora_rank = 0;       // r_kv
  int64_t qk_nope_head_dim = 0;   // d_n
  int64_t qk_rope_head_dim = 0;   // d_r
  int64_t v_head_dim = 0;         // d_v
  double rope_theta = 10000.0;
  // YaRN (rope_scaling); always applied (MODEL §4.3), whatever the runtime context length.
  double rope_factor = 1.0;
  int64_t original_seq_len = 4096;
  double beta_fast = 32, beta_slow = 1, mscale = 1.0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  // Indexer (V3.2 only).
  int index_n_heads = 0;          // H_I
  int64_t index_head_dim = 0;     // d_I
  int64_t index_topk = 0;         // k
  bool indexer_rope_interleave = false;  // DeepSeek V3.2: rotate-half (false); honoured if present
  // FP8 block size from quantization_config.weight_block_size (128 x 128 for DeepSeek).
  int64_t quant_block = 128;

  std::string source;             // path of config.json, for messages
  std::string json_text;          // config.json verbatim (dumps record it)

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }  // d_qk
  bool is_moe_layer(int layer) const { return layer >= first_k_dense_replace; }
  // s_att = d_qk^-0.5 · (0.1·mscale·ln(factor) + 1)^2 (MODEL §6.2; REF uses rope_scaling.mscale).
  double softmax_scale() const;
};

// Parses and validates; throws Error("<path>: key 'x': ...") for a missing or invalid key.
ModelConfig load_config(const std::string& config_json_path);
ModelConfig parse_config(const std::string& json_text, const std::string& source_name);

}  // namespace dsv32
