#include "model/tensor_names.h"

namespace dsv32 {

const std::vector<TensorName>& tensor_names() {
  static const std::vector<TensorName> names = {
      {"embed", false, "[S, D]", 0},
      {"attn_norm", true, "[S, D]", 0},
      {"q_latent", true, "[S, r_q]", 0},
      {"q_nope", true, "[S, H, d_n]", 0},
      {"q_rope", true, "[S, H, d_r]", 0},
      {"kv_latent", true, "[S, r_kv]", 0},
      {"k_rope", true, "[S, d_r]", 0},
      {"kv_latent_fp8", true, "[S, r_kv]", kOnlyCkvFp8},
      {"indexer_q", true, "[S, H_I, d_I]", kOnlySparse},
      {"indexer_k", true, "[S, d_I]", kOnlySparse},
      {"indexer_weights", true, "[S, H_I]", kOnlySparse},
      {"indexer_scores", true, "[S, E] (-inf past each query's position)", kOnlySparse},
      {"indexer_topk", true, "[S, K] int32 (ascending, -1 padded)", kOnlySparse},
      {"attn_out", true, "[S, H, d_v]", 0},
      {"o_proj", true, "[S, D]", 0},
      {"ffn_norm", true, "[S, D]", 0},
      {"router_logits", true, "[S, E_r]", kOnlyMoeLayer},
      {"router_scores", true, "[S, E_r] (-inf for dropped groups)", kOnlyMoeLayer},
      {"expert_ids", true, "[S, K_r] int32 (ascending)", kOnlyMoeLayer},
      {"expert_weights", true, "[S, K_r]", kOnlyMoeLayer},
      {"ffn_out", true, "[S, D]", 0},
      {"residual", true, "[S, D]", 0},
      {"final_norm", false, "[S, D]", 0},
      {"logits", false, "[S, V]", 0},
  };
  return names;
}

std::vector<std::string> layer_tensor_names(bool sparse, bool moe_layer, bool ckv_fp8) {
  std::vector<std::string> out;
  for (const TensorName& t : tensor_names()) {
    if (!t.per_layer) continue;
    if ((t.only & kOnlySparse) && !sparse) continue;
    if ((t.only & kOnlyMoeLayer) && !moe_layer) continue;
    if ((t.only & kOnlyCkvFp8) && !ckv_fp8) continue;
    out.push_back(t.name);
  }
  return out;
}

}  // namespace dsv32
