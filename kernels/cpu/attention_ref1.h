// attend_ref1: softmax attention with the REF-1 bf16 rounding points (MODEL §6.6, §10 rows 17–19
// and the decode replacement), for `heads` queries that share one key/value set. The exact-profile
// twin is attend/attend_mqa (attention.h); this one exists only for dump matching.
//
//   q        : [heads, d_k] (row stride q_stride), bf16-valued
//   key(t)   = keys + t·key_stride, value(t) = values + t·value_stride (positions as in attend():
//              [0, n) when index == nullptr, else the n listed positions)
//   split == 0  (prefill / naive MLA):  a_t = bf16( bf16(q·key(t)) · scale )
//   split  > 0  (decode / absorbed MLA, split = r_kv):
//               a_t = bf16( bf16( bf16(q[:split]·key(t)[:split]) + bf16(q[split:]·key(t)[split:]) ) · scale )
//   p_t  = bf16( exp(a_t − max a) / Σ exp(a − max a) )        softmax in fp32, output bf16
//   out  = bf16( Σ_t p_t · value(t) )                          fp32 accumulation, [heads, d_v]
//   probs: scratch, at least heads·(n + 1) floats
//   !! unlike attend(), the probabilities are normalised (and rounded) BEFORE the value product,
//      as REF-1's softmax → einsum does; masked positions are simply absent (REF adds −inf).
//   !! per head, the result depends only on that head's query, so it is the same for any `heads`
//      blocking, and dots use vec::dot's fixed order.
#pragma once
#include <cstdint>

#include "kernels/cpu/attention.h"

namespace dsv32 {

// p: AttendParams (attention.h), whose `split` selects the prefill or decode points above.
void attend_ref1(const AttendParams& p, int64_t heads, const float* q, int64_t q_stride,
                 const float* keys, const float* values, const int32_t* index, int64_t n, float* probs,
                 float* out, int64_t out_stride);

}  // namespace dsv32
