// ModelWeights: every tensor the forward pass uses, as zero-copy views into the memory-mapped
// checkpoint (MODEL §2.2 names, HF layout), validated for presence, shape and dtype at load.
//
// Matrices stay in their checkpoint dtype (F8 with weight_scale_inv, BF16, F16 or F32) and are
// dequantized on the fly by kernels/cpu/linear. Vectors (norm weights, biases; a few KB per
// layer) are converted to fp32 copies. Nothing is derived here: absorbed MLA's per-head W_UKᵀ
// is formed by the layer program (model/layer_program.cpp, absorbed_heads) when a run needs it.
// The MTP layer (model.layers.<num_hidden_layers>) is never read.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/linear.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace dsv32 {

struct IndexerWeights {
  Weight wq_b;                     // [H_I·d_I, r_q]   rows per head: rope part first
  Weight wk;                       // [d_I, D]
  Weight weights_proj;             // [H_I, D]
  std::vector<float> k_norm_w, k_norm_b;  // [d_I]
};

struct MlpWeights {                // SwiGLU: down(silu(gate x) ⊙ up x)
  Weight gate, up;                 // [I, D]
  Weight down;                     // [D, I]
};

struct LayerWeights {
  std::vector<float> attn_norm;    // [D]
  Weight q_a;                      // [r_q, D]
  std::vector<float> q_a_norm;     // [r_q]
  Weight q_b;                      // [H·d_qk, r_q]  per head: nope (d_n) then rope (d_r)
  Weight kv_a;                     // [r_kv + d_r, D] latent then rope
  std::vector<float> kv_a_norm;    // [r_kv]
  Weight kv_b;                     // [H·(d_n + d_v), r_kv] per head: W_UK (d_n rows) then W_UV (d_v rows)
  Weight o;                        // [D, H·d_v]
  bool has_indexer = false;
  IndexerWeights indexer;
  std::vector<float> ffn_norm;     // [D]
  bool is_moe = false;
  MlpWeights mlp;                  // dense layers
  Weight router;                   // [E, D]
  std::vector<float> router_bias;  // [E] e_score_correction_bias (empty if none)
  std::vector<MlpWeights> experts; // E x (I_moe)
  MlpWeights shared;               // width I_moe · n_shared_experts (absent if 0 shared)
  bool has_shared = false;
};

struct ModelWeights {
  ModelConfig config;
  std::unique_ptr<Checkpoint> checkpoint;  // owns the memory maps the views point into
  Weight embed;                            // [V, D]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;           // [D]
  Weight lm_head;                          // [V, D]
  int64_t weight_bytes = 0;                // bytes of all matrices as stored (for GB/s)
  std::string dtype_summary;               // e.g. "F8_E4M3 x 42, BF16 x 3, F32 x 17"
  std::vector<std::vector<float>> owned;   // matrices made at load time (WeightOverrides), not mapped
};

// Experiments on a checkpoint without editing it on disk (dsv32 ppl --index-topk, --modes ...:kN
// and ...:random-indexer): applied at load, so the forward pass sees an ordinary checkpoint.
struct WeightOverrides {
  // > 0: replaces config.json's index_topk; must lie in [1, max_position_embeddings] and the model
  // must have an indexer (else Error naming `what`).
  int64_t index_topk = 0;
  // != 0: every layer's lightning indexer is re-drawn at random with the same shapes, from this
  // seed: wq_b, wk, weights_proj ~ N(0, 1/fan_in) in F32, k_norm weight 1 and bias 0 (an indexer at
  // initialisation, as scripts/train_tiny.py starts it). The index score is positively homogeneous
  // in each of the three matrices and k passes a LayerNorm, so the std does not change a top-k
  // selection: only the random directions do (MODEL §7.5).
  uint64_t random_indexer_seed = 0;
  std::string what = "--index-topk";  // names the option in errors
};

// Loads <dir>/config.json and the safetensors; throws Error naming the file and tensor.
std::shared_ptr<const ModelWeights> load_weights(const std::string& dir, const WeightOverrides& ov = {});

}  // namespace dsv32
