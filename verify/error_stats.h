// Per-tensor error distributions for `dsv32 verify` (the views Polygraphy and test-backend-ops
// users expect), computed over the finite element pairs of a float tensor (A candidate, B reference):
//   * quantiles p50 / p90 / p99 / p99.9 / max of the absolute error |a−b| and of the relative error
//     |a−b|/|b| (over b ≠ 0), nearest-rank;
//   * a histogram of the ULP distance in the tensor's storage dtype: bf16 when both sides hold bf16
//     values (ref1 dumps round their rounding points to bf16) — distance between bf16 codes —, fp32
//     otherwise; buckets 0, 1, 2, ≤4, ≤8, …, ≤2^16, >2^16 (power-of-two upper bounds), plus the
//     count of non-finite mismatches;
//   * the worst elements (largest |a−b|/(|b|+rms(b)), the comparator's per-element check) with their
//     coordinates: layer (−1 outside the layer stack), position, and the remaining indices (head and
//     channel for [n, H, d] tensors, channel for [n, d]).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dsv32 {

struct ErrorStats {
  bool computed = false;
  int64_t n = 0, n_rel = 0;          // finite pairs; pairs with b != 0
  double abs_q[5] = {0, 0, 0, 0, 0};  // p50, p90, p99, p99.9, max
  double rel_q[5] = {0, 0, 0, 0, 0};
  std::string ulp_dtype = "fp32";
  std::vector<std::pair<int64_t, int64_t>> ulp_hist;  // (upper bound, count); bound −1 = above the last
  int64_t nonfinite_mismatch = 0;
  struct Worst {
    std::vector<int64_t> index;      // position, then the non-row indices
    double a = 0, b = 0, abs = 0, rel = 0, norm = 0;
    int64_t ulp = 0;
  };
  std::vector<Worst> worst;          // largest first
};

inline constexpr double kQuantiles[5] = {0.5, 0.9, 0.99, 0.999, 1.0};

// a, b: n aligned elements of a tensor with row shape `row_shape` (without the row dimension);
// positions[r] is row r's absolute position; rms_ref = rms of b (FloatStats::rms_ref).
ErrorStats error_stats(const float* a, const float* b, int64_t n, const std::vector<int64_t>& row_shape,
                       const std::vector<int64_t>& positions, double rms_ref, bool bf16, int top = 5);
// Distance between the bf16 codes of two bf16-valued floats (monotone; ±0 equal).
int64_t bf16_ulp_distance(float a, float b);

}  // namespace dsv32
