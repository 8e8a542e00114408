// dsv32 synth: write a synthetic checkpoint in the real Hugging Face layout.
#include <cstdio>
#include <memory>

#include "app/args.h"
#include "app/command.h"
#include "app/common.h"
#include "kernels/error.h"
#include "model/atomic_file.h"
#include "model/synth.h"

namespace dsv32::app {
namespace {

int run(const std::vector<std::string>& args) {
  SynthOptions o;
  std::string weights = "fp8", out, scales = "ue8m0";
  int64_t seed = 1;
  bool config_only = false;
  ArgParser p("synth",
              "Write a synthetic DeepSeek checkpoint in the Hugging Face layout: config.json,\n"
              "sharded safetensors with model.safetensors.index.json, FP8 e4m3 weights with\n"
              "128x128 weight_scale_inv blocks (or BF16 / FP32). Same seed, same weights.");
  p.add("--preset", &o.preset, "NAME", "tiny | small | v32 (the real V3.2 shapes)");
  p.add("--seed", &seed, "S", "random seed");
  p.add("--weights", &weights, "KIND", "fp8 | bf16 | fp32 (matrices; norms stay fp32)");
  p.add("--layers", &o.layers, "N", "keep only the first N layers (0: the preset's count)");
  p.add("--experts", &o.experts, "N",
        "routed experts per MoE layer (0: the preset's); every other dimension stays, e.g. "
        "--preset v32 --layers 4 --experts 16 is a real-shape model of a few GB");
  p.add("--scales", &scales, "FMT", "FP8 block scales: ue8m0 (powers of two, as V3.2 ships) | amax (amax/448)");
  p.add("--arch", &o.architecture, "NAME", "DeepseekV32ForCausalLM | DeepseekV3ForCausalLM (no indexer)");
  p.add("--out", &out, "DIR", "output directory", true);
  p.add_flag("--config-only", &config_only, "write config.json only (e.g. to inspect v32 shapes)");
  p.epilog("examples:\n  dsv32 synth --preset tiny --seed 1 --weights fp8 --out models/tiny\n"
           "  dsv32 synth --preset v32 --layers 4 --experts 16 --out /big/disk/v32-4l-e16");
  if (!p.parse(args)) return 0;
  if (weights == "fp8") o.weights = SynthWeights::kFp8;
  else if (weights == "bf16") o.weights = SynthWeights::kBf16;
  else if (weights == "fp32") o.weights = SynthWeights::kFp32;
  else fail("--weights: '" + weights + "' is not one of fp8, bf16, fp32");
  if (scales != "ue8m0" && scales != "amax") fail("--scales: '" + scales + "' is not one of ue8m0, amax");
  o.pow2_scales = scales == "ue8m0";
  o.seed = uint64_t(seed);
  if (config_only) {
    write_file_atomic(out + "/config.json", synth_config_json(o));
    return 0;
  }
  std::unique_ptr<Progress> bar;  // created at the first callback, when the shard count is known
  synth_checkpoint(o, out, [&](int64_t done, int64_t total) {
    if (!bar) bar = std::make_unique<Progress>("synth " + o.preset, total);
    bar->update(done);
  });
  if (bar) bar->finish();
  std::printf("wrote %s (preset %s, seed %llu, weights %s)\n", out.c_str(), o.preset.c_str(),
              (unsigned long long)o.seed, weights.c_str());
  return 0;
}

const Command kCmd{"synth", "write a synthetic checkpoint (tiny | small | v32) in HF layout", &run};

}  // namespace
}  // namespace dsv32::app
