// attend: softmax attention of ONE query over a set of cached positions (the core of both MLA
// paths, dense and sparse).
//
//   q        : fp32 [d_k]
//   key(t)   = keys   + t·key_stride,   d_k floats      (naive: K cache of one head [192];
//   value(t) = values + t·value_stride, d_v floats       absorbed: latent row [c_KV ; k_rope])
//   positions: either the dense causal range [0, n) (index == nullptr) or n explicit positions
//              (sparse: the indexer's top-k, ascending)
//   out      : fp32 [d_v] = Σ_t softmax(scale · q·key(t)) · value(t)
//   probs    : scratch, at least n floats
//   !! positions are visited in the order given, so a sparse call whose index list is 0..n-1 gives
//      bit-identical output to the dense call over [0, n).
//   !! n = 0 (nothing visible, e.g. a pinned selection with no valid entry) writes zeros.
#pragma once
#include <cstdint>

namespace dsv32 {

// The one params struct of the attention core in every numerics profile (attend, attend_mqa and
// attend_ref1 in attention_ref1.h, which alone reads `split`).
struct AttendParams {
  int64_t d_k = 0, d_v = 0;
  int64_t key_stride = 0, value_stride = 0;
  float scale = 1.f;
  int64_t split = 0;  // REF-1: 0 one score product; > 0 two products [0, split) and [split, d_k), summed in bf16
};

void attend(const AttendParams& p, const float* q, const float* keys, const float* values,
            const int32_t* index, int64_t n, float* probs, float* out);

// attend_mqa: `heads` queries sharing one key/value set (absorbed MLA: every head attends to the
// same latent rows). Reads each cache row once for all heads instead of once per head.
//   q     : [heads, d_k] (row stride q_stride);  out: [heads, d_v] (row stride out_stride)
//   probs : scratch, at least heads·(n + 1) floats
//   !! per head, the arithmetic and its order are exactly attend()'s, so the results are
//      bit-identical to calling attend() head by head.
void attend_mqa(const AttendParams& p, int64_t heads, const float* q, int64_t q_stride, const float* keys,
                const float* values, const int32_t* index, int64_t n, float* probs, float* out,
                int64_t out_stride);

}  // namespace dsv32
