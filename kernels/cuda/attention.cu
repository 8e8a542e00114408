// Attention of single queries over cached positions: one thread block per query.
//
// Variants:
//   kBlockPerQuery (this file): 256 threads; q staged in shared memory; pass 1 — one warp per
//     position, lanes stride d_k (coalesced key rows), warp-sum, scores to scratch [n_queries, n];
//     pass 2 — exp(s − max) and the block sum; pass 3 — each thread owns output dims and walks the
//     positions in order (coalesced value rows). Reads every key/value row once PER QUERY: for
//     absorbed decode the 128 heads of a token re-read the same latent rows (L2 absorbs part of it).
//   Not yet: an MQA-shared variant (one block per position chunk × all heads, q̃ in shared memory,
//     wgmma on bf16 latents, split-K over positions + a combine kernel, FlashMLA-style), which
//     reads each latent row once per token.
// Shapes: absorbed decode d_k = 576, d_v = 512, n ≤ 2048 (sparse) or the context (dense).
#include <algorithm>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/check.cuh"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void attend_kernel(AttendBatchParams p, const float* __restrict__ q, const float* __restrict__ keys,
                              const float* __restrict__ values, const int32_t* __restrict__ index,
                              const int32_t* __restrict__ lengths, int64_t n, int64_t probs_stride,
                              float* __restrict__ probs_all,
                              float* __restrict__ out) {
  extern __shared__ float q_s[];  // [d_k]
  __shared__ float red[32];
  const int64_t i = blockIdx.x, g = i / p.group, h = i % p.group;
  const int64_t d_k = p.attn.d_k, d_v = p.attn.d_v;
  const int64_t n_g = lengths ? int64_t(lengths[g]) : n;
  const int32_t* idx = index ? index + g * p.index_stride : nullptr;
  const float* kbase = keys + h * p.key_head_stride;
  const float* vbase = values + h * p.value_head_stride;
  float* probs = probs_all + i * probs_stride;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;

  for (int64_t d = threadIdx.x; d < d_k; d += blockDim.x) q_s[d] = q[i * p.q_stride + d];
  __syncthreads();

  // Pass 1: scores.
  float mx = -INFINITY;
  for (int64_t j = warp; j < n_g; j += n_warps) {
    const int64_t t = idx ? int64_t(idx[j]) : j;
    const float* k = kbase + t * p.attn.key_stride;
    float s = 0.f;
    for (int64_t d = lane; d < d_k; d += 32) s += q_s[d] * k[d];
    s = p.attn.scale * detail::warp_sum(s);
    if (lane == 0) probs[j] = s;
    mx = fmaxf(mx, s);
  }
  mx = detail::block_max(mx, red);  // its barriers also publish pass 1's probs to the block

  // Pass 2: unnormalised probabilities and their sum.
  float sum = 0.f;
  for (int64_t j = threadIdx.x; j < n_g; j += blockDim.x) {
    const float e = expf(probs[j] - mx);
    probs[j] = e;
    sum += e;
  }
  sum = detail::block_sum(sum, red);  // barriers publish pass 2's probs
  const float inv = sum > 0.f ? 1.f / sum : 0.f;  // n_g = 0 (no visible position): zeros, as the CPU op

  // Pass 3: weighted sum of value rows, positions in the order given.
  for (int64_t e = threadIdx.x; e < d_v; e += blockDim.x) {
    float acc = 0.f;
    for (int64_t j = 0; j < n_g; ++j) {
      const int64_t t = idx ? int64_t(idx[j]) : j;
      acc += probs[j] * vbase[t * p.attn.value_stride + e];
    }
    out[i * p.out_stride + e] = acc * inv;
  }
}

}  // namespace

void attend(Context& ctx, const AttendBatchParams& p, const float* q, const float* keys, const float* values,
            const int32_t* index, const int32_t* lengths, int64_t n, float* out) {
  if (p.n_queries <= 0) return;
  if (p.group <= 0) fail("gpu::attend: group must be positive");
  const int64_t probs_stride = std::max<int64_t>(n, 1);
  float* probs = static_cast<float*>(scratch(ctx, size_t(p.n_queries * probs_stride) * 4));
  const size_t smem = size_t(p.attn.d_k) * 4;
  if (smem > 48 * 1024) fail("gpu::attend: d_k > 12288 needs a larger dynamic shared-memory limit");
  attend_kernel<<<unsigned(p.n_queries), kThreads, smem, ctx.stream>>>(p, q, keys, values, index, lengths, n,
                                                                       probs_stride, probs, out);
  DSV32_CUDA_LAUNCH_CHECK("attend");
}

AttendBatchParams mha_params(int64_t heads, int64_t d_k, int64_t d_v, float scale) {
  AttendBatchParams p;
  p.attn = AttendParams{d_k, d_v, heads * d_k, heads * d_v, scale};
  p.q_stride = d_k;
  p.out_stride = d_v;
  p.group = heads;
  p.key_head_stride = d_k;
  p.value_head_stride = d_v;
  return p;
}

AttendBatchParams mqa_params(int64_t heads, int64_t d_k, int64_t d_v, float scale) {
  AttendBatchParams p;
  p.attn = AttendParams{d_k, d_v, d_k, d_k, scale};
  p.q_stride = d_k;
  p.out_stride = d_v;
  p.group = heads;
  return p;
}

void attend_absorbed(Context& ctx, int64_t heads, int64_t r_kv, int64_t d_r, float scale, const float* q,
                     const float* cache, const int32_t* index, int64_t n, float* out) {
  AttendBatchParams p = mqa_params(heads, r_kv + d_r, r_kv, scale);
  p.n_queries = heads;
  attend(ctx, p, q, cache, cache, index, nullptr, n, out);
}

}  // namespace dsv32::gpu
