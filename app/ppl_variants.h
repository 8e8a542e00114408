// What `dsv32 ppl --modes` runs side by side, and the unigram baseline of `--unigram-from`.
//
// A variant is "ATTN/MLA" with optional ":TAG" suffixes, e.g. "sparse/absorbed:k16:ref1":
//   exact | ref1 | bf16 | fp8   the numerics profile (default: --numerics)
//   kN                          index_topk = N for this variant (default: --index-topk, else config.json)
//   random-indexer              every lightning indexer re-drawn at random, same shapes
//                               (WeightOverrides::random_indexer_seed, model/weights.h)
// The first variant is the base the others' KL divergence is measured against. `--compare` is
// the list dense/naive,dense/absorbed,sparse/naive,sparse/absorbed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"

namespace dsv32::app {

struct PplVariant {
  AttnMode attn = AttnMode::kDense;
  MlaMode mla = MlaMode::kAbsorbed;
  std::string numerics;      // profile name
  int64_t index_topk = 0;    // 0: the checkpoint's (or --index-topk)
  bool random_indexer = false;
  std::string label;         // the spec as given, e.g. "sparse/absorbed:k16"
};

// Parses a comma-separated list; throws Error naming --modes and the bad item. numerics and
// index_topk are the defaults for variants that do not name their own.
std::vector<PplVariant> parse_variants(const std::string& list, const std::string& numerics, int64_t index_topk);

// Add-one (Laplace) unigram model over the whole vocabulary V from the token counts of the
// training text: p(t) = (c_t + 1) / (N + V). Tokens never seen in training keep probability
// 1/(N + V), so the held-out NLL is finite.
struct Unigram {
  std::vector<int64_t> counts;  // [V]
  int64_t total = 0;            // N
  std::vector<std::string> files;
  double logp(int32_t t) const;
};
// Counts the tokens of `path` (a file, or every *.txt directly in a directory, sorted by name),
// each file tokenized without BOS. Tokens >= V are an Error naming the file.
Unigram unigram_from(const std::string& path, const std::string& tokenizer, int64_t V);

}  // namespace dsv32::app
