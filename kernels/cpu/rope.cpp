#include "kernels/cpu/rope.h"

#include <algorithm>
#include <cmath>

namespace dsv32 {

RopeTable::RopeTable(const RopeParams& p, int64_t max_pos) : half_(p.dim / 2), max_pos_(max_pos) {
  const double dim = double(p.dim);
  freqs_.resize(half_);
  for (int64_t j = 0; j < half_; ++j) freqs_[j] = 1.0 / std::pow(p.theta, 2.0 * double(j) / dim);
  if (p.factor > 1.0) {
    // corr(n) = dim·ln(L0 / (n·2π)) / (2 ln θ): the dimension whose wavelength spans n turns.
    auto corr = [&](double n_rot) {
      return dim * std::log(double(p.original_seq_len) / (n_rot * 2 * M_PI)) / (2 * std::log(p.theta));
    };
    double low = std::max(std::floor(corr(p.beta_fast)), 0.0);
    double high = std::min(std::ceil(corr(p.beta_slow)), dim - 1);
    if (low == high) high += 0.001;
    for (int64_t j = 0; j < half_; ++j) {
      double ramp = std::clamp((double(j) - low) / (high - low), 0.0, 1.0);
      double smooth = 1.0 - ramp;
      freqs_[j] = freqs_[j] / p.factor * (1.0 - smooth) + freqs_[j] * smooth;
    }
  }
  cos_.resize(max_pos * half_);
  sin_.resize(max_pos * half_);
  for (int64_t t = 0; t < max_pos; ++t)
    for (int64_t j = 0; j < half_; ++j) {
      double a = double(t) * freqs_[j];
      cos_[t * half_ + j] = float(std::cos(a));
      sin_[t * half_ + j] = float(std::sin(a));
    }
}

void rope_apply(const RopeTable& table, RopeLayout layout, float* x, int64_t rows, int64_t x_stride,
                int64_t heads, int64_t head_stride, int64_t pos0) {
  const int64_t half = int64_t(table.freqs().size());
  for (int64_t r = 0; r < rows; ++r) {
    const float* c = table.cos_row(pos0 + r);
    const float* s = table.sin_row(pos0 + r);
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + r * x_stride + h * head_stride;
      for (int64_t j = 0; j < half; ++j) {
        float* a = layout == RopeLayout::kInterleaved ? v + 2 * j : v + j;
        float* b = layout == RopeLayout::kInterleaved ? v + 2 * j + 1 : v + j + half;
        float x0 = *a, x1 = *b;
        *a = x0 * c[j] - x1 * s[j];
        *b = x0 * s[j] + x1 * c[j];
      }
    }
  }
}

}  // namespace dsv32
