// Per-token work of one dsv32 bench test (docs/MODEL.md §5.5): the FLOPs of the matrix products a
// token's forward pass runs (from config shapes) plus the context-dependent attention at its
// position, and the weight bytes it reads (from the loaded tensors, data + FP8 scales). Tokens/s
// times these gives GFLOP/s and GB/s, which bench reports as fractions of the in-process peaks.
#pragma once
#include <cstdint>

#include "model/model.h"

namespace dsv32::app {

struct TokenCost {
  double flops = 0;         // per token, averaged over the test's positions
  double weight_bytes = 0;  // per token: every weight matrix the token's path reads once
};

// Multiply-adds of one token's projections at these shapes (no attention over the context, no LM
// head): attention projections, the indexer's in sparse mode, the dense MLP or router + K routed +
// the shared experts, summed over the layers.
double projection_macs(const ModelConfig& c, AttnMode attn);
// Multiply-adds of the attention of one query at 0-based position t (n = t + 1 visible keys) over
// all layers: scores + weighted values (naive: per-head K/V; absorbed: the latent rows), over n keys
// (dense) or min(n, index_topk) (sparse, which adds the indexer's H_I · d_I per visible key).
double attention_macs(const ModelConfig& c, AttnMode attn, MlaMode mla, int64_t t);
// Weight bytes one token's path reads (the LM head only when `with_head`).
double token_weight_bytes(const ModelWeights& w, AttnMode attn, MlaMode mla, bool with_head);
// The cost of n tokens at positions [depth, depth + n): prefill tests run no LM head (with_head
// false), decode tests do.
TokenCost token_cost(const ModelWeights& w, AttnMode attn, MlaMode mla, int64_t depth, int64_t n, bool with_head);

}  // namespace dsv32::app
