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
//   kMultiBlock (below): the four-kernel pipeline described in topk.h for few long rows (decode:
//     one 128K row); the same keys, T, k_eq and index-ordered compaction, so the output is identical.
//   Not yet: fusing the first histogram pass into indexer_scores.
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
  if (threadIdx.x == 0 && counts) counts[r] = int32_t(k > 0 ? k : 0);  // a negative length selects nothing, as the multi-block path
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

// ---- kMultiBlock ------------------------------------------------------------------------------
constexpr int kMbThreads = 512, kMbSlice = 4096, kMbMaxSlices = 256;
constexpr int kBins1 = 2048;  // pass 1: key bits 31…21; select refines bits 20…10 (2048), 9…0 (1024)
constexpr int64_t kMultiMaxRows = 32, kMultiMinN = 16384;

struct MultiArgs {
  TopkParams p;
  const float* scores;
  const int32_t* lengths;
  int32_t* out;
  int32_t* counts;
  uint2* cand;          // [rows, n] (key, position) of the entries in bin b₁
  int* hist1;           // [rows, kBins1]                 (zeroed before pass 1)
  int* cand_count;      // [rows]                         (zeroed before pass 1)
  int* slice_gt;        // [rows, slices] entries above b₁ per slice (pass 2)
  int* slice_off;       // [rows, slices] output offset of the slice (pass 3)
  int* slice_eq_before; // [rows, slices] entries == T in earlier slices (pass 3)
  uint32_t* thr;        // [rows] T
  int* k_eq;            // [rows]
  int64_t slice;
  int slices;
};

struct RowInfo {
  int64_t n, k;
  __device__ bool trivial() const { return k <= 0 || k == n; }  // nothing, or the whole row
};
__device__ __forceinline__ RowInfo row_info(const MultiArgs& a, int64_t r) {
  const int64_t n = a.lengths ? int64_t(a.lengths[r]) : a.p.n;
  return {n, std::min(a.p.k, n)};
}

// Block-wide: the bin holding the krem-th largest entry of hist[0, NBINS) (counted from the top),
// and how many entries of that bin are still needed. Every thread gets both.
template <int THREADS, int NBINS>
__device__ void find_bin(const int* hist, int krem, int* s_bin, int* s_krem) {
  constexpr int kPer = NBINS / THREADS;
  static_assert(NBINS % THREADS == 0, "bins per thread");
  using Scan = cub::BlockScan<int, THREADS>;
  __shared__ typename Scan::TempStorage tmp;
  int local = 0;  // thread i owns bins NBINS−1−kPer·i … (descending)
#pragma unroll
  for (int j = 0; j < kPer; ++j) local += hist[NBINS - 1 - (kPer * int(threadIdx.x) + j)];
  int above;
  Scan(tmp).ExclusiveSum(local, above);
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const int b = NBINS - 1 - (kPer * int(threadIdx.x) + j), h = hist[b];
    if (above < krem && above + h >= krem) {
      *s_bin = b;
      *s_krem = krem - above;
    }
    above += h;
  }
  __syncthreads();
}

__global__ void __launch_bounds__(kMbThreads) topk_mb_hist(MultiArgs a) {
  __shared__ int h[kBins1];
  const int64_t r = blockIdx.y;
  const RowInfo ri = row_info(a, r);
  if (ri.trivial()) return;
  for (int b = threadIdx.x; b < kBins1; b += kMbThreads) h[b] = 0;
  __syncthreads();
  const float* row = a.scores + r * a.p.scores_stride;
  const int64_t end = std::min(ri.n, (int64_t(blockIdx.x) + 1) * a.slice);
  for (int64_t i = int64_t(blockIdx.x) * a.slice + threadIdx.x; i < end; i += kMbThreads)
    atomicAdd(&h[order_key(row[i]) >> 21], 1);
  __syncthreads();
  for (int b = threadIdx.x; b < kBins1; b += kMbThreads)
    if (h[b]) atomicAdd(&a.hist1[r * kBins1 + b], h[b]);
}

__global__ void __launch_bounds__(kMbThreads) topk_mb_gather(MultiArgs a) {
  __shared__ int h[kBins1];
  __shared__ int s_bin, s_krem, s_above;
  const int64_t r = blockIdx.y;
  const RowInfo ri = row_info(a, r);
  if (ri.trivial()) return;
  if (threadIdx.x == 0) s_above = 0;
  for (int b = threadIdx.x; b < kBins1; b += kMbThreads) h[b] = a.hist1[r * kBins1 + b];
  __syncthreads();
  find_bin<kMbThreads, kBins1>(h, int(ri.k), &s_bin, &s_krem);
  const uint32_t b1 = uint32_t(s_bin);
  const float* row = a.scores + r * a.p.scores_stride;
  const int64_t end = std::min(ri.n, (int64_t(blockIdx.x) + 1) * a.slice);
  int above = 0;
  for (int64_t i = int64_t(blockIdx.x) * a.slice + threadIdx.x; i < end; i += kMbThreads) {
    const uint32_t key = order_key(row[i]), top = key >> 21;
    if (top > b1) {
      ++above;
    } else if (top == b1) {
      const int at = atomicAdd(&a.cand_count[r], 1);
      a.cand[r * a.p.n + at] = make_uint2(key, uint32_t(i));
    }
  }
  atomicAdd(&s_above, above);  // integer adds: order-independent
  __syncthreads();
  if (threadIdx.x == 0) a.slice_gt[r * a.slices + blockIdx.x] = s_above;
}

__global__ void __launch_bounds__(kThreads) topk_mb_select(MultiArgs a) {
  __shared__ int h[kBins1];
  __shared__ int s_bin, s_krem;
  __shared__ int gt_c[kMbMaxSlices], eq_c[kMbMaxSlices];
  const int64_t r = blockIdx.x;
  const RowInfo ri = row_info(a, r);
  if (threadIdx.x == 0 && a.counts) a.counts[r] = int32_t(std::max<int64_t>(ri.k, 0));
  if (ri.trivial()) return;
  for (int b = threadIdx.x; b < kBins1; b += kThreads) h[b] = a.hist1[r * kBins1 + b];
  __syncthreads();
  find_bin<kThreads, kBins1>(h, int(ri.k), &s_bin, &s_krem);
  uint32_t prefix = uint32_t(s_bin) << 21, mask = 0xFFE00000u;
  const int n_cand = a.cand_count[r];
  const uint2* cand = a.cand + r * a.p.n;
  for (int pass = 0; pass < 2; ++pass) {  // bits 20…10, then 9…0
    const int shift = pass == 0 ? 10 : 0, bins = pass == 0 ? 2048 : 1024;
    const int krem = s_krem;
    __syncthreads();  // every thread has read s_krem and finished with h
    for (int b = threadIdx.x; b < kBins1; b += kThreads) h[b] = 0;
    __syncthreads();
    for (int c = threadIdx.x; c < n_cand; c += kThreads) {
      const uint32_t key = cand[c].x;
      if ((key & mask) == prefix) atomicAdd(&h[(key >> shift) & uint32_t(bins - 1)], 1);
    }
    __syncthreads();
    if (pass == 0)
      find_bin<kThreads, 2048>(h, krem, &s_bin, &s_krem);
    else
      find_bin<kThreads, 1024>(h, krem, &s_bin, &s_krem);
    prefix |= uint32_t(s_bin) << shift;
    mask |= uint32_t(bins - 1) << shift;
  }
  const uint32_t T = prefix;
  const int k_eq = s_krem;

  // Per slice: candidates above T and equal to T, then the slices' offsets in index order.
  for (int b = threadIdx.x; b < a.slices; b += kThreads) { gt_c[b] = 0; eq_c[b] = 0; }
  __syncthreads();
  for (int c = threadIdx.x; c < n_cand; c += kThreads) {
    const uint2 e = cand[c];
    const int sl = int(int64_t(e.y) / a.slice);
    if (e.x > T) atomicAdd(&gt_c[sl], 1);
    else if (e.x == T) atomicAdd(&eq_c[sl], 1);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int off = 0, eq_before = 0;
    for (int b = 0; b < a.slices; ++b) {
      a.slice_off[r * a.slices + b] = off;
      a.slice_eq_before[r * a.slices + b] = eq_before;
      off += a.slice_gt[r * a.slices + b] + gt_c[b] + std::min(std::max(k_eq - eq_before, 0), eq_c[b]);
      eq_before += eq_c[b];
    }
    a.thr[r] = T;
    a.k_eq[r] = k_eq;
  }
}

__global__ void __launch_bounds__(kMbThreads) topk_mb_write(MultiArgs a) {
  using Scan = cub::BlockScan<int, kMbThreads>;
  __shared__ typename Scan::TempStorage tmp;
  const int64_t r = blockIdx.y;
  const RowInfo ri = row_info(a, r);
  if (ri.k <= 0) return;
  int32_t* o = a.out + r * a.p.out_stride;
  const int64_t begin = int64_t(blockIdx.x) * a.slice, end = std::min(ri.n, begin + a.slice);
  if (ri.k == ri.n) {
    for (int64_t i = begin + threadIdx.x; i < end; i += kMbThreads) o[i] = int32_t(i);
    return;
  }
  const float* row = a.scores + r * a.p.scores_stride;
  const uint32_t T = a.thr[r];
  const int k_eq = a.k_eq[r];
  int eq_seen = a.slice_eq_before[r * a.slices + blockIdx.x], written = a.slice_off[r * a.slices + blockIdx.x];
  for (int64_t base = begin; base < end; base += kMbThreads) {
    const int64_t i = base + threadIdx.x;
    const uint32_t key = i < end ? order_key(row[i]) : 0u;
    const bool gt = i < end && key > T, eq = i < end && key == T;
    int eq_rank, eq_total, pos, taken;
    Scan(tmp).ExclusiveSum(int(eq), eq_rank, eq_total);
    __syncthreads();
    const bool take = gt || (eq && eq_seen + eq_rank < k_eq);
    Scan(tmp).ExclusiveSum(int(take), pos, taken);
    __syncthreads();
    if (take) o[written + pos] = int32_t(i);
    eq_seen += eq_total;
    written += taken;
  }
}

void topk_multi_block(Context& ctx, const TopkParams& p, const float* scores, const int32_t* lengths, int32_t* out,
                      int32_t* counts) {
  MultiArgs a{};
  a.p = p;
  a.scores = scores;
  a.lengths = lengths;
  a.out = out;
  a.counts = counts;
  a.slices = int(std::min<int64_t>(kMbMaxSlices, detail::ceil_div(p.n, kMbSlice)));
  a.slice = detail::ceil_div(detail::ceil_div(p.n, a.slices), kMbThreads) * kMbThreads;
  a.slices = int(detail::ceil_div(p.n, a.slice));
  const int64_t R = p.rows, S = a.slices;
  const size_t cand_bytes = size_t(R * p.n) * 8, zeroed_ints = size_t(R * kBins1 + R);
  char* buf = static_cast<char*>(scratch(ctx, cand_bytes + 4 * (zeroed_ints + size_t(3 * R * S + 2 * R))));
  a.cand = reinterpret_cast<uint2*>(buf);
  a.hist1 = reinterpret_cast<int*>(buf + cand_bytes);
  a.cand_count = a.hist1 + R * kBins1;
  a.slice_gt = a.cand_count + R;
  a.slice_off = a.slice_gt + R * S;
  a.slice_eq_before = a.slice_off + R * S;
  a.thr = reinterpret_cast<uint32_t*>(a.slice_eq_before + R * S);
  a.k_eq = reinterpret_cast<int*>(a.thr + R);
  DSV32_CUDA_CHECK(cudaMemsetAsync(a.hist1, 0, 4 * zeroed_ints, ctx.stream));
  const dim3 grid{unsigned(S), unsigned(R)};
  topk_mb_hist<<<grid, kMbThreads, 0, ctx.stream>>>(a);
  DSV32_CUDA_LAUNCH_CHECK("topk hist");
  topk_mb_gather<<<grid, kMbThreads, 0, ctx.stream>>>(a);
  DSV32_CUDA_LAUNCH_CHECK("topk gather");
  topk_mb_select<<<unsigned(R), kThreads, 0, ctx.stream>>>(a);
  DSV32_CUDA_LAUNCH_CHECK("topk select");
  topk_mb_write<<<grid, kMbThreads, 0, ctx.stream>>>(a);
  DSV32_CUDA_LAUNCH_CHECK("topk write");
}

}  // namespace

void topk(Context& ctx, const TopkParams& p_in, const float* scores, const int32_t* lengths, int32_t* out,
          int32_t* counts) {
  TopkParams p = p_in;
  if (p.rows <= 0) return;
  if (p.scores_stride == 0) p.scores_stride = p.n;
  if (p.out_stride == 0) p.out_stride = p.k;
  if (p.n >= (int64_t(1) << 31)) fail("gpu::topk: rows longer than 2^31 entries");
  if (p.k < 0) fail("gpu::topk: k must be ≥ 0");
  const bool multi = p.impl == TopkImpl::kMultiBlock ||
                     (p.impl == TopkImpl::kAuto && p.rows <= kMultiMaxRows && p.n >= kMultiMinN);
  if (multi && p.n > 0) {
    topk_multi_block(ctx, p, scores, lengths, out, counts);
    return;
  }
  topk_kernel<<<unsigned(p.rows), kThreads, 0, ctx.stream>>>(p, scores, lengths, out, counts);
  DSV32_CUDA_LAUNCH_CHECK("topk");
}

}  // namespace dsv32::gpu
