// gpu::mla_decode — absorbed (MQA-mode) MLA decode on tensor cores over a bf16 latent cache
// (MODEL §6.4, §6.5), flash-decoding style: split-K over key chunks, then a combine kernel.
//
//   S query tokens (S ≤ 4), H heads (H % 16 == 0: 128 at V3.2, 16 or 8·2 in the small presets),
//   D = r_kv + d_r = 512 + 64 = 576 (fixed: the kernel's tiles are built for these widths).
//     q      : bf16 [S, H, 576]  = [q̃_h ; q_rope_h] per head (gpu::convert_to_bf16, elementwise.h, makes it)
//     cache  : bf16 [T, cache_stride], row t = [c_KV(t) 512 ; k_rope(t) 64], cache_stride ≥ 576, % 8 == 0
//     entries of query s: n_s = lengths ? lengths[s] : n
//       dense   (index == nullptr): positions j for j < n_s
//       indexed (index != nullptr): positions index[s·index_stride + j] for j < n_s; entries < 0 are
//                                   padding and skipped (the indexer's top-k, −1 padded)
//     out    : fp32 [S, H, 512] = Σ_t softmax_t(scale · q_h·cache(t)) · c_KV(t)
//   !! n_s = 0, or every entry −1: out = 0 for that query (not NaN; the CPU attend would give 0/0).
//   !! q·k on bf16 tensor cores with fp32 accumulation; scale, max, exp and the sums in fp32; the
//      probabilities are rounded to bf16 for P·V (relative 2^-9 per weight; the row sum is fp32).
//   !! all pointers are device pointers, 16-byte aligned; positions must be < T (not checked).
//
// Tiles and shared memory (mla_decode.cu has the details): a CTA takes one query, a group of
// HG = 64 heads (or 48/32/16, the largest that divides H) and a contiguous range of entries,
// streamed 32 latent rows at a time through a 3-stage cp.async ring:
//     q̃ group [HG, 584] bf16 (rows padded 576 → 584: ldmatrix without bank conflicts)  74,752 B
//     latent ring 3 × [32, 584] bf16                                                 112,128 B
//     scores [HG, 32] fp32, P [HG, 40] bf16, α [HG], positions 3 × [32]                13,952 B
//   = 200,832 B at HG = 64 (one CTA per SM). For H = 128 the two head groups of one chunk are
//   adjacent CTAs, so each latent row comes from HBM once and from L2 twice.
// Splits: num_splits = 0 picks ⌊SMs / (S·H/HG)⌋ chunks (one wave), at most one per 32 entries.
// With one split the kernel writes out directly; otherwise fp32 partials (o, max, sum) go to the
// context's scratch and a combine kernel merges them in split order (deterministic).
#pragma once
#include <cstdint>

#include "kernels/cuda/context.h"
#include "kernels/cuda/elementwise.h"  // convert_to_bf16: the bf16 cache rows and q

namespace dsv32::gpu {

struct MlaDecodeParams {
  int64_t heads = 0;           // H, a multiple of 16
  int64_t n_queries = 1;       // S, 1 … 4
  int64_t n = 0;               // entries per query (dense: the context length; indexed: the top-k)
  int64_t index_stride = 0;    // int32s between consecutive queries' index rows (0 → n)
  int64_t cache_stride = 576;  // bf16 elements between latent rows
  float scale = 1.f;           // softmax scale (MODEL §6.2)
  int64_t num_splits = 0;      // key chunks per (query, head group); 0 → automatic
};

inline constexpr int64_t kMlaLatentDim = 512, kMlaRopeDim = 64, kMlaRowDim = 576;

// index: int32 [S, index_stride] or nullptr (dense); lengths: int32 [S] or nullptr (all n).
void mla_decode(Context& ctx, const MlaDecodeParams& p, const uint16_t* q_bf16, const uint16_t* cache_bf16,
                const int32_t* index, const int32_t* lengths, float* out);

// The splits mla_decode would use for p on this device (for benchmarks and tests).
int64_t mla_decode_splits(Context& ctx, const MlaDecodeParams& p);

}  // namespace dsv32::gpu
