// Small vector helpers shared by the CPU ops. dot() sums in a fixed order (16 fp32 lanes, then a
// fixed tree), so it returns the same bits for the same inputs wherever it is called from.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace dsv32::vec {

typedef float v16 __attribute__((vector_size(64)));

inline float dot(const float* a, const float* b, int64_t n) {
  if (n % 16) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
  }
  v16 acc{};
  for (int64_t i = 0; i < n; i += 16) {
    v16 x, y;
    std::memcpy(&x, a + i, 64);
    std::memcpy(&y, b + i, 64);
    acc += x * y;
  }
  float t[16];
  std::memcpy(t, &acc, 64);
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) t[i] += t[i + w];
  return t[0];
}

// y[i] += a · x[i]
inline void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// The unnormalised softmax every CPU attention variant shares: x[i] <- exp(x[i] - max_j x[j]) for
// i < n, returning the sum of the new x[i] in index order (0 for n = 0).
inline float exp_shifted_sum(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  return sum;
}

}  // namespace dsv32::vec
