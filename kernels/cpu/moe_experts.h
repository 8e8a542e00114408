// moe_experts: the routed-expert half of a MoE layer on the CPU (the twin of
// kernels/cuda/moe_experts.h): tokens grouped per expert, each expert run once on its gathered
// rows, the outputs combined per token in a fixed order.
//
//   x       : fp32 [S, D]                          the ffn_norm output
//   ids     : int32 [S, K], each in [0, E)         routed experts per token (ascending)
//   weights : fp32 [S, K]                          their router weights
//   y       : fp32 [S, D], holds the shared expert's output (or zeros) on entry; on return
//             y[s, d] += Σ_k weights[s, k] · expert_{ids[s,k]}(x[s])[d]   (k ascending, one fp32
//             sum per element, then one add)
//   expert  : callback(e, xg, n, yg) computing yg[n, D] = expert_e(xg[n, D]) (the caller's SwiGLU
//             with its precision points)
//   !! Grouping is a counting sort by expert id (pairs keep token order inside an expert), and an
//      expert computes each of its rows independently of the others, so a token's output does not
//      depend on which other tokens share its experts: prefill ≡ decode bit for bit.
//   Scratch (MoeScratch) grows only; a second call of the same size allocates nothing.
//
// The three steps are exposed for expert parallelism (model/mpi/mpi_ops.cpp): every rank groups
// the same ids, runs only the experts [e0, e1) it holds, exchanges rows of sc.yg, and then runs the
// same combine. Because the grouped layout orders rows by expert, the rows of a contiguous expert
// block are one contiguous slice of sc.yg: rows [offset[e0], offset[e1]).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace dsv32 {

struct MoeExpertsParams {
  int64_t tokens = 0, hidden = 0, top_k = 0, n_experts = 0;  // S, D, K, E
};

struct MoeScratch {
  std::vector<int32_t> count, offset;  // [E] fill cursor, [E + 1] first grouped row of each expert
  std::vector<int32_t> rows;           // [S·K] grouped row r holds pair rows[r] = s·K + slot
  std::vector<int32_t> slot_row;       // [S·K] the inverse: pair s·K + slot sits at grouped row slot_row[.]
  std::vector<float> xg;               // [n_max, D] one expert's gathered inputs
  std::vector<float> yg;               // [S·K, D] expert outputs in grouped order
  std::vector<float> slot_out;         // [S·K, D] the same in (token, slot) order, for the combine
};

using ExpertFn = std::function<void(int64_t expert, const float* xg, int64_t n, float* yg)>;

// Everything: group, run every expert, combine (the single-process path).
void moe_experts(const MoeExpertsParams& p, MoeScratch& s, const float* x, const int32_t* ids, const float* weights,
                 const ExpertFn& expert, float* y);

// Step 1: counting sort of the S·K pairs by expert (offset, rows, slot_row); sizes yg.
void moe_group(const MoeExpertsParams& p, MoeScratch& s, const int32_t* ids);
// Step 2: experts e in [e0, e1) on their gathered rows; writes yg rows [offset[e0], offset[e1]).
void moe_run_experts(const MoeExpertsParams& p, MoeScratch& s, const float* x, const ExpertFn& expert, int64_t e0,
                     int64_t e1);
// Step 3: y[s] += Σ_k weights[s, k] · yg[slot_row[s·K + k]] (every row of yg must be filled).
void moe_combine(const MoeExpertsParams& p, MoeScratch& s, const float* weights, float* y);

}  // namespace dsv32
