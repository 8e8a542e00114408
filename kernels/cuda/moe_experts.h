// gpu::moe_experts — the routed experts of a MoE layer, plus optionally its shared expert
// (MODEL §8.1–8.2 step 7; the CPU twin is kernels/cpu/moe_experts.h, called by CpuOps::moe_experts):
//
//   y[s, :] = shared(x_s) + Σ_{k ascending} w[s, k] · E_{ids[s,k]}(x_s)       s < S
//   E_e(v)  = down_e( silu(gate_e v) ⊙ up_e v ),  silu(z) = z / (1 + e^-z)     (fp32)
//
//   x        : fp32 [S, D] device, packed rows
//   ids      : int32 [S, K] device; an expert appears at most once per token (moe_route's output)
//   ids_host : int32 [S, K] host copy of ids, or nullptr. The GEMM sizes (rows per expert) are
//              needed on the host: with ids_host they are counted there (no sync); without, the
//              device's counts are copied back (one stream synchronisation per call).
//   weights  : fp32 [S, K] device, aligned with ids
//   experts  : host array of E MoeExpertWeights (device weights): gate, up [I, D], down [D, I]
//   shared   : the shared expert (gate, up [I_s, D], down [D, I_s]) or nullptr
//   y        : fp32 [S, D] device; overwritten
//
// How (kernels/cuda/moe_experts.cu):
//   1. group: a stable counting sort of the S·K (token, slot) pairs by expert ON THE DEVICE (one
//      block per expert, ballot prefix sums: deterministic, pairs keep ascending s·K + k order);
//   2. gather x rows into expert order, xg [S·K, D] (gpu::gather_rows);
//   3. gate/up GEMMs per expert on its rows: kFp32/kBf16 with natively F32 (or, for kBf16, BF16)
//      expert weights: ONE cublasGemmGroupedBatchedEx call for all gate and up products, one for
//      all down products; otherwise (F8/F16 weights, kFp8, or a cuBLAS that refuses the grouped
//      type combination) gpu::linear per non-empty expert (kFp8: cuBLASLt block-scaled FP8);
//   4. SwiGLU over all rows at once (gpu::swiglu_inplace, the dense MLP's op); 5. down GEMMs as in 3;
//   6. combine: y = shared (or 0) + Σ_k w·expert_out, the sum formed in fp32 from 0 in slot order
//      without FMA contraction, then added: model/ffn.cpp's loop (gpu::moe_combine over the
//      expert-ordered rows). The grouped bf16 GEMMs take gpu::convert_to_bf16 copies of xg and of
//      the SwiGLU output.
//   !! Numerics per GEMM are gpu::linear's for the same GemmPrecision (kBf16: inputs rounded to
//      bf16 before each GEMM; kFp8: act_quant before each GEMM, as REF). A row's result does not
//      depend on which other tokens share its expert except through cuBLAS's choice of algorithm
//      for that expert's row count.
//
// Expert parallelism (model/mpi/nccl_ops.cpp): with expert_hi ≥ 0 only the experts of the block
// [expert_lo, expert_hi) are computed (their grouped rows [offsets[lo], offsets[hi]) of yg), and
// `exchange(yg, offsets)` is called before the combine to fill every other row, which other ranks
// computed with the same grouping. Experts outside the block are never read (their entries of
// `experts` may be empty), so a rank holds only its block on the device.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/cuda/context.h"
#include "kernels/cuda/linear.h"

namespace dsv32::gpu {

struct MoeExpertWeights {
  WeightDevice gate, up;  // [I, D]
  WeightDevice down;      // [D, I]
};

struct MoeExpertsParams {
  int64_t tokens = 0;     // S
  int64_t hidden = 0;     // D
  int64_t top_k = 0;      // K slots per token
  int64_t n_experts = 0;  // E (entries of `experts`)
  GemmPrecision prec = GemmPrecision::kBf16;
  int64_t expert_lo = 0, expert_hi = -1;  // the block computed here; -1: every expert
};
// yg: device [S·K, D] grouped rows; offsets: host [E + 1] grouped-row offsets per expert. Runs
// on the host between the down GEMMs and the combine, after ctx.stream's work was queued.
using MoeExchange = std::function<void(float* yg, const std::vector<int32_t>& offsets)>;

// Device buffers reused across calls (grown on demand; growing synchronises the stream). One per
// stream of MoE calls; the fields are internal to moe_experts.cu.
struct MoeWorkspace {
  DeviceArray<int32_t> order, pos, offsets;  // [S·K] pair of grouped row r, row of pair i; [E + 1]
  DeviceArray<float> xg, g, u, yg;           // [S·K, D], [rows, I] ×2, [S·K, D]
  DeviceArray<uint16_t> xb, mb;              // bf16 copies of xg and of silu(g)·u (grouped bf16)
  DeviceArray<void*> ptrs;                   // A/B/C pointer arrays of the grouped calls
  std::vector<int32_t> offsets_host;         // [E + 1]
};

// Throws dsv32::Error for inconsistent shapes or an expert id out of range (checked on ids_host when
// given, else from the device counts). ids_host, when given, must equal ids.
void moe_experts(Context& ctx, const MoeExpertsParams& p, MoeWorkspace& ws, const float* x, const int32_t* ids,
                 const int32_t* ids_host, const float* weights, const MoeExpertWeights* experts,
                 const MoeExpertWeights* shared, float* y, const MoeExchange* exchange = nullptr);

// Process-wide count of grouped cuBLAS calls and of per-expert fallbacks (tests/benchmarks).
struct MoeExpertsStats {
  int64_t grouped_calls = 0, per_expert_calls = 0;
};
MoeExpertsStats moe_experts_stats();
void moe_experts_stats_reset();

}  // namespace dsv32::gpu
