#include "kernels/cpu/norm.h"

#include <cmath>

namespace dsv32 {

void rmsnorm(const NormParams& p, const float* x, const float* w, float* y) {
  for (int64_t m = 0; m < p.rows; ++m) {
    const float* xr = x + m * p.dim;
    double ss = 0;
    for (int64_t i = 0; i < p.dim; ++i) ss += double(xr[i]) * xr[i];
    float r = float(1.0 / std::sqrt(ss / double(p.dim) + p.eps));
    float* yr = y + m * p.dim;
    for (int64_t i = 0; i < p.dim; ++i) yr[i] = w[i] * (xr[i] * r);
  }
}

void layernorm(const NormParams& p, const float* x, const float* w, const float* b, float* y) {
  for (int64_t m = 0; m < p.rows; ++m) {
    const float* xr = x + m * p.dim;
    double mean = 0;
    for (int64_t i = 0; i < p.dim; ++i) mean += xr[i];
    mean /= double(p.dim);
    double var = 0;
    for (int64_t i = 0; i < p.dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= double(p.dim);
    double r = 1.0 / std::sqrt(var + p.eps);
    float* yr = y + m * p.dim;
    for (int64_t i = 0; i < p.dim; ++i) yr[i] = float((xr[i] - mean) * r) * w[i] + b[i];
  }
}

}  // namespace dsv32
