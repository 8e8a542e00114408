// Each CUDA op (kernels/cuda) against its CPU twin (kernels/cpu) on the same random inputs.
// Bounds are derived per op from fp32 rounding (u, γ_n: see cuda_test_util.h) and the reduction
// lengths; top-k and routing compare index sets exactly (both sides apply the same tie rule) and
// report the Jaccard index on a mismatch. Every test skips cleanly where no CUDA device exists.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iterator>
#include <ostream>
#include <vector>

#include "bench/op_cases.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/indexer.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/moe_route.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/moe_route.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/rope.h"
#include "kernels/cuda/topk.h"
#include "tests/cuda/cuda_test_util.h"

namespace dsv32 {
namespace {

using test::close_within;
using test::gamma_n;
using test::GpuParamTest;
using test::GpuTest;
using test::kU;
using test::randn;
template <class T>
using Dev = gpu::DeviceArray<T>;

// ---------------------------------------------------------------------------------------------
// RMSNorm. Both sides sum squares in double, so r = float((ss/D + eps)^-½) agrees up to one fp32
// rounding flip (≤ 2u relative); y = w·(x·r) then adds at most one rounding per product on each
// side: |Δy| ≤ (2u + 2u)·|y| → bound 4u·|y|.
struct NormCase { int64_t rows, dim; };
void PrintTo(const NormCase& c, std::ostream* os) { *os << "rows" << c.rows << "_dim" << c.dim; }
class RmsNormTest : public GpuParamTest<NormCase> {};

TEST_P(RmsNormTest, MatchesCpu) {
  const auto c = GetParam();
  const NormParams p{c.rows, c.dim, 1e-6};
  auto x = randn(c.rows * c.dim, 11, 3.f), w = randn(c.dim, 12);
  std::vector<float> want(x.size());
  rmsnorm(p, x.data(), w.data(), want.data());
  Dev<float> dx(ctx(), x), dw(ctx(), w), dy(x.size());
  gpu::rmsnorm(ctx(), p, dx.get(), dw.get(), dy.get());
  std::vector<double> bound(want.size());
  for (size_t i = 0; i < want.size(); ++i) bound[i] = 4 * kU * std::fabs(want[i]);
  EXPECT_TRUE(close_within(dy.download(ctx()), want, bound));
}
INSTANTIATE_TEST_SUITE_P(Cuda, RmsNormTest,
                         ::testing::Values(NormCase{1, 512}, NormCase{3, 1536}, NormCase{7, 7168}));

// ---------------------------------------------------------------------------------------------
// RoPE. Same table values, same formula; the GPU forbids FMA contraction, the host compiler may
// contract one of the two products (-ffp-contract=fast): |Δy| ≤ 2u·(|x0·c| + |x1·s|) + u·|y|
// → bound 3u·(|x0|+|x1|) (|c|, |s| ≤ 1). Entries outside the rotated dims must be untouched (0).
struct RopeCase { RopeLayout layout; int64_t heads; bool positions; };
void PrintTo(const RopeCase& c, std::ostream* os) {
  *os << (c.layout == RopeLayout::kInterleaved ? "interleaved" : "half") << "_heads" << c.heads
      << (c.positions ? "_positions" : "_pos0");
}
class RopeTest : public GpuParamTest<RopeCase> {};

TEST_P(RopeTest, MatchesCpu) {
  const auto c = GetParam();
  const RopeParams rp{64, 10000.0, 40.0, 4096, 32, 1};
  const RopeTable table(rp, 3000);
  const int64_t rows = 6, head_stride = 192, x_stride = c.heads * head_stride + 8, pos0 = 2900;
  // Rotate the last 64 of each 192-d head, as MLA does for q_rope.
  auto x = randn(rows * x_stride, 21, 2.f);
  std::vector<float> want = x;
  rope_apply(table, c.layout, want.data() + 128, rows, x_stride, c.heads, head_stride, pos0);
  std::vector<int32_t> pos(rows);
  for (int64_t r = 0; r < rows; ++r) pos[r] = int32_t(pos0 + r);  // same positions, other path
  gpu::RopeTableDevice dt(ctx(), table);
  Dev<float> dx(ctx(), x);
  Dev<int32_t> dpos(ctx(), pos);
  gpu::rope_apply(ctx(), dt, c.layout, dx.get() + 128, rows, x_stride, c.heads, head_stride,
                  c.positions ? 0 : pos0, c.positions ? dpos.get() : nullptr);
  std::vector<double> bound(x.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t o = r * x_stride + h * head_stride + 128;
      for (int64_t j = 0; j < 32; ++j) {
        const int64_t a = c.layout == RopeLayout::kInterleaved ? o + 2 * j : o + j;
        const int64_t b = c.layout == RopeLayout::kInterleaved ? o + 2 * j + 1 : o + j + 32;
        bound[a] = bound[b] = 3 * kU * (std::fabs(x[a]) + std::fabs(x[b]));
      }
    }
  EXPECT_TRUE(close_within(dx.download(ctx()), want, bound));
}
INSTANTIATE_TEST_SUITE_P(Cuda, RopeTest,
                         ::testing::Values(RopeCase{RopeLayout::kInterleaved, 1, false},
                                           RopeCase{RopeLayout::kInterleaved, 4, true},
                                           RopeCase{RopeLayout::kHalf, 1, false},
                                           RopeCase{RopeLayout::kHalf, 3, true}));

// ---------------------------------------------------------------------------------------------
// linear. Inputs make both sides multiply the same numbers: x is bf16-representable on the BF16
// and F8 paths (the GPU rounds x to bf16) and F8 scales are powers of two (dequantized weights are
// exact in bf16). What remains is summation order: CPU fp32 ≤ γ_K·Σ|x·w|, cuBLAS (tensor-core
// adders truncate) ≤ 2γ_K·Σ|x·w| → bound 3γ_K·Σ_k|x_k·w_nk| per output, Σ taken in double.
// The cases are the op contract's list (bench/op_cases.h), shared with the CPU op test.
using cases::LinearCase;
class LinearTest : public GpuParamTest<LinearCase> {};

TEST_P(LinearTest, MatchesCpu) {
  const auto c = GetParam();
  const int64_t NN = c.N + c.row0;  // the full weight; the test uses rows [row0, row0 + N)
  auto wf = randn(NN * c.K, 31, 0.05f), x = randn(c.M * c.K, 32);
  const bool bf16_x = c.dtype == DType::BF16 || c.dtype == DType::F8_E4M3;
  if (bf16_x)
    for (auto& v : x) v = bf16_to_f32(f32_to_bf16(v));
  std::vector<uint8_t> storage;
  std::vector<float> scale;
  Weight full{c.dtype, NN, c.K};
  switch (c.dtype) {
    case DType::F32: full.data = wf.data(); break;
    case DType::BF16:
    case DType::F16: {
      storage.resize(wf.size() * 2);
      auto* p = reinterpret_cast<uint16_t*>(storage.data());
      for (size_t i = 0; i < wf.size(); ++i) p[i] = c.dtype == DType::BF16 ? f32_to_bf16(wf[i]) : f32_to_f16(wf[i]);
      full.data = p;
      break;
    }
    default: {  // F8 e4m3, ragged 128-block grid, power-of-two scales
      const int64_t sr = (NN + 127) / 128, sc = (c.K + 127) / 128;
      scale.resize(static_cast<size_t>(sr * sc));
      for (int64_t i = 0; i < sr * sc; ++i) scale[i] = std::ldexp(1.f, -8 + int(i % 3));
      storage.resize(wf.size());
      for (int64_t n = 0; n < NN; ++n)
        for (int64_t k = 0; k < c.K; ++k)
          storage[n * c.K + k] = f32_to_f8e4m3(wf[n * c.K + k] / scale[(n / 128) * sc + k / 128]);
      full.data = storage.data();
      full.scale = scale.data();
      full.scale_cols = sc;
    }
  }
  const Weight w = full.rows_slice(c.row0, c.N);
  ThreadPool pool(1);
  std::vector<float> want(static_cast<size_t>(c.M * c.N));
  linear(pool, x.data(), c.M, w, want.data());

  gpu::WeightUpload dw(ctx(), w);
  Dev<float> dx(ctx(), x), dy(want.size());
  gpu::linear(ctx(), dx.get(), c.M, dw.view(), dy.get());

  std::vector<double> bound(want.size());
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t n = 0; n < c.N; ++n) {
      double a = 0;
      for (int64_t k = 0; k < c.K; ++k) a += std::fabs(double(x[m * c.K + k]) * w.at(n, k));
      bound[m * c.N + n] = 3 * gamma_n(c.K) * a;
    }
  EXPECT_TRUE(close_within(dy.download(ctx()), want, bound)) << dtype_name(c.dtype);
}
INSTANTIATE_TEST_SUITE_P(Cuda, LinearTest, ::testing::ValuesIn(cases::linear_corner_cases()),
                         [](const auto& i) { return i.param.name(); });

// ---------------------------------------------------------------------------------------------
// Attention (absorbed decode over a latent cache; naive per-head layout with causal lengths).
// Scores: each side within γ_{d_k}·scale·Σ|q·k| of exact → |Δs_t| ≤ δ := max_t 2γ_{d_k}·scale·Σ|q·k|.
// Shifting every logit by ≤ δ scales each normalised weight π_t by a factor in [e^−2δ, e^2δ], so
// |Δout_e| ≤ (e^{2δ} − 1)·Σ_t π_t|v_te|; exp (≤ 2 ulp GPU, ≤ 1 ulp CPU: 3u), the two n-term sums
// (2γ_n each side) and the final scaling (2u) add (5u + 4γ_n)·Σ_t π_t|v_te|. Bound = 2× that sum
// (the factor 2 covers the first-order steps in this derivation).
void attend_bounds(const AttendParams& a, const float* q, const float* keys, const float* values,
                   const int32_t* index, int64_t n, double* bound) {
  std::vector<double> s(static_cast<size_t>(n));
  double mx = -INFINITY, delta = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = index ? index[i] : i;
    double dot = 0, m = 0;
    for (int64_t d = 0; d < a.d_k; ++d) {
      dot += double(q[d]) * keys[t * a.key_stride + d];
      m += std::fabs(double(q[d]) * keys[t * a.key_stride + d]);
    }
    s[i] = a.scale * dot;
    mx = std::max(mx, s[i]);
    delta = std::max(delta, 2 * gamma_n(a.d_k) * a.scale * m);
  }
  double sum = 0;
  for (auto& v : s) sum += (v = std::exp(v - mx));
  const double f = std::expm1(2 * delta) + 5 * kU + 4 * gamma_n(n);
  for (int64_t e = 0; e < a.d_v; ++e) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t t = index ? index[i] : i;
      acc += s[i] / sum * std::fabs(values[t * a.value_stride + e]);
    }
    bound[e] = 2 * f * acc;
  }
}

struct AbsorbedCase { int64_t heads, T, n_sparse; };  // n_sparse = 0: dense over [0, T)
void PrintTo(const AbsorbedCase& c, std::ostream* os) {
  *os << "heads" << c.heads << "_T" << c.T << (c.n_sparse ? "_sparse" : "_dense") << c.n_sparse;
}
class AttendAbsorbedTest : public GpuParamTest<AbsorbedCase> {};

TEST_P(AttendAbsorbedTest, MatchesCpu) {
  const auto c = GetParam();
  const int64_t r_kv = 512, d_r = 64, D = r_kv + d_r;
  const float scale = 0.1352337788608801f;  // MODEL §6.2
  auto q = randn(c.heads * D, 41, 0.25f), cache = randn(c.T * D, 42);
  std::vector<int32_t> index;
  int64_t n = c.T;
  if (c.n_sparse) {  // every third position, then the last ones: ascending, as the indexer gives
    for (int64_t t = 0; t < c.T && int64_t(index.size()) < c.n_sparse; t += 3) index.push_back(int32_t(t));
    n = int64_t(index.size());
  }
  const AttendParams a{D, r_kv, D, D, scale};
  std::vector<float> want(static_cast<size_t>(c.heads * r_kv)), probs(static_cast<size_t>(n));
  std::vector<double> bound(want.size());
  for (int64_t h = 0; h < c.heads; ++h) {
    const int32_t* idx = index.empty() ? nullptr : index.data();
    attend(a, q.data() + h * D, cache.data(), cache.data(), idx, n, probs.data(), want.data() + h * r_kv);
    attend_bounds(a, q.data() + h * D, cache.data(), cache.data(), idx, n, bound.data() + h * r_kv);
  }
  Dev<float> dq(ctx(), q), dc(ctx(), cache), dout(want.size());
  Dev<int32_t> di(ctx(), index);
  gpu::attend_absorbed(ctx(), c.heads, r_kv, d_r, scale, dq.get(), dc.get(), index.empty() ? nullptr : di.get(), n,
                       dout.get());
  EXPECT_TRUE(close_within(dout.download(ctx()), want, bound));
}
INSTANTIATE_TEST_SUITE_P(Cuda, AttendAbsorbedTest,
                         ::testing::Values(AbsorbedCase{1, 1, 0}, AbsorbedCase{16, 300, 0},
                                           AbsorbedCase{128, 700, 0}, AbsorbedCase{16, 3000, 512}));

// Naive layout: K cache [T, H, 192], V cache [T, H, 128], S tokens × H heads, token s sees the
// causal prefix [0, P + s] (lengths), no index list.
TEST_F(GpuTest, AttendNaiveCausalMatchesCpu) {
  const int64_t H = 4, T = 90, S = 5, P = T - S, dk = 192, dv = 128;
  auto q = randn(S * H * dk, 51, 0.3f), kc = randn(T * H * dk, 52), vc = randn(T * H * dv, 53);
  gpu::AttendBatchParams p = gpu::mha_params(H, dk, dv, 0.1352337788608801f);
  p.n_queries = S * H;
  std::vector<int32_t> lengths(S);
  std::vector<float> want(static_cast<size_t>(S * H * dv)), probs(static_cast<size_t>(T));
  std::vector<double> bound(want.size());
  for (int64_t s = 0; s < S; ++s) {
    lengths[s] = int32_t(P + s + 1);
    for (int64_t h = 0; h < H; ++h) {
      const int64_t i = s * H + h;
      attend(p.attn, q.data() + i * dk, kc.data() + h * dk, vc.data() + h * dv, nullptr, lengths[s], probs.data(),
             want.data() + i * dv);
      attend_bounds(p.attn, q.data() + i * dk, kc.data() + h * dk, vc.data() + h * dv, nullptr, lengths[s],
                    bound.data() + i * dv);
    }
  }
  Dev<float> dq(ctx(), q), dk_(ctx(), kc), dv_(ctx(), vc), dout(want.size());
  Dev<int32_t> dl(ctx(), lengths);
  gpu::attend(ctx(), p, dq.get(), dk_.get(), dv_.get(), nullptr, dl.get(), T, dout.get());
  EXPECT_TRUE(close_within(dout.download(ctx()), want, bound));
}

// ---------------------------------------------------------------------------------------------
// Indexer scores. Per head, each side's dot is within γ_d·A_j of exact (A_j = Σ_c|q_jc·k_c|);
// ReLU is 1-Lipschitz; w_j·ReLU adds u·|w_j|·A_j per side; the H-term head sum adds γ_H·Σ|w_j|·A_j
// per side → bound (2γ_d + 2u + 2γ_H)·Σ_j |w_j|·A_j.
std::vector<double> indexer_bounds(const IndexerParams& p, const float* q, const float* w, const float* keys,
                                   int64_t n) {
  std::vector<double> b(static_cast<size_t>(n));
  const double f = 2 * gamma_n(p.head_dim) + 2 * kU + 2 * gamma_n(p.n_heads);
  for (int64_t u = 0; u < n; ++u) {
    double s = 0;
    for (int64_t j = 0; j < p.n_heads; ++j) {
      double a = 0;
      for (int64_t c = 0; c < p.head_dim; ++c) a += std::fabs(double(q[j * p.head_dim + c]) * keys[u * p.head_dim + c]);
      s += std::fabs(w[j]) * a;
    }
    b[u] = f * s;
  }
  return b;
}

struct IndexerCase { int64_t heads, dim, n, queries; };
void PrintTo(const IndexerCase& c, std::ostream* os) {
  *os << "H" << c.heads << "_d" << c.dim << "_n" << c.n << "_q" << c.queries;
}
class IndexerScoresTest : public GpuParamTest<IndexerCase> {};

TEST_P(IndexerScoresTest, MatchesCpu) {
  const auto c = GetParam();
  const IndexerParams p{c.heads, c.dim, 2048};
  auto q = randn(c.queries * c.heads * c.dim, 61), w = randn(c.queries * c.heads, 62, 0.1f),
       keys = randn(c.n * c.dim, 63);
  std::vector<float> want(static_cast<size_t>(c.queries * c.n));
  std::vector<double> bound;
  for (int64_t s = 0; s < c.queries; ++s) {
    const float* qs = q.data() + s * c.heads * c.dim;
    indexer_scores(p, qs, w.data() + s * c.heads, keys.data(), c.n, want.data() + s * c.n);
    auto b = indexer_bounds(p, qs, w.data() + s * c.heads, keys.data(), c.n);
    bound.insert(bound.end(), b.begin(), b.end());
  }
  Dev<float> dq(ctx(), q), dw(ctx(), w), dk(ctx(), keys), ds(want.size());
  gpu::indexer_scores(ctx(), p, dq.get(), dw.get(), dk.get(), c.n, ds.get(), c.queries);
  EXPECT_TRUE(close_within(ds.download(ctx()), want, bound));
}
INSTANTIATE_TEST_SUITE_P(Cuda, IndexerScoresTest,
                         ::testing::Values(IndexerCase{64, 128, 1, 1}, IndexerCase{64, 128, 1000, 1},
                                           IndexerCase{64, 128, 333, 3}, IndexerCase{8, 64, 100, 2}));

// ---------------------------------------------------------------------------------------------
// Top-k. Both sides apply the same deterministic rule (score desc, lower position wins, −0 == +0,
// NaN as −inf) to the same floats, so the index lists must be identical, ascending.
struct TopkCase { int64_t rows, n, k; bool ties; };
void PrintTo(const TopkCase& c, std::ostream* os) {
  *os << "rows" << c.rows << "_n" << c.n << "_k" << c.k << (c.ties ? "_ties" : "");
}
class TopkTest : public GpuParamTest<TopkCase> {};

TEST_P(TopkTest, SameSetAsCpu) {
  const auto c = GetParam();
  auto scores = randn(c.rows * c.n, 71, 2.f);
  if (c.ties) {  // few distinct values, signed zeros, −inf and NaN
    for (size_t i = 0; i < scores.size(); ++i) {
      scores[i] = std::round(scores[i] * 2) / 2;
      if (i % 97 == 5) scores[i] = -0.f;
      if (i % 89 == 7) scores[i] = -INFINITY;
      if (i % 83 == 11) scores[i] = NAN;
    }
  }
  std::vector<int32_t> lengths(static_cast<size_t>(c.rows)), want(size_t(c.rows * c.k), -1), scratch(static_cast<size_t>(c.n));
  std::vector<int32_t> want_counts(static_cast<size_t>(c.rows));
  for (int64_t r = 0; r < c.rows; ++r) {
    lengths[r] = int32_t(std::max<int64_t>(1, c.n - 7 * r));
    want_counts[r] = int32_t(indexer_topk(scores.data() + r * c.n, lengths[r], c.k, scratch.data(),
                                          want.data() + r * c.k));
  }
  Dev<float> ds(ctx(), scores);
  Dev<int32_t> dl(ctx(), lengths), dout(ctx(), std::vector<int32_t>(want.size(), -1)), dcounts(static_cast<size_t>(c.rows));
  gpu::TopkParams p{c.rows, c.n, c.k, c.n, c.k};
  gpu::topk(ctx(), p, ds.get(), dl.get(), dout.get(), dcounts.get());
  const auto got = dout.download(ctx()), got_counts = dcounts.download(ctx());
  for (int64_t r = 0; r < c.rows; ++r) {
    ASSERT_EQ(got_counts[r], want_counts[r]) << "row " << r;
    std::vector<int32_t> g(got.begin() + r * c.k, got.begin() + r * c.k + got_counts[r]);
    std::vector<int32_t> w(want.begin() + r * c.k, want.begin() + r * c.k + want_counts[r]);
    EXPECT_EQ(g, w) << "row " << r << " (n " << lengths[r] << ", k " << c.k << "): Jaccard "
                    << test::jaccard(g, w);
  }
}
INSTANTIATE_TEST_SUITE_P(Cuda, TopkTest,
                         ::testing::Values(TopkCase{3, 10, 2048, false}, TopkCase{2, 1000, 64, false},
                                           TopkCase{4, 5000, 2048, false}, TopkCase{1, 70000, 2048, false},
                                           TopkCase{3, 5000, 300, true}, TopkCase{2, 3000, 2048, true}));

// Indexer scores → top-k on the GPU against the same on the CPU. The scores differ by rounding
// (bound b_u above), so the sets may differ only at near-ties: every position in the symmetric
// difference must score within b_u + b_kth of the CPU's k-th largest score (MODEL §7.6).
TEST_F(GpuTest, IndexerThenTopkTieAware) {
  const IndexerParams p{64, 128, 256};
  const int64_t n = 3000;
  auto q = randn(p.n_heads * p.head_dim, 81), w = randn(p.n_heads, 82, 0.1f), keys = randn(n * p.head_dim, 83);
  std::vector<float> sc(static_cast<size_t>(n));
  indexer_scores(p, q.data(), w.data(), keys.data(), n, sc.data());
  const auto bound = indexer_bounds(p, q.data(), w.data(), keys.data(), n);
  std::vector<int32_t> want(static_cast<size_t>(p.topk)), scratch(static_cast<size_t>(n));
  indexer_topk(sc.data(), n, p.topk, scratch.data(), want.data());

  Dev<float> dq(ctx(), q), dw(ctx(), w), dk(ctx(), keys), ds(static_cast<size_t>(n));
  Dev<int32_t> dout(static_cast<size_t>(p.topk));
  gpu::indexer_scores(ctx(), p, dq.get(), dw.get(), dk.get(), n, ds.get());
  gpu::topk(ctx(), gpu::TopkParams{1, n, p.topk, n, p.topk}, ds.get(), nullptr, dout.get());
  const auto got = dout.download(ctx());

  int32_t kth = want[0];
  for (int32_t i : want)
    if (sc[i] < sc[kth] || (sc[i] == sc[kth] && i > kth)) kth = i;
  std::vector<int32_t> diff;
  std::set_symmetric_difference(got.begin(), got.end(), want.begin(), want.end(), std::back_inserter(diff));
  for (int32_t i : diff)
    EXPECT_LE(std::fabs(double(sc[i]) - sc[kth]), bound[i] + bound[kth])
        << "position " << i << " differs and is no near-tie; Jaccard " << test::jaccard(got, want);
}

// ---------------------------------------------------------------------------------------------
// MoE routing. σ: CUDA expf ≤ 2 ulp, then +1 and the division → ≤ 4u relative per side; select
// = σ + bias adds u·|select| → bound 8u·(|σ| + |select|) (−inf entries must match exactly). The
// weights σ_i/Σσ·scale: ≤ 2·(4u + 4u) + u → bound 20u·|w|. The chosen experts must be identical
// unless the token is a near-tie (K-th/(K+1)-th z or the kept/dropped group scores within 16u·max|z|).
struct MoeCase { int E, G, topk_group, K; bool sigmoid, bias, norm; double scale; int64_t tokens; };
void PrintTo(const MoeCase& c, std::ostream* os) {
  *os << "E" << c.E << "_G" << c.G << "_kg" << c.topk_group << "_K" << c.K << (c.sigmoid ? "_sigmoid" : "_softmax")
      << (c.bias ? "_bias" : "") << (c.norm ? "_norm" : "") << "_T" << c.tokens;
}
class MoeRouteTest : public GpuParamTest<MoeCase> {};

bool near_tie(const MoeCase& c, const std::vector<double>& z) {
  double zmax = 0;
  for (double v : z) zmax = std::max(zmax, std::fabs(v));
  const double tol = 16 * kU * zmax;
  auto gap_at = [&](std::vector<double> v, int k) {  // gap between the k-th and (k+1)-th largest
    std::sort(v.begin(), v.end(), std::greater<>());
    return int(v.size()) > k ? v[k - 1] - v[k] : INFINITY;
  };
  const int per = c.E / c.G;
  std::vector<double> g(c.G);
  for (int i = 0; i < c.G; ++i) {
    std::vector<double> zz(z.begin() + i * per, z.begin() + (i + 1) * per);
    std::sort(zz.begin(), zz.end(), std::greater<>());
    g[i] = c.bias ? zz[0] + zz[1] : zz[0];
  }
  return gap_at(z, c.K) <= tol || (c.G > 1 && gap_at(g, c.topk_group) <= 2 * tol);
}

TEST_P(MoeRouteTest, MatchesCpu) {
  const auto c = GetParam();
  const MoeRouteParams p{c.E, c.G, c.topk_group, c.K, c.sigmoid, c.norm, c.scale};
  auto logits = randn(c.tokens * c.E, 91, 2.f), bias = randn(c.E, 92, 0.05f);
  const float* bp = c.bias ? bias.data() : nullptr;
  std::vector<int32_t> ids(static_cast<size_t>(c.tokens * c.K));
  std::vector<float> wts(ids.size()), sel(logits.size());
  for (int64_t t = 0; t < c.tokens; ++t)
    moe_route(p, logits.data() + t * c.E, bp, ids.data() + t * c.K, wts.data() + t * c.K, sel.data() + t * c.E);
  Dev<float> dl(ctx(), logits), db(ctx(), bias), dw(wts.size()), ds(sel.size());
  Dev<int32_t> di(ids.size());
  gpu::moe_route(ctx(), p, c.tokens, dl.get(), c.bias ? db.get() : nullptr, di.get(), dw.get(), ds.get());
  const auto gids = di.download(ctx());
  const auto gw = dw.download(ctx()), gs = ds.download(ctx());

  int skipped = 0;
  for (int64_t t = 0; t < c.tokens; ++t) {
    const float* l = logits.data() + t * c.E;
    std::vector<double> sigma(c.E), z(c.E);
    double mx = *std::max_element(l, l + c.E), sum = 0;
    for (int e = 0; e < c.E; ++e) sum += std::exp(double(l[e]) - mx);
    for (int e = 0; e < c.E; ++e) {
      sigma[e] = c.sigmoid ? 1 / (1 + std::exp(-double(l[e]))) : std::exp(double(l[e]) - mx) / sum;
      z[e] = sigma[e] + (bp ? bp[e] : 0);
    }
    std::vector<int32_t> gi(gids.begin() + t * c.K, gids.begin() + (t + 1) * c.K);
    std::vector<int32_t> wi(ids.begin() + t * c.K, ids.begin() + (t + 1) * c.K);
    if (gi != wi) {
      EXPECT_TRUE(near_tie(c, z)) << "token " << t << ": different experts, no near-tie; Jaccard "
                                  << test::jaccard(gi, wi);
      ++skipped;
      continue;
    }
    std::vector<float> g1(gw.begin() + t * c.K, gw.begin() + (t + 1) * c.K);
    std::vector<float> w1(wts.begin() + t * c.K, wts.begin() + (t + 1) * c.K);
    std::vector<double> b1(c.K);
    for (int i = 0; i < c.K; ++i) b1[i] = 20 * kU * std::fabs(w1[i]);
    EXPECT_TRUE(close_within(g1, w1, b1)) << "weights, token " << t;
    std::vector<float> g2(gs.begin() + t * c.E, gs.begin() + (t + 1) * c.E);
    std::vector<float> w2(sel.begin() + t * c.E, sel.begin() + (t + 1) * c.E);
    std::vector<double> b2(c.E);
    for (int e = 0; e < c.E; ++e) b2[e] = 8 * kU * (std::fabs(sigma[e]) + std::fabs(w2[e]));
    EXPECT_TRUE(close_within(g2, w2, b2)) << "select, token " << t;
  }
  EXPECT_LE(skipped, c.tokens / 8) << "too many near-ties for random logits";
}
INSTANTIATE_TEST_SUITE_P(Cuda, MoeRouteTest,
                         ::testing::Values(MoeCase{256, 8, 4, 8, true, true, true, 2.5, 33},
                                           MoeCase{256, 8, 4, 8, true, false, true, 2.5, 5},
                                           MoeCase{64, 1, 1, 6, false, false, false, 1.0, 9},
                                           MoeCase{16, 4, 2, 4, true, true, true, 1.0, 17}));

}  // namespace
}  // namespace dsv32
