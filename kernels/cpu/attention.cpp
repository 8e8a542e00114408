#include "kernels/cpu/attention.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu/vec.h"

namespace dsv32 {

void attend(const AttendParams& p, const float* q, const float* keys, const float* values,
            const int32_t* index, int64_t n, float* probs, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    int64_t t = index ? index[i] : i;
    probs[i] = p.scale * vec::dot(q, keys + t * p.key_stride, p.d_k);
  }
  const float sum = vec::exp_shifted_sum(probs, n);
  std::memset(out, 0, p.d_v * sizeof(float));
  for (int64_t i = 0; i < n; ++i) {
    int64_t t = index ? index[i] : i;
    vec::axpy(probs[i], values + t * p.value_stride, out, p.d_v);
  }
  const float inv = sum > 0 ? 1.f / sum : 0.f;  // n = 0: zero output rather than 0·inf = NaN
  for (int64_t e = 0; e < p.d_v; ++e) out[e] *= inv;
}

void attend_mqa(const AttendParams& p, int64_t heads, const float* q, int64_t q_stride, const float* keys,
                const float* values, const int32_t* index, int64_t n, float* probs, float* out,
                int64_t out_stride) {
  // Scores: one pass over the keys, every head per key row (probs is [heads, n]).
  for (int64_t i = 0; i < n; ++i) {
    const float* k = keys + (index ? index[i] : i) * p.key_stride;
    for (int64_t h = 0; h < heads; ++h) probs[h * (n + 1) + i] = p.scale * vec::dot(q + h * q_stride, k, p.d_k);
  }
  for (int64_t h = 0; h < heads; ++h) {
    float* ph = probs + h * (n + 1);  // row stride n + 1: the sum sits after the row
    ph[n] = vec::exp_shifted_sum(ph, n);
    std::memset(out + h * out_stride, 0, p.d_v * sizeof(float));
  }
  // Values: one pass over the rows, accumulated per head in position order (as attend()).
  for (int64_t i = 0; i < n; ++i) {
    const float* v = values + (index ? index[i] : i) * p.value_stride;
    for (int64_t h = 0; h < heads; ++h) vec::axpy(probs[h * (n + 1) + i], v, out + h * out_stride, p.d_v);
  }
  for (int64_t h = 0; h < heads; ++h) {
    const float s = probs[h * (n + 1) + n], inv = s > 0 ? 1.f / s : 0.f;  // n = 0: zeros
    for (int64_t e = 0; e < p.d_v; ++e) out[h * out_stride + e] *= inv;
  }
}

}  // namespace dsv32
