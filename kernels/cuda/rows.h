// Row movement on the GPU: strided copies, gathers and scatters of rows, and the MoE weighted
// combine. All pointers are device pointers; all data fp32.
//
//   copy_strided : dst[r·drs + h·dhs + i] = src[r·srs + h·shs + i]   r < rows, h < heads, i < width
//                  (shs = 0 broadcasts one source row to every head: naive MLA's shared k_rope)
//   gather_rows  : dst[r, :] = src[(index[r] / index_div)·src_stride + :]     r < rows, width cols
//                  (MoE: index = s·K + slot over the rows routed to one expert, index_div = K)
//   scatter_rows : dst[index[r]·dst_stride + :] = src[r, :]                    r < rows, width cols
//   moe_combine  : y[s, d] += Σ_{k ascending} w[s, k] · slots[row(s·K + k), d]  s < tokens, d < D
//                  row(i) = slot_rows ? slot_rows[i] : i (slot_rows: where pair i's output row lives
//                  when the slots are stored grouped by expert, as moe_experts does);
//                  the sum formed in fp32 from 0, in slot order, then added to y: the CPU's loop
//                  (model/ffn.cpp)
//   !! copies, gathers and scatters are exact. moe_combine forbids FMA contraction; the host
//      compiler may contract the CPU's loop, so the two agree within K + 1 roundings.
//   !! index entries must be in range (not checked on the device); scatter indices must be
//      distinct (each destination row written once).
#pragma once
#include <cstdint>

#include "kernels/cuda/context.h"

namespace dsv32::gpu {

struct StridedCopy {
  int64_t rows = 1, heads = 1, width = 0;
  int64_t dst_row_stride = 0, dst_head_stride = 0;
  int64_t src_row_stride = 0, src_head_stride = 0;
};

void copy_strided(Context& ctx, const StridedCopy& p, const float* src, float* dst);
void gather_rows(Context& ctx, const float* src, int64_t src_stride, const int32_t* index, int64_t index_div,
                 int64_t rows, int64_t width, float* dst);
void scatter_rows(Context& ctx, const float* src, int64_t rows, int64_t width, const int32_t* index, float* dst,
                  int64_t dst_stride);
void moe_combine(Context& ctx, const float* slots, const float* weights, int64_t tokens, int64_t K, int64_t D,
                 float* y, const int32_t* slot_rows = nullptr);

}  // namespace dsv32::gpu
