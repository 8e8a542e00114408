// Size products from a config go through model/checked.h (issue 11): the parser caps each
// dimension (2^20, heads 2^16, layers 4096), under which these sizes fit int64; a ModelConfig
// built past those caps -- what the caps exist to stop -- must throw, not wrap. Without the checked
// multiply, the naive KV bytes below are 2^30 heads x (3 x 2^20) x 4 bytes x 2^20 layers = 3 x 2^72,
// whose low 64 bits are 0: a "0 bytes per token" cache.
#include <gtest/gtest.h>

#include <string>

#include "kernels/error.h"
#include "model/checked.h"
#include "model/config.h"
#include "model/model.h"
#include "model/synth.h"

namespace dsv32 {
namespace {

ModelConfig tiny() {
  SynthOptions o;
  return parse_config(synth_config_json(o), "preset tiny");
}

TEST(CheckedSizes, HelpersThrowOnOverflowAndNegativeFactors) {
  EXPECT_EQ(checked_mul(int64_t(1) << 31, int64_t(1) << 31, "w"), int64_t(1) << 62);
  EXPECT_THROW(checked_mul(int64_t(1) << 32, int64_t(1) << 31, "w"), Error);
  EXPECT_THROW(checked_mul(-1, 2, "w"), Error);
  EXPECT_EQ(checked_sum({1, 2, 3}, "w"), 6);
  EXPECT_THROW(checked_sum({INT64_MAX, 1}, "w"), Error);
  EXPECT_THROW(checked_product({int64_t(1) << 40, int64_t(1) << 30}, "w"), Error);
  try {
    checked_product({int64_t(1) << 40, int64_t(1) << 30}, "f.json: KV");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f.json: KV"), std::string::npos) << e.what();
  }
}

TEST(CheckedSizes, KvCacheBytesOfAValidConfigAreUnchanged) {
  const ModelConfig c = tiny();
  const KvBytes k = kv_cache_bytes(c, MlaMode::kNaive, AttnMode::kSparse);
  EXPECT_EQ(k.mla_per_layer, int64_t(c.n_heads) * (c.qk_head_dim() + c.v_head_dim) * 4);
  EXPECT_EQ(k.indexer_per_layer, c.index_head_dim * 4);
  EXPECT_EQ(k.per_token, (k.mla_per_layer + k.indexer_per_layer) * c.n_layers);
  const KvBytes a = kv_cache_bytes(c, MlaMode::kAbsorbed, AttnMode::kDense);
  EXPECT_EQ(a.per_token, (c.kv_lora_rank + c.qk_rope_head_dim) * 4 * c.n_layers);
  EXPECT_EQ(a.indexer_per_layer, 0);
}

TEST(CheckedSizes, KvCacheBytesPastTheParserCapsThrowInsteadOfWrapping) {
  ModelConfig c = tiny();
  c.source = "big/config.json";
  c.n_heads = 1 << 30;
  c.qk_nope_head_dim = c.qk_rope_head_dim = c.v_head_dim = int64_t(1) << 20;
  c.n_layers = 1 << 20;
  // The product a plain int64 multiply would form (as unsigned, to show it without UB): it wraps.
  const uint64_t wrapped = uint64_t(c.n_heads) * uint64_t(3 << 20) * 4u * uint64_t(c.n_layers);
  EXPECT_EQ(wrapped, 0u);
  try {
    kv_cache_bytes(c, MlaMode::kNaive, AttnMode::kDense);
    FAIL() << "wrapped instead of throwing";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("big/config.json: KV-cache bytes per token"), std::string::npos) << e.what();
  }
  EXPECT_THROW(kv_cache_bytes(c, MlaMode::kNaive, AttnMode::kSparse), Error);
}

}  // namespace
}  // namespace dsv32
