// Test fixture: synthesized tiny checkpoints, generated once per build tree and shared by every
// test executable (DSV32_BUILD_DIR/test-models/<name>). Generation goes to a temporary
// directory that is renamed into place, so concurrent test processes never see half a checkpoint.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

#include "model/synth.h"

namespace dsv32::testing {

inline std::string tiny_checkpoint(SynthWeights w = SynthWeights::kFp8, uint64_t seed = 1,
                                   const std::string& arch = "DeepseekV32ForCausalLM") {
  namespace fs = std::filesystem;
  const char* kind = w == SynthWeights::kFp8 ? "fp8" : w == SynthWeights::kBf16 ? "bf16" : "fp32";
  std::string name = std::string("tiny-") + kind + "-s" + std::to_string(seed) +
                     (arch == "DeepseekV32ForCausalLM" ? "" : "-v3");
  fs::path dir = fs::path(DSV32_BUILD_DIR) / "test-models" / name;
  if (fs::exists(dir / "config.json")) return dir.string();
  fs::path tmp = dir.string() + ".tmp" + std::to_string(getpid());
  SynthOptions o;
  o.preset = "tiny";
  o.seed = seed;
  o.weights = w;
  o.architecture = arch;
  synth_checkpoint(o, tmp.string());
  std::error_code ec;
  fs::rename(tmp, dir, ec);  // another process may have won the race: then use its copy
  if (ec) fs::remove_all(tmp);
  return dir.string();
}

}  // namespace dsv32::testing
