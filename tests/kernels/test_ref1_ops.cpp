// The REF-1 emulation ops (MODEL §3.4, §3.5, §6.6): round_bf16, act_quant, fp8_gemm, attend_ref1.
// act_quant is checked on hand-computed blocks; fp8_gemm against a double-precision evaluation of
// the same formula (independent quantizer: std::log2 + the table-search e4m3 encoder); attend_ref1
// against a double evaluation without rounding, with a bound derived from its bf16 points.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/attention_ref1.h"
#include "kernels/cpu/fp8_gemm.h"
#include "kernels/cpu/round_bf16.h"
#include "kernels/error.h"
#include "tests/kernels/test_inputs.h"

namespace dsv32 {
namespace {

const double kU32 = std::ldexp(1.0, -24);   // fp32 unit roundoff
const double kUbf16 = std::ldexp(1.0, -8);  // bf16 unit roundoff: |bf16(x) − x| ≤ 2^-8·|x|
double gamma(int64_t k) { return k * kU32 / (1 - k * kU32); }

// REF-1 activations are bf16 values: the shared generator's draws, rounded.
std::vector<float> randn(int64_t n, uint32_t seed, float scale = 1.f) {
  std::vector<float> v = test_util::randn(n, seed, scale);
  for (auto& x : v) x = bf16_round(x);
  return v;
}

TEST(Ref1Ops, RoundBf16MatchesScalarEncoder) {
  std::vector<float> x = randn(1000, 1, 3.f);
  const float special[] = {0.f, -0.f, 1.f + 0x1p-8f /* tie → even (1.0) */, 1.f + 3 * 0x1p-8f /* tie → up */,
                           INFINITY, -INFINITY, NAN, 3.4e38f /* rounds past the largest bf16 → inf */, 1e-40f};
  x.insert(x.end(), std::begin(special), std::end(special));
  std::vector<float> y = x;
  round_bf16(y.data(), int64_t(y.size()));  // 1009 values: vector body and scalar tail
  for (size_t i = 0; i < x.size(); ++i) {
    const uint16_t want = f32_to_bf16(x[i]);
    if (std::isnan(x[i])) EXPECT_TRUE(std::isnan(y[i]));
    else EXPECT_EQ(bits_from_f32(y[i]), uint32_t(want) << 16) << "i " << i << " x " << x[i];
  }
  EXPECT_EQ(y[1002], 1.f);
  EXPECT_EQ(y[1003], 1.f + 4 * 0x1p-8f);
}

TEST(Ref1Ops, E4m3RoundMatchesTableEncoder) {
  // Every midpoint between neighbouring positive codes (ties), and random values in range.
  std::vector<float> v;
  for (int c = 0; c < 0x7e; ++c) {
    const float a = f8e4m3_to_f32(uint8_t(c)), b = f8e4m3_to_f32(uint8_t(c + 1));
    v.push_back(0.5f * (a + b));
    v.push_back(a);
  }
  std::mt19937 g(3);
  std::uniform_real_distribution<float> d(-448.f, 448.f);
  for (int i = 0; i < 20000; ++i) v.push_back(d(g) * (i % 2 ? 1.f : 1e-3f));
  for (float x : v) EXPECT_EQ(e4m3_round(x), f8e4m3_to_f32(f32_to_f8e4m3(x))) << x;
}

TEST(Ref1Ops, ActQuantHandCheckedBlocks) {
  // Row 0, block 0: max exactly 448·2^-3 → s = 2^-3 and code 448 (fp32(1/448) rounds up, but
  //   56·fp32(1/448) rounds back to 2^-3). 0.3/s = 2.4 → 2.5 (spacing 0.25 in [2, 4)).
  //   2^-13/s = 2^-10: half the smallest subnormal 2^-9 → tie → 0 (even).
  // Row 0, block 1 (ragged, 64 wide): all zeros → amax floored to 1e-4 → s = 2^ceil(log2(1e-4/448))
  //   = 2^-22; codes 0.
  // Row 1, block 0: max |x| = 100 (negative) → s = 2^ceil(log2(0.2232)) = 2^-2; −100/s = −400, a
  //   tie between 384 (mantissa 4, even) and 416 → −384.
  // Row 1, block 1: amax 449 → t = 449/448 > 1 → s = 2 (rounds up to the next power of two);
  //   449/2 = 224.5 → 224; 300/2 = 150 → 144 (spacing 16 in [128, 256): 144, 160).
  const int64_t D = 192;
  std::vector<float> x(2 * D, 0.f);
  x[0] = 56.f; x[1] = 0.3f; x[2] = 0x1p-13f; x[3] = -1.f;
  x[D + 0] = -100.f; x[D + 1] = 7.f;
  x[D + 128] = 449.f; x[D + 129] = 300.f;
  std::vector<float> q(2 * D), s(4);
  act_quant({2, D, 128, true}, x.data(), q.data(), s.data());
  EXPECT_EQ(s[0], 0x1p-3f);
  EXPECT_EQ(q[0], 448.f);
  EXPECT_EQ(q[1], 2.5f);
  EXPECT_EQ(q[2], 0.f);
  EXPECT_EQ(q[3], -8.f);
  EXPECT_EQ(s[1], 0x1p-22f);
  for (int64_t k = 128; k < D; ++k) EXPECT_EQ(q[k], 0.f);
  EXPECT_EQ(s[2], 0.25f);
  EXPECT_EQ(q[D + 0], -384.f);
  EXPECT_EQ(q[D + 1], 28.f);
  EXPECT_EQ(s[3], 2.f);
  EXPECT_EQ(q[D + 128], 224.f);
  EXPECT_EQ(q[D + 129], 144.f);
  // Without ue8m0 the scale is amax/448 itself: the block maximum maps to 448 exactly or nearly.
  act_quant({2, D, 128, false}, x.data(), q.data(), s.data());
  EXPECT_EQ(s[3], 449.f * (1.f / 448.f));
  EXPECT_EQ(q[D + 128], 448.f);
}

TEST(Ref1Ops, ActQuantRoundtripIsLosslesslyRequantized) {
  // MODEL §6.6: the simulated latent q·s re-quantizes to the same values (amax/s ∈ (224, 448]).
  std::vector<float> x = randn(4 * 512, 5, 2.f), y = x;
  act_quant_roundtrip({4, 512, 128, true}, y.data());
  std::vector<float> z = y;
  act_quant_roundtrip({4, 512, 128, true}, z.data());
  double err = 0, ss = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(z[i], y[i]) << i;
    EXPECT_EQ(bf16_round(y[i]), y[i]) << "q·s must be bf16-exact";
    err += (y[i] - x[i]) * double(y[i] - x[i]);
    ss += double(x[i]) * x[i];
  }
  // e4m3 keeps 3 mantissa bits: relative rounding error ≤ 2^-4, rms ≈ 2^-4/√3 for uniform
  // mantissas; a Gaussian block also has small values (subnormal codes), so allow up to 2^-4.
  EXPECT_GT(std::sqrt(err / ss), 1e-3);
  EXPECT_LT(std::sqrt(err / ss), 0x1p-4);
}

// --- fp8_gemm ----------------------------------------------------------------------------------

struct Fp8Case {
  int64_t M, N, K;
  bool pow2_weight_scales;
};

struct Fp8Weight {
  std::vector<uint8_t> codes;
  std::vector<float> scale;
  Weight w;
  Fp8Weight(int64_t N, int64_t K, bool pow2, uint32_t seed) : codes(N * K) {
    const int64_t sr = (N + 127) / 128, sc = (K + 127) / 128;
    scale.resize(sr * sc);
    for (int64_t i = 0; i < sr * sc; ++i)
      scale[i] = pow2 ? std::ldexp(1.f, -9 + int(i % 4)) : 0.00137f * float(1 + i % 5);
    std::vector<float> wf = randn(N * K, seed, 0.05f);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) codes[n * K + k] = f32_to_f8e4m3(wf[n * K + k] / scale[(n / 128) * sc + k / 128]);
    w = Weight{DType::F8_E4M3, N, K, codes.data(), scale.data(), sc};
  }
};

// The formula of MODEL §3.5 in double, with its own quantizer. Returns y before the bf16 rounding
// and, per output, Σ|terms| (for the fp32 error bound).
void fp8_gemm_double(const std::vector<float>& x, int64_t M, const Weight& w, std::vector<double>& y,
                     std::vector<double>& mag) {
  const int64_t N = w.rows, K = w.cols, nb = (K + 127) / 128;
  std::vector<double> xq(M * K), sx(M * nb);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t k0 = b * 128, k1 = std::min(K, k0 + 128);
      float amax = 1e-4f;
      for (int64_t k = k0; k < k1; ++k) amax = std::max(amax, std::fabs(x[m * K + k]));
      const float t = amax * (1.f / 448.f);  // the fp32 product REF forms
      const double s = std::ldexp(1.0, int(std::ceil(std::log2(double(t)))));
      sx[m * nb + b] = s;
      for (int64_t k = k0; k < k1; ++k) {
        const float v = std::clamp(float(x[m * K + k] / s), -448.f, 448.f);
        xq[m * K + k] = f8e4m3_to_f32(f32_to_f8e4m3(v));
      }
    }
  y.assign(M * N, 0);
  mag.assign(M * N, 0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t b = 0; b < nb; ++b) {
        double part = 0, pm = 0;
        for (int64_t k = b * 128; k < std::min(K, b * 128 + 128); ++k) {
          const double wq = f8e4m3_to_f32(static_cast<const uint8_t*>(w.data)[n * K + k]);
          part += xq[m * K + k] * wq;
          pm += std::fabs(xq[m * K + k] * wq);
        }
        const double s = sx[m * nb + b] * w.scale[(n / 128) * w.scale_cols + b];
        y[m * N + n] += part * s;
        mag[m * N + n] += pm * s;
      }
}

class Fp8GemmTest : public ::testing::TestWithParam<Fp8Case> {};

TEST_P(Fp8GemmTest, MatchesDoubleFormulaWithinOneBf16Rounding) {
  const Fp8Case c = GetParam();
  Fp8Weight fw(c.N, c.K, c.pow2_weight_scales, 11);
  std::vector<float> x = randn(c.M * c.K, 12);
  x[0] = 300.f;  // an outlier: its block gets a coarse scale
  ThreadPool pool(2);
  std::vector<float> y(c.M * c.N);
  fp8_gemm(pool, {c.M}, x.data(), fw.w, y.data());
  std::vector<double> yd, mag;
  fp8_gemm_double(x, c.M, fw.w, yd, mag);
  int64_t same = 0;
  for (int64_t i = 0; i < c.M * c.N; ++i) {
    // fp32 error of the kernel's accumulator: ≤ γ_(128 + blocks)·Σ|terms| (block partials, then the
    // promoted adds); bf16 output adds ≤ 2^-8 of the accumulator's magnitude.
    const double eps = gamma(128 + (c.K + 127) / 128) * mag[i];
    const double tol = kUbf16 * (std::fabs(yd[i]) + eps) + eps;
    ASSERT_LE(std::fabs(y[i] - yd[i]), tol) << "i " << i << " got " << y[i] << " want " << yd[i];
    ASSERT_EQ(bf16_round(y[i]), y[i]) << "output must be bf16";
    same += y[i] == bf16_round(float(yd[i]));
  }
  // A result differs from bf16(exact) only when the fp32 sum straddles a rounding boundary:
  // probability ~ 2·eps/ulp ≈ 2·√128·2^-24 / 2^-7 < 1e-3 per output.
  EXPECT_GE(double(same) / double(c.M * c.N), 0.99);

  // Row independence (decode ≡ prefill) and thread-count independence, bit for bit.
  std::vector<float> one(c.N), y1(c.M * c.N);
  fp8_gemm(pool, {1}, x.data() + (c.M - 1) * c.K, fw.w, one.data());
  for (int64_t n = 0; n < c.N; ++n) ASSERT_EQ(one[n], y[(c.M - 1) * c.N + n]);
  ThreadPool pool3(3);
  fp8_gemm(pool3, {c.M}, x.data(), fw.w, y1.data());
  for (int64_t i = 0; i < c.M * c.N; ++i) ASSERT_EQ(y1[i], y[i]);

  // Against the exact profile's linear (dequantized W, un-quantized x): they differ by about the
  // e4m3 activation rounding (rms ≤ 2^-4/√3 relative per element, averaged over K) — non-zero,
  // and well under 2^-4.
  std::vector<float> yl(c.M * c.N);
  linear(pool, x.data(), c.M, fw.w, yl.data());
  double d2 = 0, s2 = 0;
  for (int64_t i = 0; i < c.M * c.N; ++i) {
    d2 += (y[i] - yl[i]) * double(y[i] - yl[i]);
    s2 += double(yl[i]) * yl[i];
  }
  EXPECT_GT(std::sqrt(d2 / s2), 1e-4);
  EXPECT_LT(std::sqrt(d2 / s2), 0x1p-4);
}

INSTANTIATE_TEST_SUITE_P(Ref1Ops, Fp8GemmTest,
                         ::testing::Values(Fp8Case{5, 64, 256, true}, Fp8Case{1, 200, 1040, true},  // ragged K, N
                                           Fp8Case{7, 512, 64, true},     // tiny kv_b: one 64-wide block
                                           Fp8Case{3, 130, 384, false}),  // non-power-of-two weight scales
                         [](const auto& i) {
                           return "M" + std::to_string(i.param.M) + "_N" + std::to_string(i.param.N) + "_K" +
                                  std::to_string(i.param.K) + (i.param.pow2_weight_scales ? "" : "_fp32scale");
                         });

TEST(Ref1Ops, Fp8GemmRejectsNonFp8Weight) {
  std::vector<float> wf(16 * 16, 0.f), x(16), y(16);
  Weight w{DType::F32, 16, 16, wf.data()};
  ThreadPool pool(1);
  EXPECT_THROW(fp8_gemm(pool, {1}, x.data(), w, y.data()), Error);
}

// --- attend_ref1 -------------------------------------------------------------------------------

// Double evaluation without any rounding: out = Σ softmax(scale·q·k) v.
void attend_double(const AttendParams& p, const float* q, const float* keys, const float* values, int64_t n,
                   std::vector<double>& out) {
  std::vector<double> a(n);
  double mx = -INFINITY, sum = 0;
  for (int64_t t = 0; t < n; ++t) {
    double d = 0;
    for (int64_t i = 0; i < p.d_k; ++i) d += double(q[i]) * keys[t * p.key_stride + i];
    a[t] = d * p.scale;
    mx = std::max(mx, a[t]);
  }
  for (auto& v : a) sum += (v = std::exp(v - mx));
  out.assign(p.d_v, 0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t e = 0; e < p.d_v; ++e) out[e] += a[t] / sum * values[t * p.value_stride + e];
}

TEST(Ref1Ops, AttendRef1WithinBf16BoundAndHeadBlockingInvariant) {
  const int64_t dk = 96, dv = 64, n = 40, heads = 5;
  std::vector<float> q = randn(heads * dk, 21), keys = randn(n * dk, 22), vals = randn(n * dv, 23);
  for (int64_t split : {int64_t(0), int64_t(64)}) {
    const AttendParams p{dk, dv, dk, dv, 0.12f, split};
    std::vector<float> probs(heads * (n + 1)), out(heads * dv), one(dv);
    attend_ref1(p, heads, q.data(), dk, keys.data(), vals.data(), nullptr, n, probs.data(), out.data(), dv);
    for (int64_t h = 0; h < heads; ++h) {
      attend_ref1(p, 1, q.data() + h * dk, dk, keys.data(), vals.data(), nullptr, n, probs.data(), one.data(), dv);
      for (int64_t e = 0; e < dv; ++e) ASSERT_EQ(one[e], out[h * dv + e]) << "head " << h;
      std::vector<double> ref;
      attend_double(p, q.data() + h * dk, keys.data(), vals.data(), n, ref);
      // Bound: a score a_t carries up to 3 (split: 4) bf16 roundings, each ≤ 2^-8·|·|; with
      // |scale·q·k| ≲ 0.12·√96·3 ≈ 3.5 an absolute score error δ ≲ 4·2^-8·3.5 moves each
      // probability by ≤ 2δ relative; the bf16 probabilities add 2^-8 and the output 2^-8. So
      // |out − ref| ≤ (2δ + 2·2^-8)·max|v| ≈ 0.23·max|v|; we assert a quarter of max|v| and, more
      // tightly, that the error is not systematic: the rms over the head ≤ 0.05·rms(v).
      double mv = 0, e2 = 0, v2 = 0;
      for (float v : vals) mv = std::max(mv, double(std::fabs(v)));
      for (int64_t e = 0; e < dv; ++e) {
        const double d = out[h * dv + e] - ref[e];
        ASSERT_LE(std::fabs(d), 0.25 * mv) << "split " << split << " head " << h << " e " << e;
        ASSERT_EQ(bf16_round(out[h * dv + e]), out[h * dv + e]);
        e2 += d * d;
      }
      for (float v : vals) v2 += double(v) * v;
      EXPECT_LE(std::sqrt(e2 / dv), 0.05 * std::sqrt(v2 / double(vals.size())));
    }
  }
}

TEST(Ref1Ops, AttendRef1SparseIndexEqualsDenseOverSamePositions) {
  const int64_t dk = 32, dv = 16, n = 12;
  std::vector<float> q = randn(dk, 31), keys = randn(n * dk, 32), vals = randn(n * dv, 33);
  std::vector<int32_t> all(n);
  for (int64_t i = 0; i < n; ++i) all[i] = int32_t(i);
  const AttendParams p{dk, dv, dk, dv, 0.2f, 0};
  std::vector<float> probs(n + 1), a(dv), b(dv);
  attend_ref1(p, 1, q.data(), dk, keys.data(), vals.data(), nullptr, n, probs.data(), a.data(), dv);
  attend_ref1(p, 1, q.data(), dk, keys.data(), vals.data(), all.data(), n, probs.data(), b.data(), dv);
  for (int64_t e = 0; e < dv; ++e) EXPECT_EQ(a[e], b[e]);
}

}  // namespace
}  // namespace dsv32
