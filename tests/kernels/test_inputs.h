// Random inputs for the kernel tests: activations (randn) and a weight with its storage (for the
// GEMM tests, test_linear_bits.cpp and test_linear_bf16.cpp).
//   BF16/F16/F32: N(0, 0.05) values rounded to the dtype.
//   F8_E4M3: random codes (subnormals included, no NaN code: a test that wants one plants it),
//     block scales mixing powers of two and non-powers of two (so bf16(code·scale) is inexact);
//     off_range_scale sets one block's scale below the fast decode's range (2^-110, the table path);
//     tiny sets every scale near 2^-120 so products and sums are subnormal (the FTZ/DAZ cases).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/linear.h"

namespace dsv32::test_util {

// n values from N(0, scale²), reproducible from the seed.
inline std::vector<float> randn(int64_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

struct TestWeight {
  std::vector<uint8_t> data;
  std::vector<float> scale;
  Weight w;
};

struct TestWeightOptions {
  int64_t block = 128;  // F8 scale block (rows and columns)
  bool off_range_scale = false;
  bool tiny = false;
};

inline TestWeight make_weight(DType dt, int64_t N, int64_t K, uint32_t seed, TestWeightOptions o = {}) {
  TestWeight t;
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.f, 0.05f);
  t.data.resize(N * K * dtype_size(dt));
  if (dt == DType::F8_E4M3) {
    for (auto& b : t.data) {
      b = uint8_t(g());
      if ((b & 0x7f) == 0x7f) b ^= 0x01;
    }
    const int64_t sr = (N + o.block - 1) / o.block, sc = (K + o.block - 1) / o.block;
    t.scale.resize(sr * sc);
    for (int64_t i = 0; i < sr * sc; ++i)
      t.scale[i] = o.tiny ? std::ldexp(1.f, -118 - int(i % 4))
                   : (i % 3 == 0) ? std::ldexp(1.f, -9 + int(i % 5)) : 0.37f * float(1 + i % 7) / 64.f;
    if (o.off_range_scale) t.scale[sc > 1 ? 1 : 0] = 0x1p-110f;
    t.w = Weight{dt, N, K, t.data.data(), t.scale.data(), sc, o.block};
  } else {
    for (int64_t i = 0; i < N * K; ++i) {
      const float v = nd(g);
      if (dt == DType::F32) std::memcpy(t.data.data() + 4 * i, &v, 4);
      const uint16_t h = dt == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
      if (dt != DType::F32) std::memcpy(t.data.data() + 2 * i, &h, 2);
    }
    t.w = Weight{dt, N, K, t.data.data()};
  }
  return t;
}

}  // namespace dsv32::test_util
