// Small vector helpers shared by the CPU ops. dot() sums in a fixed order (16 fp32 lanes, then a
// fixed tree), so it returns the same bits for the same inputs wherever it is called from; hsum,
// hsum16 and add_sums are that tree for the GEMM kernels (kernels/cpu/linear*.cpp).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace dsv32::vec {

typedef float v16 __attribute__((vector_size(64)));

// Fixed reduction tree over the 16 lanes: t[i] += t[i + w] for w = 8, 4, 2, 1 — as halving
// vector adds kept in registers (GCC spilled the array form to the stack, and with 4..16 sums per
// 512-column chunk the store-forwarding stalls showed in a GEMV profile).
inline float hsum(v16 v) {
  typedef float v8 __attribute__((vector_size(8 * sizeof(float))));
  typedef float v4 __attribute__((vector_size(4 * sizeof(float))));
  const v8 t8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const v4 t4 = __builtin_shufflevector(t8, t8, 0, 1, 2, 3) + __builtin_shufflevector(t8, t8, 4, 5, 6, 7);
  const v4 t2 = t4 + __builtin_shufflevector(t4, t4, 2, 3, 2, 3);  // lanes 0, 1 used
  const v4 t1 = t2 + __builtin_shufflevector(t2, t2, 1, 1, 3, 3);  // lane 0 used
  return t1[0];
}

// hsum of 16 accumulators at once, lane i*4 + j of the result = hsum(acc[i][j]): the same tree
// (t[i] + t[i+w], w = 8, 4, 2, 1, each sum of the same two values), transposed so that every
// step adds two accumulators' halves in one vector add — 15 adds and 30 two-source permutes for
// the 16 sums instead of 16 × (4 adds + 4 shuffles + an extract). Step by step, pairs (a, b):
//   w = 8: [a0..7 | b0..7] + [a8..15 | b8..15]           16 → 8 vectors, 2 sums of 8 each
//   w = 4: within each 8-group, lanes 0..3 + lanes 4..7   8 → 4 vectors, 4 sums of 4 each
//   w = 2, w = 1 likewise                                 → 1 vector of 16 sums, in acc order
inline v16 hsum16(const v16 (&a)[16]) {
  v16 c[8], e[4], g[2];
  for (int p = 0; p < 8; ++p)
    c[p] = __builtin_shufflevector(a[2 * p], a[2 * p + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
           __builtin_shufflevector(a[2 * p], a[2 * p + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  for (int p = 0; p < 4; ++p)
    e[p] = __builtin_shufflevector(c[2 * p], c[2 * p + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
           __builtin_shufflevector(c[2 * p], c[2 * p + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  for (int p = 0; p < 2; ++p)
    g[p] = __builtin_shufflevector(e[2 * p], e[2 * p + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
           __builtin_shufflevector(e[2 * p], e[2 * p + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  return __builtin_shufflevector(g[0], g[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
         __builtin_shufflevector(g[0], g[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

// y[i·y_stride + j] += hsum(acc[i][j]) — a GEMM micro-kernel's chunk sums into y (4 × 4: hsum16).
template <int MR, int NR>
inline void add_sums(const v16 (&acc)[MR][NR], float* y, int64_t y_stride) {
  if constexpr (MR == 4 && NR == 4) {
    v16 flat[16];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) flat[i * 4 + j] = acc[i][j];
    const v16 s = hsum16(flat);
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) y[i * y_stride + j] += s[i * 4 + j];
  } else {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) y[i * y_stride + j] += hsum(acc[i][j]);
  }
}

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

// d[r][c] = dot(a[r], b[c]) for MR rows × 4 columns, n % 16 == 0: each pair in dot()'s order
// (lane l sums elements ≡ l mod 16 in order, then the tree); a 4 × 4 tile reduces its 16 sums
// together (hsum16, the same tree). Shares every b load across MR rows and every a load across 4.
template <int MR>
inline void dot_tile(const float* const* a, const float* const* b, int64_t n, float (&d)[MR][4]) {
  v16 acc[MR][4] = {};
  for (int64_t i = 0; i < n; i += 16) {
    v16 y[4];
    for (int c = 0; c < 4; ++c) std::memcpy(&y[c], b[c] + i, 64);
    for (int r = 0; r < MR; ++r) {
      v16 x;
      std::memcpy(&x, a[r] + i, 64);
      for (int c = 0; c < 4; ++c) acc[r][c] += x * y[c];
    }
  }
  if constexpr (MR == 4) {
    v16 flat[16];
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) flat[r * 4 + c] = acc[r][c];
    const v16 t = hsum16(flat);
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) d[r][c] = t[r * 4 + c];
  } else {
    for (int r = 0; r < MR; ++r)
      for (int c = 0; c < 4; ++c) d[r][c] = hsum(acc[r][c]);
  }
}

// y[i] += a · x[i]
inline void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// The unnormalised softmax every CPU attention variant shares: x[i] <- exp(x[i] - max_j x[j]) for
// i < n, returning the sum of the new x[i] in index order (0 for n = 0).
// The maximum runs in 16 lanes, then across them: a maximum is exact and order-free except that
// a tie of +0 and −0 may keep either sign, which no output sees (x − (±0) is x for x ≠ 0, and
// exp(±0) = 1), and NaN is skipped either way (x > m is false) — so every x[i] and the sum are
// those of the running maximum (a serial vmaxss chain, ~11 % of attend_rows at the naive shapes).
inline float exp_shifted_sum(float* x, int64_t n) {
  float mx = -INFINITY;
  int64_t i0 = 0;
  if (n >= 16) {
    v16 m;
    for (int l = 0; l < 16; ++l) m[l] = -INFINITY;
    for (; i0 + 16 <= n; i0 += 16) {
      v16 v;
      std::memcpy(&v, x + i0, 64);
      m = v > m ? v : m;
    }
    for (int l = 0; l < 16; ++l) mx = m[l] > mx ? m[l] : mx;
  }
  for (int64_t i = i0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  return sum;
}

}  // namespace dsv32::vec
