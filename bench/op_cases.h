// The case lists of the op contracts: one list per op drives its correctness tests on every
// backend (tests/kernels, tests/cuda) and its benchmarks (bench/bench_ops.cpp,
// bench/cuda/bench_ops_cuda.cpp), with the FLOP and byte formulas the benchmarks report — the
// discipline of ggml's test-backend-ops. Corner cases are listed here; production shapes come from
// the synth presets (bench/bench_util.h presets(), read from model/synth.cpp's config.json), so no
// V3.2 dimension is typed twice. Header-only and free of model/ includes, so the kernels' tests can
// use it (the preset-shaped lists are templates over bench::Shapes).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/numeric.h"

namespace dsv32::cases {

// ---------------------------------------------------------------- linear
// y[M, N] = x[M, K] · W[row0 : row0 + N, :]ᵀ (kernels/cpu/linear.h, kernels/cuda/linear.h).
struct LinearCase {
  DType dtype;
  int64_t M, N, K;
  int64_t row0 = 0;  // a rows_slice view starting at this row of a [row0 + N, K] weight
  std::string name() const {
    return std::string(dtype_name(dtype)) + "_M" + std::to_string(M) + "_N" + std::to_string(N) + "_K" +
           std::to_string(K) + (row0 ? "_row0_" + std::to_string(row0) : "");
  }
  double flops() const { return 2.0 * double(M) * double(N) * double(K); }
  // Compulsory traffic: the weight (+ F8 block scales, fp32) once, x in and y out (fp32).
  double bytes() const {
    const double scales = dtype == DType::F8_E4M3 ? 4.0 * double((N + 127) / 128) * double((K + 127) / 128) : 0;
    return double(N) * double(K) * dtype_size(dtype) + scales + 4.0 * double(M) * double(N + K);
  }
};

// Shapes where an implementation can go wrong: K % 16 != 0 (the scalar tail), ragged 128-blocks in
// rows and columns, GEMV and GEMM row counts, a slice whose first row is mid-block (W_UV views),
// every weight dtype, and a few real-width reductions.
inline std::vector<LinearCase> linear_corner_cases() {
  return {
      {DType::F32, 5, 33, 64},     {DType::F32, 3, 10, 30},      {DType::F32, 1, 64, 256},
      {DType::F32, 7, 300, 1000},  {DType::F16, 3, 130, 384},    {DType::BF16, 7, 64, 256},
      {DType::BF16, 1, 576, 1024}, {DType::BF16, 16, 256, 2048}, {DType::F8_E4M3, 9, 576, 384},
      {DType::F8_E4M3, 1, 200, 1040}, {DType::F8_E4M3, 1, 576, 1536}, {DType::F8_E4M3, 9, 640, 7168},
      {DType::F8_E4M3, 4, 300, 640, 100},
  };
}

// The projections of one layer at a preset's shapes (every FP8 matrix of the checkpoint, plus the
// output head). dtype_sweep: also benchmarked in BF16/F16/F32 (one attention and one expert
// matrix stand for the rest); full_only: only with --full (big).
struct LinearMat {
  const char* name;
  int64_t N, K;
  bool dtype_sweep = false, full_only = false;
};
template <class Shapes>
std::vector<LinearMat> linear_mats(const Shapes& s) {
  return {
      {"q_a", s.rq, s.D},
      {"q_b", s.H * s.dqk(), s.rq, true},
      {"kv_a", s.lat(), s.D},
      {"kv_b", s.H * (s.dn + s.dv), s.rkv},
      {"o", s.D, s.H * s.dv},
      {"idx_wq_b", s.HI * s.dI, s.rq},
      {"expert_up", s.I_moe, s.D, true},
      {"expert_down", s.D, s.I_moe},
      {"dense_up", s.I_dense, s.D},
      {"lm_head", s.V, s.D, false, true},
  };
}

}  // namespace dsv32::cases
