// Synthetic checkpoints in the real Hugging Face layout (config.json, sharded safetensors with
// model.safetensors.index.json, FP8 e4m3 weights with 128x128 weight_scale_inv blocks), so every
// loader path a real DeepSeek checkpoint takes is exercised on a model that fits a laptop.
//
// Presets: tiny  (seconds on 2 cores; hidden 256, 4 layers of which 1 dense, 16 experts top-4 in
//                 4 groups keeping 2, 8 heads, index_topk 64, the real vocab 129280)
//          small (~0.5 B parameters, for benchmarks)
//          v32   (the real DeepSeek V3.2 shapes; --layers N keeps the first N layers)
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/config.h"

namespace dsv32 {

enum class SynthWeights { kFp8, kBf16, kFp32 };

struct SynthOptions {
  std::string preset = "tiny";
  uint64_t seed = 1;
  SynthWeights weights = SynthWeights::kFp8;
  int layers = 0;               // 0: the preset's own count
  std::string architecture = "DeepseekV32ForCausalLM";  // or DeepseekV3ForCausalLM (no indexer)
  // FP8 block scales: true = power-of-two (ue8m0, as V3.2 ships them); false = amax/448 in fp32,
  // as earlier DeepSeek checkpoints have them (code·scale is then not always bf16-exact).
  bool pow2_scales = true;
  // Routed experts per MoE layer (0: the preset's). Every other dimension stays, so a V3.2-shaped
  // MoE layer with a few experts fits in a few GB while each token does the same work (K routed +
  // the shared expert); n_group shrinks to the largest divisor of it not above the preset's.
  int experts = 0;
};

// n values of the deterministic N(mean, std²) stream of (seed, name) that synth draws every tensor
// from (Box–Muller on splitmix64; identical on every platform).
std::vector<float> synth_normal(uint64_t seed, const std::string& name, int64_t n, double mean, double std);

// The config.json text of a preset (throws Error for an unknown preset).
std::string synth_config_json(const SynthOptions& opt);
// Writes the checkpoint into out_dir (created if needed). progress(done, total) is called per tensor.
void synth_checkpoint(const SynthOptions& opt, const std::string& out_dir,
                      const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace dsv32
