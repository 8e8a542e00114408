// linear() must reproduce its documented accumulation order (kernels/cpu/linear.h) bit for bit,
// whichever internal path runs: the decode-fused small-M path (M ≤ 4; F32/BF16/F8), the buffered
// path (M ≥ 5, F16, partial last tiles, F8 chunks with an off-range scale or a NaN code, F8 block
// sizes that are not a power of two). The expectation is a plain scalar loop that spells the
// order out: per output, for each chunk of 512 columns, 16 lanes accumulate x·w with one FMA each
// (the kernel's `acc += x * w` contracts to an FMA where the target has one; without FMA it is a
// multiply and an add, and so is the reference), the lanes reduce by t[i] += t[i+w] for
// w = 8, 4, 2, 1, and the chunk sums add into y (starting from 0) in column order.
// Weights are dequantized as Weight::at (table lookup times block scale), so the F8 bit trick is
// checked here too. No tolerance: every output is compared as bits (NaN outputs as NaN-ness).
// The scalar path (K % 16 != 0, no DeepSeek shape) is one running sum over k whose roundings are
// GCC's choice (it vectorises the products in order, unfused, and fuses the remainder), so there
// the test pins only what the model relies on: each row equals that row computed alone, 1 thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/linear.h"
#include "tests/kernels/test_inputs.h"

namespace dsv32 {
namespace {

constexpr int64_t kChunk = 512, kLanes = 16;

inline float madd(float a, float b, float c) {
#ifdef __FMA__
  return std::fma(a, b, c);
#else
  return c + a * b;
#endif
}

// The documented order, written out scalar (K % 16 == 0).
void linear_in_order(const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
                     int64_t y_stride) {
  const int64_t N = w.rows, K = w.cols;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      const float* xm = x + m * x_stride;
      float out = 0.f;
      for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
        float t[kLanes] = {};
        for (int64_t k = k0; k < std::min(K, k0 + kChunk); k += kLanes)
          for (int64_t l = 0; l < kLanes; ++l) t[l] = madd(xm[k + l], w.at(n, k + l), t[l]);
        for (int64_t half = kLanes / 2; half >= 1; half /= 2)
          for (int64_t i = 0; i < half; ++i) t[i] += t[i + half];
        out += t[0];
      }
      y[m * y_stride + n] = out;
    }
}

using test_util::make_weight;
using test_util::TestWeight;

// Runs linear() for M in Ms (default 1..5) with 1 and 3 threads on x with row stride x_stride ≥ K
// and y with row stride y_stride ≥ N, and compares every output with linear_in_order as bits.
void expect_bit_identical(const Weight& w, const std::string& what, std::vector<int64_t> Ms = {1, 2, 3, 4, 5}) {
  const int64_t N = w.rows, K = w.cols, x_stride = K + 16, y_stride = N + 3;
  const int64_t max_m = *std::max_element(Ms.begin(), Ms.end());
  std::mt19937 g(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(max_m * x_stride);
  for (auto& v : x) v = nd(g);
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    for (int64_t M : Ms) {
      std::vector<float> y(M * y_stride, -1.f), want(M * y_stride, -1.f);
      linear(pool, x.data(), M, x_stride, w, y.data(), y_stride);
      if (K % kLanes == 0) {
        linear_in_order(x.data(), M, x_stride, w, want.data(), y_stride);
      } else {  // scalar path: row by row, one thread (see the top of the file)
        ThreadPool one(1);
        for (int64_t m = 0; m < M; ++m) linear(one, x.data() + m * x_stride, 1, K, w, want.data() + m * y_stride, N);
      }
      int64_t bad = 0;
      for (int64_t i = 0; i < M * y_stride; ++i) {
        const bool same = std::isnan(want[i]) ? bool(std::isnan(y[i])) : bits_from_f32(y[i]) == bits_from_f32(want[i]);
        if (!same && bad++ < 3)
          ADD_FAILURE() << what << " threads " << threads << " M " << M << " m " << i / y_stride << " n "
                        << i % y_stride << ": got " << y[i] << " want " << want[i];
      }
      EXPECT_EQ(bad, 0) << what << " threads " << threads << " M " << M;
    }
  }
}

struct BitsCase {
  DType dtype;
  int64_t N, K;
  int64_t block = 128;           // F8 only
  bool off_range_scale = false;  // F8 only
};

class LinearBits : public ::testing::TestWithParam<BitsCase> {};

TEST_P(LinearBits, MatchesDocumentedOrderBitForBit) {
  const BitsCase c = GetParam();
  TestWeight t = make_weight(c.dtype, c.N, c.K, 11, {.block = c.block, .off_range_scale = c.off_range_scale});
  expect_bit_identical(t.w, dtype_name(c.dtype));
}

INSTANTIATE_TEST_SUITE_P(
    Ops, LinearBits,
    ::testing::Values(BitsCase{DType::F8_E4M3, 64, 1024},                // two full chunks
                      BitsCase{DType::F8_E4M3, 37, 1040},                // ragged N (partial tile), K % 128 = 16
                      BitsCase{DType::F8_E4M3, 130, 1552, 128, true},    // a table-path chunk among fused ones
                      BitsCase{DType::F8_E4M3, 24, 640, 64},             // block 64: fused, 2 scales per 128
                      BitsCase{DType::F8_E4M3, 24, 576, 48},             // block 48: not a power of two -> buffered
                      BitsCase{DType::F8_E4M3, 20, 200},                 // K % 16 != 0: scalar path
                      BitsCase{DType::BF16, 37, 1040}, BitsCase{DType::F32, 21, 528},
                      BitsCase{DType::F16, 12, 544}),                    // F16: buffered at every M
    [](const auto& i) {
      return std::string(dtype_name(i.param.dtype)) + "_N" + std::to_string(i.param.N) + "_K" +
             std::to_string(i.param.K) + "_B" + std::to_string(i.param.block) +
             (i.param.off_range_scale ? "_offrange" : "");
    });

// The GEMM path's blocking (kernels/cpu/linear.cpp: 128 rows × 512 weight rows per block, chunks
// outermost in a block): several row blocks, several weight-row blocks (one per thread range and
// more), ragged last ones, a partial last tile — the order must not depend on any of it.
TEST(OpsLinearBits, GemmBlocksKeepTheOrder) {
  TestWeight t = make_weight(DType::F8_E4M3, 1034, 1040, 14);
  expect_bit_identical(t.w, "gemm blocks", {16, 131});
}

// A rows_slice view starting mid-block (as the model's per-head W_UK/W_UV slices do): tiles whose
// rows straddle two scale-grid rows.
TEST(OpsLinearBits, RowSliceViewsKeepTheOrder) {
  TestWeight t = make_weight(DType::F8_E4M3, 256, 1040, 12);
  for (int64_t r0 : {70, 126, 129}) expect_bit_identical(t.w.rows_slice(r0, 50), "rows_slice(" + std::to_string(r0) + ")");
}

// A NaN code (0x7f / 0xff) poisons exactly its row: that chunk goes to the buffered path, the
// tile's other chunks stay fused, and every other row is unaffected.
TEST(OpsLinearBits, NanCodePoisonsOnlyItsRow) {
  TestWeight t = make_weight(DType::F8_E4M3, 16, 1024, 13);
  t.data[5 * 1024 + 700] = 0x7f;
  t.data[9 * 1024 + 3] = 0xff;
  expect_bit_identical(t.w, "nan codes");
  ThreadPool pool(1);
  std::vector<float> x(1024, 0.5f), y(16);
  linear(pool, x.data(), 1, t.w, y.data());
  for (int64_t n = 0; n < 16; ++n) EXPECT_EQ(std::isnan(y[n]), n == 5 || n == 9) << "row " << n;
}

}  // namespace
}  // namespace dsv32
