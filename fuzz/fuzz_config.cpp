// libFuzzer target: config.json parsing (model/config.cpp), then the arithmetic that every
// accepted config feeds: softmax scale, MoE layer map, KV-cache bytes per token in each mode
// (UBSan aborts on a signed overflow there).
#include <cmath>
#include <string>

#include "fuzz/fuzz_util.h"
#include "model/config.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  dsv32::fuzz::expect_ok_or_error([&] {
    const dsv32::ModelConfig c = dsv32::parse_config(text, "fuzz/config.json");
    volatile double s = c.softmax_scale();
    (void)s;
    int moe = 0;
    for (int l = 0; l < c.n_layers; ++l) moe += c.is_moe_layer(l);
    (void)moe;
    for (auto a : {dsv32::AttnMode::kDense, dsv32::AttnMode::kSparse}) {
      if (a == dsv32::AttnMode::kSparse && !c.has_indexer) continue;
      for (auto m : {dsv32::MlaMode::kNaive, dsv32::MlaMode::kAbsorbed}) {
        volatile int64_t b = dsv32::kv_cache_bytes(c, m, a).per_token;
        (void)b;
      }
    }
  });
  return 0;
}
