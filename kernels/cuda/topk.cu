// Top-k per row by radix select on order-preserving keys, then an index-ordered compaction.
//
// Variants:
//   kRadixBlockPerRow (this file): one block of 1024 threads per row.
//     1. key(s) = order-preserving uint32 of the score (NaN → −inf, −0 → +0 first).
//     2. Four 8-bit MSB-first histogram passes (shared-memory atomics) find T, the key of the k-th
//        largest entry, and k_eq, how many entries equal to T are needed (all entries with key > T
//        are taken: k − k_eq of them).
//     3. One pass in index order (cub::BlockScan over 1024-element tiles) keeps key > T, and the
//        first k_eq entries with key == T — i.e. the lower positions win ties — writing positions
//        ascending, exactly the CPU op's set and order.
//   Reads a row 5 times (L2-resident for the indexer's rows: 128K fp32 = 512 KB).
//   Not yet: a multi-block-per-row variant for few very long rows, and fusing the first histogram
//     pass into indexer_scores.
#include <cub/block/block_scan.cuh>

#include <algorithm>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/topk.h"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 1024;

__device__ __forceinline__ uint32_t order_key(float s) {
  if (isnan(s)) s = -INFINITY;
  if (s == 0.f) s = 0.f;  // −0 → +0: they compare equal on the CPU
  const uint32_t u = __float_as_uint(s);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__global__ void __launch_bounds__(kThreads) topk_kernel(TopkParams p, const float* __restrict__ scores,
                                                         const int32_t* __restrict__ lengths,
                                                         int32_t* __restrict__ out, int32_t* __restrict__ counts) {
  using Scan = cub::BlockScan<int, kThreads>;
  __shared__ typename Scan::TempStorage scan_tmp;
  __shared__ int hist[256];
  __shared__ uint32_t s_prefix, s_mask;
  __shared__ int s_krem, s_carry[2];

  const int64_t r = blockIdx.x;
  const int64_t n = lengths ? int64_t(lengths[r]) : p.n;
  const int64_t k = std::min(p.k, n);
  const float* row = scores + r * p.scores_stride;
  int32_t* o = out + r * p.out_stride;
  if (threadIdx.x == 0 && counts) counts[r] = int32_t(k);
  if (k <= 0) return;
  if (k == n) {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) o[i] = int32_t(i);
    return;
  }

  // 2. Radix select of the k-th largest key.
  if (threadIdx.x == 0) { s_prefix = 0; s_mask = 0; s_krem = int(k); }
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
    __syncthreads();
    const uint32_t prefix = s_prefix, mask = s_mask;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const uint32_t key = order_key(row[i]);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int above = 0, b = 255;
      for (; b > 0 && above + hist[b] < s_krem; --b) above += hist[b];
      s_krem -= above;
      s_prefix = prefix | (uint32_t(b) << shift);
      s_mask = mask | (255u << shift);
    }
    __syncthreads();
  }
  const uint32_t T = s_prefix;
  const int k_eq = s_krem;

  // 3. Compaction in index order.
  if (threadIdx.x == 0) { s_carry[0] = 0; s_carry[1] = 0; }  // equals seen, entries written
  __syncthreads();
  for (int64_t base = 0; base < n; base += kThreads) {
    const int64_t i = base + threadIdx.x;
    const uint32_t key = i < n ? order_key(row[i]) : 0u;
    const bool gt = i < n && key > T, eq = i < n && key == T;
    int eq_rank, eq_total;
    Scan(scan_tmp).ExclusiveSum(int(eq), eq_rank, eq_total);
    __syncthreads();
    const bool take = gt || (eq && s_carry[0] + eq_rank < k_eq);
    int pos, taken;
    Scan(scan_tmp).ExclusiveSum(int(take), pos, taken);
    if (take) o[s_carry[1] + pos] = int32_t(i);
    __syncthreads();
    if (threadIdx.x == 0) { s_carry[0] += eq_total; s_carry[1] += taken; }
    __syncthreads();
  }
}

}  // namespace

void topk(Context& ctx, const TopkParams& p_in, const float* scores, const int32_t* lengths, int32_t* out,
          int32_t* counts) {
  TopkParams p = p_in;
  if (p.rows <= 0) return;
  if (p.scores_stride == 0) p.scores_stride = p.n;
  if (p.out_stride == 0) p.out_stride = p.k;
  if (p.n >= (int64_t(1) << 31)) fail("gpu::topk: rows longer than 2^31 entries");
  topk_kernel<<<unsigned(p.rows), kThreads, 0, ctx.stream>>>(p, scores, lengths, out, counts);
  DSV32_CUDA_LAUNCH_CHECK("topk");
}

}  // namespace dsv32::gpu
