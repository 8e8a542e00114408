// The registry of dumped tensor names (docs/MODEL.md §14): every name the layer program emits, in
// forward order, with its shape rule and which runs emit it. The dump reader, the verify profiles
// (verify/profiles.json), the schema (verify/SCHEMA.md) and the float64 reference
// (reference/model.py) spell the same names; tests/model/test_tensor_names.cpp fails when any of
// them disagrees with this table or with what a forward pass actually emits.
//
// Shape letters: S tokens of the call, D hidden, H heads, d_n/d_r/d_v head dims, r_q/r_kv
// latent ranks, H_I/d_I indexer heads and dim, E the positions of the whole run, K index_topk,
// E_r routed experts, K_r experts per token, V vocabulary.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dsv32 {

struct TensorName {
  const char* name;   // "q_rope"; per-layer names are dumped as layers/NN/<name>
  bool per_layer;
  const char* shape;  // e.g. "[S, H, d_r]"
  // Which runs emit it: a bit set of the flags below (0 = every run).
  uint32_t only;
};

enum : uint32_t {
  kOnlySparse = 1,      // --attn sparse (the lightning indexer)
  kOnlyMoeLayer = 2,    // MoE layers (layer >= first_k_dense_replace)
  kOnlyCkvFp8 = 4,      // profiles with the FP8 c_KV simulation (ref1)
};

// In forward order: embed, then per layer, then final_norm and logits.
const std::vector<TensorName>& tensor_names();
// The names a run emits for one layer, in order (per-layer entries only).
std::vector<std::string> layer_tensor_names(bool sparse, bool moe_layer, bool ckv_fp8);

}  // namespace dsv32
