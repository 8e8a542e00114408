#include "kernels/cpu/attention_ref1.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu/round_bf16.h"
#include "kernels/cpu/vec.h"

namespace dsv32 {

void attend_ref1(const AttendParams& p, int64_t heads, const float* q, int64_t q_stride,
                 const float* keys, const float* values, const int32_t* index, int64_t n, float* probs,
                 float* out, int64_t out_stride) {
  // Scores, one pass over the keys for all heads (probs is [heads, n + 1]).
  for (int64_t i = 0; i < n; ++i) {
    const float* k = keys + (index ? index[i] : i) * p.key_stride;
    for (int64_t h = 0; h < heads; ++h) {
      const float* qh = q + h * q_stride;
      float a;
      if (p.split > 0) {
        const float lat = bf16_round(vec::dot(qh, k, p.split));
        const float rot = bf16_round(vec::dot(qh + p.split, k + p.split, p.d_k - p.split));
        a = bf16_round(lat + rot);
      } else {
        a = bf16_round(vec::dot(qh, k, p.d_k));
      }
      probs[h * (n + 1) + i] = bf16_round(a * p.scale);
    }
  }
  for (int64_t h = 0; h < heads; ++h) {
    float* ph = probs + h * (n + 1);
    const float sum = vec::exp_shifted_sum(ph, n);
    for (int64_t i = 0; i < n; ++i) ph[i] = bf16_round(ph[i] / sum);
    std::memset(out + h * out_stride, 0, p.d_v * sizeof(float));
  }
  for (int64_t i = 0; i < n; ++i) {
    const float* v = values + (index ? index[i] : i) * p.value_stride;
    for (int64_t h = 0; h < heads; ++h) vec::axpy(probs[h * (n + 1) + i], v, out + h * out_stride, p.d_v);
  }
  for (int64_t h = 0; h < heads; ++h) round_bf16(out + h * out_stride, p.d_v);
}

}  // namespace dsv32
