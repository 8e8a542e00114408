// gpu::attend — the CUDA twin of kernels/cpu/attention.h attend, batched over queries; and
// gpu::attend_absorbed, its use for absorbed (MQA-mode) MLA decode over the latent cache (MODEL §6.4).
//
//   query i (i < n_queries): group g = i / group, head h = i % group
//     q(i)     = q + i·q_stride                                     d_k floats
//     key(t)   = keys   + h·key_head_stride   + t·key_stride        d_k floats
//     value(t) = values + h·value_head_stride + t·value_stride      d_v floats
//     positions: index == nullptr → the dense range [0, n_g); else index + g·index_stride, n_g entries
//     n_g      = lengths ? lengths[g] : n                           (lengths: device int32 [groups])
//     out(i)   = out + i·out_stride = Σ_t softmax(scale · q(i)·key(t)) · value(t)     fp32 [d_v]
//   Absorbed decode:  keys = values = latent cache [T, r_kv + d_r] (c_KV ; k_rope), d_k = 576,
//     d_v = 512, key_head_stride = value_head_stride = 0 (one key shared by all heads: MQA),
//     q = [q̃_h ; q_rope_h] [heads, 576], group = heads, index = the indexer's top-k (or nullptr).
//   Naive (MHA) prefill: per-head K/V caches via key_head_stride/value_head_stride, lengths = the
//     causal prefix of each token.
//   !! all pointers are device pointers; positions in index must be < the cache length.
//   !! fp32 scores and softmax (expf); the summation order differs from the CPU op.
#pragma once
#include <cstdint>

#include "kernels/cpu/attention.h"
#include "kernels/cuda/context.h"

namespace dsv32::gpu {

struct AttendBatchParams {
  AttendParams attn;                      // d_k, d_v, key_stride, value_stride, scale
  int64_t n_queries = 1;
  int64_t q_stride = 0, out_stride = 0;   // floats between consecutive queries / outputs
  int64_t group = 1;                      // consecutive queries sharing one position list
  int64_t key_head_stride = 0, value_head_stride = 0;
  int64_t index_stride = 0;               // int32s between the index rows of consecutive groups
};

// The two MLA layouts, every field set except n_queries and index_stride (the caller's batch):
//   mha_params: naive MLA. q [tokens, heads, d_k]; K cache [T, heads, d_k] and V cache
//               [T, heads, d_v] (per-head rows); out [tokens, heads, d_v]; group = heads.
//   mqa_params: absorbed MLA. q [tokens, heads, d_k]; ONE latent row [T, d_k] per position is every
//               head's key, its first d_v floats the value; out [tokens, heads, d_v].
AttendBatchParams mha_params(int64_t heads, int64_t d_k, int64_t d_v, float scale);
AttendBatchParams mqa_params(int64_t heads, int64_t d_k, int64_t d_v, float scale);

// n: positions per group when lengths == nullptr, else the largest lengths[g] (sizes scratch).
void attend(Context& ctx, const AttendBatchParams& p, const float* q, const float* keys, const float* values,
            const int32_t* index, const int32_t* lengths, int64_t n, float* out);

// Absorbed MLA decode for one token: q [heads, r_kv + d_r], cache [T, r_kv + d_r], out [heads, r_kv].
void attend_absorbed(Context& ctx, int64_t heads, int64_t r_kv, int64_t d_r, float scale, const float* q,
                     const float* cache, const int32_t* index, int64_t n, float* out);

}  // namespace dsv32::gpu
