// Normalisations (MODEL §4.1, §4.2), fp32 in and out, double accumulation of the statistics so the
// result does not depend on how a row is split.
//
//   rmsnorm  : y[m, :] = w ⊙ x[m, :] · (mean(x[m, :]²) + eps)^-½          x, y [M, D], w [D]
//   layernorm: y[m, :] = (x − mean) · (var + eps)^-½ ⊙ w + b  (population variance)
// The fused "add residual then normalise" of REF is done by the caller: h += a, then rmsnorm(h).
#pragma once
#include <cstdint>

namespace dsv32 {

struct NormParams {
  int64_t rows = 0, dim = 0;
  double eps = 1e-6;
};

void rmsnorm(const NormParams& p, const float* x, const float* w, float* y);
void layernorm(const NormParams& p, const float* x, const float* w, const float* b, float* y);

}  // namespace dsv32
