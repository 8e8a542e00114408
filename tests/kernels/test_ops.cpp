// Each CPU op against a plain double-precision reference on the same inputs. Tolerances are
// derived from fp32 (u = 2^-24) and the reduction length K: a K-term fp32 dot product of
// magnitudes |x|·|w| is within γ_K·Σ|x_k w_k| of the exact value, γ_K = K·u/(1−K·u) (worst
// case); we assert that bound per element, which cannot fail from rounding alone.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "bench/op_cases.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/hadamard.h"
#include "kernels/cpu/indexer.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/moe_route.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"
#include "tests/kernels/test_inputs.h"

namespace dsv32 {
namespace {

const double kU = std::ldexp(1.0, -24);
double gamma(int64_t k) { return k * kU / (1 - k * kU); }

using test_util::randn;

using cases::LinearCase;  // the op contract's case list (bench/op_cases.h), shared with the GPU test

class LinearTest : public ::testing::TestWithParam<LinearCase> {};

TEST_P(LinearTest, MatchesReferenceWithinGammaK) {
  const LinearCase c = GetParam();
  const int64_t NN = c.N + c.row0;  // the full weight; the case uses rows [row0, row0 + N)
  std::vector<float> wf = randn(NN * c.K, 1, 0.05f), x = randn(c.M * c.K, 2);
  std::vector<uint8_t> storage;
  std::vector<float> scale;
  Weight full{c.dtype, NN, c.K};
  if (c.dtype == DType::F32) {
    full.data = wf.data();
  } else if (c.dtype == DType::BF16 || c.dtype == DType::F16) {
    storage.resize(wf.size() * 2);
    auto* p = reinterpret_cast<uint16_t*>(storage.data());
    for (size_t i = 0; i < wf.size(); ++i) p[i] = c.dtype == DType::BF16 ? f32_to_bf16(wf[i]) : f32_to_f16(wf[i]);
    full.data = p;
  } else {  // F8 with a ragged 128-block grid and non-trivial scales
    const int64_t sr = (NN + 127) / 128, sc = (c.K + 127) / 128;
    scale.resize(sr * sc);
    for (int64_t i = 0; i < sr * sc; ++i) scale[i] = std::ldexp(1.f, -8 + int(i % 3));
    storage.resize(wf.size());
    for (int64_t n = 0; n < NN; ++n)
      for (int64_t k = 0; k < c.K; ++k)
        storage[n * c.K + k] = f32_to_f8e4m3(wf[n * c.K + k] / scale[(n / 128) * sc + k / 128]);
    full.data = storage.data();
    full.scale = scale.data();
    full.scale_cols = sc;
  }
  const Weight w = full.rows_slice(c.row0, c.N);
  ThreadPool pool(2);
  std::vector<float> y(c.M * c.N), yr(c.M * c.N);
  linear(pool, x.data(), c.M, w, y.data());
  linear_reference(x.data(), c.M, c.K, w, yr.data(), c.N);
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t n = 0; n < c.N; ++n) {
      double mag = 0;
      for (int64_t k = 0; k < c.K; ++k) mag += std::fabs(x[m * c.K + k] * w.at(n, k));
      // + one rounding of the reference's own double->float conversion
      double tol = gamma(c.K) * mag + std::fabs(yr[m * c.N + n]) * kU;
      ASSERT_LE(std::fabs(y[m * c.N + n] - yr[m * c.N + n]), tol) << "m " << m << " n " << n;
    }
  // Row independence: row m computed alone equals row m inside the batch, bit for bit.
  std::vector<float> one(c.N);
  const int64_t m = c.M - 1;
  linear(pool, x.data() + m * c.K, 1, w, one.data());
  for (int64_t n = 0; n < c.N; ++n) ASSERT_EQ(one[n], y[m * c.N + n]);
}

INSTANTIATE_TEST_SUITE_P(Ops, LinearTest, ::testing::ValuesIn(cases::linear_corner_cases()),
                         [](const auto& i) { return i.param.name(); });

TEST(Ops, WeightRowsSliceKeepsScaleGrid) {
  // A slice starting mid-block (W_UV rows of a head in the tiny preset) must use the scale row of
  // its absolute position.
  std::vector<uint8_t> q(256 * 8, 0x38);  // e4m3 1.0
  std::vector<float> s = {2.f, 4.f};      // block rows 0 and 1
  Weight w{DType::F8_E4M3, 256, 8, q.data(), s.data(), 1};
  EXPECT_EQ(w.rows_slice(100, 64).at(27, 0), 2.f);  // absolute row 127
  EXPECT_EQ(w.rows_slice(100, 64).at(28, 0), 4.f);  // absolute row 128
}

TEST(Ops, YarnFrequenciesMatchSpecTable) {
  // MODEL §4.3 table for d_r = 64, θ = 1e4, factor 40, L0 4096, β 32/1 (values given to 7 digits).
  RopeTable t({64, 10000.0, 40.0, 4096, 32, 1}, 4);
  const std::pair<int, double> expect[] = {{0, 1.0}, {10, 5.623413e-02}, {11, 3.900693e-02},
                                           {16, 5.500000e-03}, {22, 1.778279e-04}, {23, 3.333804e-05},
                                           {31, 3.333804e-06}};
  for (auto [j, f] : expect) EXPECT_NEAR(t.freqs()[j] / f, 1.0, 1e-6) << "j " << j;
}

TEST(Ops, RopeLayoutsRotatePairs) {
  RopeTable t({8, 10000.0, 1.0, 4096, 32, 1}, 16);
  std::vector<float> x = randn(8, 3), a = x, b = x;
  rope_apply(t, RopeLayout::kInterleaved, a.data(), 1, 8, 1, 8, 5);
  rope_apply(t, RopeLayout::kHalf, b.data(), 1, 8, 1, 8, 5);
  for (int j = 0; j < 4; ++j) {
    double c = std::cos(5.0 * t.freqs()[j]), s = std::sin(5.0 * t.freqs()[j]);
    EXPECT_NEAR(a[2 * j], x[2 * j] * c - x[2 * j + 1] * s, 4 * kU);
    EXPECT_NEAR(a[2 * j + 1], x[2 * j] * s + x[2 * j + 1] * c, 4 * kU);
    EXPECT_NEAR(b[j], x[j] * c - x[j + 4] * s, 4 * kU);
    EXPECT_NEAR(b[j + 4], x[j] * s + x[j + 4] * c, 4 * kU);
  }
}

TEST(Ops, HadamardIsOrthogonalAndSelfInverse) {
  const int n = 128;
  std::vector<float> q = randn(n, 4), k = randn(n, 5), q2 = q, k2 = k;
  hadamard_rotate(q2.data(), 1, n);
  hadamard_rotate(k2.data(), 1, n);
  double d0 = 0, d1 = 0, mag = 0;
  for (int i = 0; i < n; ++i) {
    d0 += double(q[i]) * k[i];
    d1 += double(q2[i]) * k2[i];
    mag += std::fabs(q[i] * k[i]);
  }
  EXPECT_NEAR(d0, d1, 2 * gamma(n) * mag * std::log2(n));  // log2(n) butterfly passes of rounding
  // Row 1 of H_128 is (+1, -1, +1, ...): e_1 maps to that pattern / sqrt(128).
  std::vector<float> e(n, 0.f);
  e[1] = 1.f;
  hadamard_rotate(e.data(), 1, n);
  for (int i = 0; i < n; ++i) EXPECT_FLOAT_EQ(e[i], (i % 2 ? -1.f : 1.f) / std::sqrt(128.f));
  hadamard_rotate(q2.data(), 1, n);
  for (int i = 0; i < n; ++i) EXPECT_NEAR(q2[i], q[i], 16 * kU * std::fabs(q[i]) + 1e-6);
}

TEST(Ops, IndexerTopkTiesPreferLowerPosition) {
  const std::vector<float> s = {1, 5, 3, 5, 5, 0, NAN, 3};
  std::vector<int32_t> scratch(8), out(8);
  ASSERT_EQ(indexer_topk(s.data(), 8, 2, scratch.data(), out.data()), 2);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1], 3);  // 5 at positions 1, 3, 4: the two lowest
  ASSERT_EQ(indexer_topk(s.data(), 8, 5, scratch.data(), out.data()), 5);
  EXPECT_EQ(std::vector<int32_t>(out.begin(), out.begin() + 5), (std::vector<int32_t>{1, 2, 3, 4, 7}));
  ASSERT_EQ(indexer_topk(s.data(), 3, 10, scratch.data(), out.data()), 3);  // k > n: all, ascending
}

TEST(Ops, IndexerScoresMatchFormula) {
  const int H = 4, d = 64, n = 10;
  std::vector<float> q = randn(H * d, 6), w = randn(H, 7), k = randn(n * d, 8), s(n);
  indexer_scores({H, d, 64}, q.data(), w.data(), k.data(), n, s.data());
  for (int u = 0; u < n; ++u) {
    double ref = 0, mag = 0;
    for (int j = 0; j < H; ++j) {
      double dot = 0, dm = 0;
      for (int i = 0; i < d; ++i) { dot += double(q[j * d + i]) * k[u * d + i]; dm += std::fabs(q[j * d + i] * k[u * d + i]); }
      ref += w[j] * std::max(0.0, dot);
      mag += std::fabs(w[j]) * dm;
    }
    EXPECT_NEAR(s[u], ref, gamma(d + H) * mag);
  }
}

TEST(Ops, MoeRouteGroupsBiasAndTies) {
  // 8 experts in 4 groups of 2, keep 2 groups, top-2. Logits chosen so the bias flips a choice.
  const float logits[8] = {2.0f, 1.9f, 0.1f, 0.0f, 1.0f, 1.0f, -3.f, -3.f};
  const float bias[8] = {0, 0, 0.9f, 0.9f, 0, 0, 0, 0};
  MoeRouteParams p{8, 4, 2, 2, true, true, 2.5};
  int32_t ids[2];
  float w[2], sel[8];
  moe_route(p, logits, bias, ids, w, sel);
  // Group scores: g0 ≈ 0.88+0.87, g1 ≈ (0.52+0.9)+(0.5+0.9), g2 ≈ 0.73·2, g3 small -> keep g1, g0.
  EXPECT_TRUE(std::isinf(sel[4]) && sel[4] < 0);
  EXPECT_EQ(ids[0], 2);  // biased scores 1.425 and 1.4 beat 0.88
  EXPECT_EQ(ids[1], 3);
  // Weights come from the unbiased sigmoid, normalised, times 2.5.
  double s2 = 1 / (1 + std::exp(-0.1)), s3 = 0.5;
  EXPECT_NEAR(w[0], 2.5 * s2 / (s2 + s3), 1e-6);
  EXPECT_NEAR(w[0] + w[1], 2.5, 1e-6);
  // Exact tie between experts 4 and 5 (same logit, same bias): the lower id wins.
  const float tied[8] = {-5, -5, -5, -5, 1.0f, 1.0f, 0.5f, -5};
  MoeRouteParams q{8, 1, 1, 1, true, true, 1.0};
  moe_route(q, tied, nullptr, ids, w, sel);
  EXPECT_EQ(ids[0], 4);
}

TEST(Ops, AttendMatchesSoftmaxReferenceAndSparseGather) {
  const int dk = 48, dv = 32, n = 20;
  std::vector<float> q = randn(dk, 9), keys = randn(n * dk, 10), vals = randn(n * dv, 11), probs(n), out(dv);
  AttendParams p{dk, dv, dk, dv, 0.2f};
  attend(p, q.data(), keys.data(), vals.data(), nullptr, n, probs.data(), out.data());
  std::vector<double> s(n);
  double mx = -1e300, sum = 0;
  for (int t = 0; t < n; ++t) {
    double d = 0;
    for (int i = 0; i < dk; ++i) d += double(q[i]) * keys[t * dk + i];
    s[t] = 0.2 * d;
    mx = std::max(mx, s[t]);
  }
  for (int t = 0; t < n; ++t) sum += std::exp(s[t] - mx);
  for (int e = 0; e < dv; ++e) {
    double r = 0, mag = 0;
    for (int t = 0; t < n; ++t) { r += std::exp(s[t] - mx) / sum * vals[t * dv + e]; mag += std::fabs(vals[t * dv + e]); }
    // score error γ_dk·|q||k|·scale feeds exp; the PV sum adds γ_n: both far below 1e-5·mag here.
    EXPECT_NEAR(out[e], r, (gamma(dk) * 10 + gamma(n) * 4) * mag) << e;
  }
  // The sparse gather over {0..n-1} is bit-identical to the dense range.
  std::vector<int32_t> all(n);
  for (int t = 0; t < n; ++t) all[t] = t;
  std::vector<float> out2(dv);
  attend(p, q.data(), keys.data(), vals.data(), all.data(), n, probs.data(), out2.data());
  EXPECT_EQ(out, out2);
}

TEST(Ops, RmsNormAndLayerNorm) {
  const int D = 64;
  std::vector<float> x = randn(2 * D, 12, 3.f), w = randn(D, 13), b = randn(D, 14), y(2 * D);
  rmsnorm({2, D, 1e-6}, x.data(), w.data(), y.data());
  for (int m = 0; m < 2; ++m) {
    double ss = 0;
    for (int i = 0; i < D; ++i) ss += double(x[m * D + i]) * x[m * D + i];
    double r = 1 / std::sqrt(ss / D + 1e-6);
    for (int i = 0; i < D; ++i) EXPECT_NEAR(y[m * D + i], w[i] * x[m * D + i] * r, 4 * kU * std::fabs(w[i] * x[m * D + i] * r) + 1e-30);
  }
  layernorm({2, D, 1e-6}, x.data(), w.data(), b.data(), y.data());
  for (int m = 0; m < 2; ++m) {
    double mean = 0, var = 0;
    for (int i = 0; i < D; ++i) mean += x[m * D + i];
    mean /= D;
    for (int i = 0; i < D; ++i) var += (x[m * D + i] - mean) * (x[m * D + i] - mean);
    var /= D;
    for (int i = 0; i < D; ++i) {
      double r = (x[m * D + i] - mean) / std::sqrt(var + 1e-6) * w[i] + b[i];
      EXPECT_NEAR(y[m * D + i], r, 8 * kU * (std::fabs(r) + std::fabs(b[i])));
    }
  }
}

}  // namespace
}  // namespace dsv32

namespace dsv32 {
namespace {
// The vectorised F8 decode must equal the table lookup times the scale bit for bit, for every
// code (incl. subnormals, ±0 and NaN) and for scales across the fast path's range and outside it.
TEST(Ops, F8RowDecodeIsExactForAllCodesAndScales) {
  std::vector<uint8_t> codes(256 * 2);
  for (int i = 0; i < 512; ++i) codes[i] = uint8_t(i);
  for (float sc : {1.f, 0x1p-8f, 0x1p-99f, 0x1p6f, 0x1p7f, 0x1p-110f, 3.0f, -0.5f}) {
    std::vector<float> scale(1, sc);
    Weight w{DType::F8_E4M3, 1, 512, codes.data(), scale.data(), 1, 1024};
    std::vector<float> out(512);
    w.row_to_f32(0, 0, 512, out.data());
    for (int i = 0; i < 512; ++i) {
      float want = kF8E4M3ToF32[codes[i]] * sc;
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(out[i])) << "code " << i;
      } else {
        EXPECT_EQ(bits_from_f32(out[i]), bits_from_f32(want)) << "code " << i % 256 << " scale " << sc;
      }
    }
  }
}
}  // namespace
}  // namespace dsv32

namespace dsv32 {
namespace {
// attend_mqa (all heads over shared rows) is bit-identical to attend() per head, dense and gathered.
TEST(Ops, AttendMqaEqualsAttendPerHead) {
  const int dk = 48, dv = 32, n = 37, H = 5;
  std::vector<float> q = randn(H * dk, 21), rows = randn(n * dk, 22), probs(H * (n + 1)), one(n);
  AttendParams p{dk, dv, dk, dk, 0.3f};  // values = first dv columns of the key rows (latent)
  std::vector<int32_t> idx = {0, 3, 4, 10, 20, 36};
  for (bool sparse : {false, true}) {
    const int32_t* ix = sparse ? idx.data() : nullptr;
    const int64_t cnt = sparse ? int64_t(idx.size()) : n;
    std::vector<float> out(H * dv), ref(dv);
    attend_mqa(p, H, q.data(), dk, rows.data(), rows.data(), ix, cnt, probs.data(), out.data(), dv);
    for (int h = 0; h < H; ++h) {
      attend(p, q.data() + h * dk, rows.data(), rows.data(), ix, cnt, one.data(), ref.data());
      for (int e = 0; e < dv; ++e) ASSERT_EQ(out[h * dv + e], ref[e]) << "head " << h << " sparse " << sparse;
    }
  }
}
}  // namespace
}  // namespace dsv32
