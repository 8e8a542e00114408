// linear_bf16 (kernels/cpu/linear_bf16.h), the CPU kBf16 GEMM:
//   1. the native (vdpbf16ps) and the emulated lane steps give the same bits, subnormal operands
//      and results included (skipped where the CPU has no AVX512-BF16);
//   2. both reproduce the documented order spelled out as a scalar loop (std::fma under MXCSR
//      FTZ|DAZ), bit for bit, for every M and thread count — so a token's row is the same alone
//      (decode) or in a batch (prefill);
//   3. against float64 references, within derived bounds (see near_reference).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/cpu/linear_bf16.h"
#include "kernels/error.h"
#include "tests/kernels/test_inputs.h"

namespace dsv32 {
namespace {

using test_util::make_weight;
using test_util::TestWeight;

std::vector<float> make_x(int64_t rows, int64_t stride, uint32_t seed, bool tiny = false) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(rows * stride);
  for (auto& v : x) v = tiny ? std::ldexp(nd(g), -8 - int(g() % 40)) : nd(g);
  return x;
}

// The documented order (linear_bf16.h), scalar: odd column of each pair first, FTZ|DAZ for the
// lane steps only, the lane tree and chunk sums in plain fp32.
void bf16_in_order(const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y, int64_t y_stride) {
  const int64_t N = w.rows, K = w.cols, Kp = (K + 31) / 32 * 32;
  std::vector<float> row(K);
  for (int64_t n = 0; n < N; ++n) {
    w.row_to_f32(n, 0, K, row.data());
    for (int64_t m = 0; m < M; ++m) {
      auto xv = [&](int64_t k) { return k < K ? bf16_to_f32(f32_to_bf16(x[m * x_stride + k])) : 0.f; };
      auto wv = [&](int64_t k) { return k < K ? bf16_to_f32(f32_to_bf16(row[k])) : 0.f; };
      float out = 0.f;
      for (int64_t k0 = 0; k0 < Kp; k0 += 512) {
        volatile float t[16] = {};  // volatile: every lane step stays inside the FTZ|DAZ scope
#if defined(__x86_64__)
        const unsigned saved = _mm_getcsr();
        _mm_setcsr(saved | 0x8040u);
#endif
        for (int64_t k = k0; k < std::min(Kp, k0 + 512); k += 32)
          for (int l = 0; l < 16; ++l) {
            t[l] = std::fma(xv(k + 2 * l + 1), wv(k + 2 * l + 1), t[l]);
            t[l] = std::fma(xv(k + 2 * l), wv(k + 2 * l), t[l]);
          }
#if defined(__x86_64__)
        _mm_setcsr(saved);
#endif
        for (int half = 8; half >= 1; half /= 2)
          for (int i = 0; i < half; ++i) t[i] = t[i] + t[i + half];
        out += t[0];
      }
      y[m * y_stride + n] = out;
    }
  }
}

int64_t count_bit_diffs(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  int64_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool same = std::isnan(a[i]) ? bool(std::isnan(b[i])) : bits_from_f32(a[i]) == bits_from_f32(b[i]);
    if (!same && bad++ < 3) ADD_FAILURE() << what << " at " << i << ": " << a[i] << " vs " << b[i];
  }
  return bad;
}

struct Bf16Case {
  DType dtype;
  int64_t N, K;
  bool tiny = false;
};

class LinearBf16 : public ::testing::TestWithParam<Bf16Case> {};

TEST_P(LinearBf16, BothStepsMatchTheDocumentedOrderBitForBit) {
  const Bf16Case c = GetParam();
  TestWeight t = make_weight(c.dtype, c.N, c.K, 21, {.tiny = c.tiny});
  const int64_t x_stride = c.K + 8, y_stride = c.N + 3;
  std::vector<float> x = make_x(133, x_stride, 5, c.tiny);
  const bool native = bf16_dot_native_available();
  for (int64_t M : {1, 3, 4, 5, 16, 133}) {
    std::vector<float> want(M * y_stride, -1.f);
    bf16_in_order(x.data(), M, x_stride, t.w, want.data(), y_stride);
    for (int threads : {1, 3}) {
      ThreadPool pool(threads);
      for (Bf16Dot d : {Bf16Dot::kEmulated, Bf16Dot::kNative}) {
        if (d == Bf16Dot::kNative && !native) continue;
        std::vector<float> y(M * y_stride, -1.f);
        linear_bf16(pool, x.data(), M, x_stride, t.w, y.data(), y_stride, d);
        const std::string what = std::string(bf16_dot_name(d)) + " M " + std::to_string(M) + " threads " +
                                 std::to_string(threads);
        EXPECT_EQ(count_bit_diffs(y, want, what), 0) << what;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ops, LinearBf16,
    ::testing::Values(Bf16Case{DType::F8_E4M3, 37, 1040},       // ragged tiles, K % 32 = 16 (zero pad)
                      Bf16Case{DType::F8_E4M3, 520, 1024},      // two weight-row blocks at 1 thread
                      Bf16Case{DType::BF16, 64, 576},
                      Bf16Case{DType::BF16, 9, 100},            // K % 32 = 4
                      Bf16Case{DType::F8_E4M3, 24, 512, true},  // subnormal products and sums
                      Bf16Case{DType::BF16, 24, 512, true}),    // subnormal x
    [](const auto& i) {
      return std::string(dtype_name(i.param.dtype)) + "_N" + std::to_string(i.param.N) + "_K" +
             std::to_string(i.param.K) + (i.param.tiny ? "_tiny" : "");
    });

// Against float64. Two bounds, both worst-case (they cannot fail from rounding luck):
//  a. vs linear_bf16_reference (the same bf16 operands, float64 sums): the products are exact in
//     fp32, so the only error is fp32 summation. An output passes through at most
//     d = 2·16 (lane steps per chunk) + 4 (tree) + ceil(K/512) (chunk adds) roundings, each of
//     relative size ≤ u = 2^-24 of a partial sum bounded by Σ|x·w|: |y − ref| ≤ γ_d Σ|x_k w_k|,
//     γ_d = d·u/(1 − d·u).
//  b. vs linear_reference (fp32 operands, float64): in addition each operand is rounded to bf16,
//     |δ| ≤ 2^-8 relative (8 significant bits, round to nearest), a product by ≤ 2·2^-8 + 2^-16:
//     |y − ref| ≤ (2^-7 + 2^-16 + γ_d) Σ|x_k w_k| (up to γ_d's own (1 + 2^-7) factor, inside the
//     margin of the 1.01 below).
TEST(OpsLinearBf16, NearFloat64References) {
  for (DType dt : {DType::F8_E4M3, DType::BF16}) {
    const int64_t M = 7, N = 70, K = 2048;
    TestWeight t = make_weight(dt, N, K, 31);
    std::vector<float> x = make_x(M, K, 9);
    ThreadPool pool(2);
    std::vector<float> y(M * N), same_ops(M * N), exact(M * N), row(K);
    linear_bf16(pool, x.data(), M, K, t.w, y.data(), N);
    linear_bf16_reference(x.data(), M, K, t.w, same_ops.data(), N);
    linear_reference(x.data(), M, K, t.w, exact.data(), N);
    const double u = std::ldexp(1.0, -24), d = 2 * 16 + 4 + (K + 511) / 512, gamma = d * u / (1 - d * u);
    double worst_a = 0, worst_b = 0;
    for (int64_t n = 0; n < N; ++n) {
      t.w.row_to_f32(n, 0, K, row.data());
      for (int64_t m = 0; m < M; ++m) {
        double abs_sum = 0;
        for (int64_t k = 0; k < K; ++k) abs_sum += std::fabs(double(x[m * K + k]) * row[k]);
        const double ea = std::fabs(double(y[m * N + n]) - same_ops[m * N + n]) / abs_sum;
        const double eb = std::fabs(double(y[m * N + n]) - exact[m * N + n]) / abs_sum;
        worst_a = std::max(worst_a, ea), worst_b = std::max(worst_b, eb);
      }
    }
    EXPECT_LE(worst_a, 1.01 * gamma + std::ldexp(1.0, -24)) << dtype_name(dt);  // + the final float() rounding
    EXPECT_LE(worst_b, 1.01 * (std::ldexp(1.0, -7) + std::ldexp(1.0, -16) + gamma) + std::ldexp(1.0, -24)) << dtype_name(dt);
    // and bf16 rounding is really there: the error vs fp32 operands is far above fp32 summation's
    EXPECT_GT(worst_b, 10 * gamma) << dtype_name(dt);
  }
}

TEST(OpsLinearBf16, RejectsOtherDtypes) {
  std::vector<float> wdata(16 * 32, 0.f), x(32, 1.f), y(16);
  const Weight w{DType::F32, 16, 32, wdata.data()};
  ThreadPool pool(1);
  EXPECT_THROW(linear_bf16(pool, x.data(), 1, 32, w, y.data(), 16), Error);
}

}  // namespace
}  // namespace dsv32
