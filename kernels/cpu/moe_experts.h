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
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace dsv32 {

struct MoeExpertsParams {
  int64_t tokens = 0, hidden = 0, top_k = 0, n_experts = 0;  // S, D, K, E
};

struct MoeScratch {
  std::vector<int32_t> count, offset, rows;   // [E], [E + 1], [S·K] pair index s·K + k per grouped row
  std::vector<float> xg, yg, slot_out;        // [S·K, D] gathered inputs, expert outputs, per-slot outputs
};

using ExpertFn = std::function<void(int64_t expert, const float* xg, int64_t n, float* yg)>;

void moe_experts(const MoeExpertsParams& p, MoeScratch& s, const float* x, const int32_t* ids, const float* weights,
                 const ExpertFn& expert, float* y);

}  // namespace dsv32
