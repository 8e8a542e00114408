// Model: the DeepSeek V3.2 forward pass on CPU or, with --device cuda, on a GPU (model/cuda/),
// four ways (MODEL §5–§9):
//   attention  dense  — every causal position
//              sparse — DeepSeek Sparse Attention: the lightning indexer scores every visible
//                       position and attention runs over the top-k only (a gather, O(k) per query)
//   MLA        naive    — per-head K = [W_UK c_KV ; k_rope] and V = W_UV c_KV materialised and cached
//              absorbed — only [c_KV ; k_rope] cached; W_UK folded into the query, W_UV into the output
// Numerics (ModelOptions::numerics): a named row of the precision table in model/numerics.h —
// "exact" (the default: fp32 activations and accumulation, weights dequantized on the fly, fp32
// scores and softmax; docs/MODEL.md §13.2(c)), "ref1" (the official code's deployed precision
// points, for dump matching), "bf16" and "fp8" (GPU GEMM precisions). The forward pass itself is
// the layer program of model/layer_program.h, over the backend chosen by ModelOptions::device.
//
// Usage: Model m(load_weights(dir), {AttnMode::kSparse, MlaMode::kAbsorbed, /*max_ctx=*/4096, 2});
//        m.forward(ids, 64, /*pos=*/0, logits);      // prefill 64 tokens
//        m.forward(ids + 64, 1, 64, logits + 64*V);  // decode one
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/rope.h"
#include "model/numerics.h"
#include "model/observer.h"
#include "model/parallel.h"
#include "model/weights.h"

namespace dsv32 {

enum class AttnMode { kDense, kSparse };
enum class MlaMode { kNaive, kAbsorbed };
// Where the forward pass runs. kCuda needs a build with -DDSV32_CUDA=ON and a CUDA device.
enum class Device { kCpu, kCuda };
const char* to_string(AttnMode m);
const char* to_string(MlaMode m);
const char* to_string(Device d);
AttnMode parse_attn_mode(const std::string& s);  // "dense" | "sparse", else Error
MlaMode parse_mla_mode(const std::string& s);    // "naive" | "absorbed", else Error
Device parse_device(const std::string& s);       // "cpu" | "cuda", else Error

struct ModelOptions {
  AttnMode attn = AttnMode::kDense;
  MlaMode mla = MlaMode::kAbsorbed;
  int64_t max_ctx = 4096;  // cache capacity in positions
  int threads = 1;
  Device device = Device::kCpu;
  std::string numerics = "exact";  // a profile of model/numerics.h; checked when the model is built
  Parallel parallel = Parallel::kNone;  // kEp: the forward pass runs over the MPI ranks (model/parallel.h)
  int tp = 1;  // with kEp: tensor-parallel degree (heads and MLP columns split over T ranks)
  int ep = 0;  // with kEp: expert-parallel degree; 0 = every rank (RankLayout, model/parallel.h)
};

// KV-cache footprint per token, in bytes, as this harness stores it (fp32) and as the official
// inference code stores it (REF-1: bf16 latent + bf16 rope, FP8 indexer key + fp32 scale; naive
// per-head K/V in bf16 as HF transformers caches them). MODEL §6.5, §7.7.
struct KvBytes {
  int64_t mla_per_layer = 0;       // this harness, per token per layer
  int64_t indexer_per_layer = 0;   // this harness (0 in dense mode)
  int64_t deployed_mla_per_layer = 0, deployed_indexer_per_layer = 0;
  int64_t per_token = 0;           // this harness, all layers
  int64_t deployed_per_token = 0;  // deployed representation, all layers
};
KvBytes kv_cache_bytes(const ModelConfig& c, MlaMode mla, AttnMode attn);
// Floats of one position's MLA cache row: the latent [r_kv + d_r] (absorbed) or the per-head K
// rows [H, d_qk] (naive).
int64_t mla_cache_row_floats(const ModelConfig& c, MlaMode mla);

// Discrete selections taken from a reference dump instead of computed (dsv32 run --pin-from):
// rows are absolute positions; -1 entries are padding. Empty vectors mean "not pinned".
struct Pins {
  std::string source;                             // the file they came from (for error messages)
  int64_t topk_width = 0;                         // columns of indexer_topk rows
  std::vector<std::vector<int32_t>> indexer_topk; // [layer] -> [positions x topk_width]
  int64_t experts_width = 0;
  std::vector<std::vector<int32_t>> expert_ids;   // [layer] -> [positions x experts_width]
};

// Layer inputs taken from a reference dump instead of this run's own residual stream (dsv32 run
// --inject-from): input[l] is [positions, D], what enters layer l (the reference's embed for
// l = 0, its layers/(l-1)/residual after). Each layer's error is then its own (local), not the sum
// of every layer before it (accumulated). Empty vectors mean "not injected".
struct Injection {
  std::string source;
  std::vector<std::vector<float>> input;  // [layer] -> [positions x D]
};

class LayerProgram;  // model/layer_program.h

class Model {
 public:
  Model(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const;
  const ModelOptions& options() const;
  const ModelWeights& weights() const;

  // Runs tokens ids[0, n) at absolute positions [pos, pos + n). Needs pos <= filled() (the cache
  // holds every earlier position) and pos + n <= max_ctx. logits: [n - logits_from, vocab] for
  // rows [logits_from, n) (perplexity scores only part of a chunk), or nullptr.
  // Throws Error for out-of-range ids or positions.
  void forward(const int32_t* ids, int64_t n, int64_t pos, float* logits, const Observer* obs = nullptr,
               int64_t logits_from = 0);
  int64_t filled() const;  // positions [0, filled) are cached

  void set_pins(const Pins* pins);  // nullptr: compute selections (default)
  void set_injection(const Injection* inj);  // nullptr: every layer reads this run's stream

  // Cache rows, for tests that perturb one position. Absorbed: [r_kv + d_r] latent row; naive:
  // the per-head K row [H, d_qk]. indexer_cache_row: [d_I] (sparse mode only).
  float* mla_cache_row(int layer, int64_t pos);
  int64_t mla_cache_row_floats() const;
  float* indexer_cache_row(int layer, int64_t pos);

  // Where forward runs: "cpu", or the GPU's name (e.g. "NVIDIA H100 80GB HBM3 (sm_90)").
  std::string device_name() const;

  const NumericsProfile& numerics() const;

 private:
  std::shared_ptr<const ModelWeights> weights_;
  ModelOptions opt_;
  std::unique_ptr<LayerProgram> program_;
};

// The MLA RoPE parameters (YaRN) from the config; the indexer shares the table.
RopeParams rope_params(const ModelConfig& c);
// The argument checks forward() starts with: S ≥ 0 tokens at [P, P + S) must continue the cache
// (P ≤ filled) and fit max_ctx; every id within the vocabulary. Throws Error.
void check_forward_call(const ModelConfig& c, const ModelOptions& opt, int64_t filled, const int32_t* ids,
                        int64_t S, int64_t P);

}  // namespace dsv32
