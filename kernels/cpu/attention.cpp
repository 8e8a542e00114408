#include "kernels/cpu/attention.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu/vec.h"

namespace dsv32 {

void attend(const AttendParams& p, const float* q, const float* keys, const float* values,
            const int32_t* index, int64_t n, float* probs, float* out) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    int64_t t = index ? index[i] : i;
    float s = p.scale * vec::dot(q, keys + t * p.key_stride, p.d_k);
    probs[i] = s;
    if (s > mx) mx = s;
  }
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    probs[i] = std::exp(probs[i] - mx);
    sum += probs[i];
  }
  std::memset(out, 0, p.d_v * sizeof(float));
  for (int64_t i = 0; i < n; ++i) {
    int64_t t = index ? index[i] : i;
    vec::axpy(probs[i], values + t * p.value_stride, out, p.d_v);
  }
  const float inv = 1.f / sum;
  for (int64_t e = 0; e < p.d_v; ++e) out[e] *= inv;
}

}  // namespace dsv32
