// gpu::topk — the CUDA twin of kernels/cpu/indexer.h indexer_topk, per row.
//
//   row r < rows: scores + r·scores_stride, n_r = lengths ? lengths[r] : n entries
//   out + r·out_stride: the positions of the k_r = min(k, n_r) largest scores, ASCENDING;
//   counts[r] = k_r (counts may be nullptr).
//   !! Ties exactly as the CPU op: score descending, then the LOWER position wins; −0 == +0; NaN is
//      treated as −inf (the CPU key() maps NaN to −inf, so NaN ties with −inf).
//   All pointers are device pointers.
// Variants (TopkImpl; kAuto picks kMultiBlock for few long rows — rows ≤ 32 and n ≥ 16384 — else
// kBlockPerRow; both give identical output, and the tests run both):
//   kBlockPerRow : one 1024-thread block per row, four 8-bit radix passes, then the compaction.
//   kMultiBlock  : a row is cut into slices of ≤ 4096 entries, one 512-thread block each:
//     1. hist     : global histogram of the top 11 key bits (shared-memory histogram per block,
//                   non-zero bins added to the row's global one)
//     2. gather   : every block finds the bin b₁ holding the k-th largest key, counts its entries
//                   above b₁ and appends those IN b₁ (key, position) to a candidate list
//     3. select   : one block per row finishes the radix select on the candidates (11 + 10 bits),
//                   giving T and k_eq, and the output offset of every slice (index order)
//     4. write    : every block writes its slice's taken positions, ascending, at its offset
//     The row is read three times (L2-resident); the candidates are the entries sharing b₁
//     (~1 % of the row for Gaussian-like scores; every entry in the worst case, all equal).
//   Scratch: rows·(8n + 4·2048 + 12·slices + 16) bytes from the context.
#pragma once
#include <cstdint>

#include "kernels/cuda/context.h"

namespace dsv32::gpu {

enum class TopkImpl { kAuto, kBlockPerRow, kMultiBlock };

struct TopkParams {
  int64_t rows = 1;
  int64_t n = 0;              // entries per row (or the bound on lengths[r])
  int64_t k = 0;
  int64_t scores_stride = 0;  // floats between rows (0 → n)
  int64_t out_stride = 0;     // int32s between rows (0 → k)
  TopkImpl impl = TopkImpl::kAuto;
};

void topk(Context& ctx, const TopkParams& p, const float* scores, const int32_t* lengths, int32_t* out,
          int32_t* counts = nullptr);

}  // namespace dsv32::gpu
