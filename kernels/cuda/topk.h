// gpu::topk — the CUDA twin of kernels/cpu/indexer.h indexer_topk, per row.
//
//   row r < rows: scores + r·scores_stride, n_r = lengths ? lengths[r] : n entries
//   out + r·out_stride: the positions of the k_r = min(k, n_r) largest scores, ASCENDING;
//   counts[r] = k_r (counts may be nullptr).
//   !! Ties exactly as the CPU op: score descending, then the LOWER position wins; −0 == +0; NaN is
//      treated as −inf (the CPU key() maps NaN to −inf, so NaN ties with −inf).
//   All pointers are device pointers.
#pragma once
#include <cstdint>

#include "kernels/cuda/context.h"

namespace dsv32::gpu {

struct TopkParams {
  int64_t rows = 1;
  int64_t n = 0;              // entries per row (or the bound on lengths[r])
  int64_t k = 0;
  int64_t scores_stride = 0;  // floats between rows (0 → n)
  int64_t out_stride = 0;     // int32s between rows (0 → k)
};

void topk(Context& ctx, const TopkParams& p, const float* scores, const int32_t* lengths, int32_t* out,
          int32_t* counts = nullptr);

}  // namespace dsv32::gpu
