// gpu::mla_decode (bf16 tensor-core absorbed decode, split-K + combine) against the CPU attend_mqa
// on the SAME bf16 values (q and cache rounded to bf16 once, then given to both sides as floats).
//
// Bound, per output element e of head h (π_t the exact softmax weights, A_t = scale·Σ_d|q_d·k_td|):
//   logits   : the CPU dot is within γ_576·A_t of exact, the tensor-core dot within 2γ_576·A_t
//              (products of bf16 values are exact in fp32; Hopper's adders truncate: 2γ), and each
//              side rounds the scaling once (u·|s_t|) → |Δs_t| ≤ δ := max_t 3γ_576·A_t + 2u·|s_t|;
//              shifted logits move each π_t by a factor within e^{±2δ} → (e^{2δ} − 1)·Σπ_t|v_te|.
//   P → bf16 : the GPU rounds each unnormalised weight to bf16 before P·V (relative ≤ 2^-9) while
//              its row sum stays fp32 → ≤ 2^-9·Σπ_t|v_te|.
//   the rest : exp (GPU 2 ulp, CPU 1 ulp: 3u), the n-term sums (CPU γ_n, GPU 2γ_n in the tensor
//              cores), one α rescale per tile and one combine weight per split (γ_{n/32 + splits}),
//              the final division (2u) → (5u + 3γ_n + γ_{n/32+splits})·Σπ_t|v_te|.
//   bound = 2 × the sum (the factor 2 covers the first-order steps), as in test_cuda_ops.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cuda/mla_decode.h"
#include "kernels/numeric.h"
#include "kernels/error.h"
#include "tests/cuda/cuda_test_util.h"

namespace dsv32 {
namespace {

using test::close_within;
using test::gamma_n;
using test::GpuParamTest;
using test::GpuTest;
using test::kU;
template <class T>
using Dev = gpu::DeviceArray<T>;

constexpr int64_t kD = gpu::kMlaRowDim, kV = gpu::kMlaLatentDim;
constexpr float kScale = 0.1352337788608801f;  // MODEL §6.2

std::vector<uint16_t> to_bf16(const std::vector<float>& x) {
  std::vector<uint16_t> b(x.size());
  for (size_t i = 0; i < x.size(); ++i) b[i] = f32_to_bf16(x[i]);
  return b;
}
std::vector<float> from_bf16(const std::vector<uint16_t>& b) {
  std::vector<float> x(b.size());
  for (size_t i = 0; i < b.size(); ++i) x[i] = bf16_to_f32(b[i]);
  return x;
}

// The bound above for one head over the positions `pos`, appended to `bound` (kV entries).
void mla_bounds(const float* q, const std::vector<float>& cache, const std::vector<int32_t>& pos, int64_t splits,
                std::vector<double>& bound) {
  const int64_t n = int64_t(pos.size());
  std::vector<double> s(pos.size());
  double mx = -INFINITY, delta = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* k = cache.data() + pos[i] * kD;
    double dot = 0, a = 0;
    for (int64_t d = 0; d < kD; ++d) {
      dot += double(q[d]) * k[d];
      a += std::fabs(double(q[d]) * k[d]);
    }
    s[i] = kScale * dot;
    mx = std::max(mx, s[i]);
    delta = std::max(delta, 3 * gamma_n(kD) * kScale * a + 2 * kU * std::fabs(s[i]));
  }
  double sum = 0;
  for (auto& v : s) sum += (v = std::exp(v - mx));
  const double f = std::expm1(2 * delta) + std::ldexp(1.0, -9) + 5 * kU + 3 * gamma_n(n) + gamma_n(n / 32 + splits);
  for (int64_t e = 0; e < kV; ++e) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += s[i] / sum * std::fabs(cache[pos[i] * kD + e]);
    bound.push_back(n ? 2 * f * acc : 0.0);
  }
}

// heads; entries per query n; indexed (positions 2j + query, −1 in every 5th slot when pad) or
// dense; S queries, query s seeing n − 3s entries (lengths) when S > 1; splits (0 = automatic).
struct MlaCase { int64_t heads, n; bool indexed, pad; int64_t S, splits; };
void PrintTo(const MlaCase& c, std::ostream* os) {
  *os << "H" << c.heads << "_n" << c.n << (c.indexed ? "_indexed" : "_dense") << (c.pad ? "_pad" : "") << "_S"
      << c.S << "_splits" << c.splits;
}
class MlaDecodeTest : public GpuParamTest<MlaCase> {};

TEST_P(MlaDecodeTest, MatchesCpuOnBf16Values) {
  const auto c = GetParam();
  const int64_t T = c.indexed ? 2 * c.n + c.S + 1 : c.n + 1;
  const auto q_b = to_bf16(test::randn(c.S * c.heads * kD, 91, 0.5f));
  const auto cache_b = to_bf16(test::randn(T * kD, 92));
  const auto q = from_bf16(q_b), cache = from_bf16(cache_b);

  std::vector<int32_t> index(size_t(c.S * c.n), -1), lengths(size_t(c.S));
  std::vector<float> want(size_t(c.S * c.heads * kV), 0.f);
  std::vector<double> bound;
  gpu::MlaDecodeParams p;
  p.heads = c.heads;
  p.n_queries = c.S;
  p.n = c.n;
  p.scale = kScale;
  p.num_splits = c.splits;
  gpu::Context& g = ctx();
  const int64_t splits = gpu::mla_decode_splits(g, p);
  for (int64_t s = 0; s < c.S; ++s) {
    lengths[s] = int32_t(std::max<int64_t>(0, c.n - 3 * s));
    std::vector<int32_t> pos;  // the positions query s really attends, in list order
    for (int64_t j = 0; j < lengths[s]; ++j) {
      const int32_t t = int32_t(c.indexed ? 2 * j + s : j);
      if (c.indexed) index[s * c.n + j] = (c.pad && j % 5 == 3) ? -1 : t;
      if (!c.indexed || index[s * c.n + j] >= 0) pos.push_back(t);
    }
    const int64_t m = int64_t(pos.size());
    std::vector<float> probs(size_t(c.heads * (m + 1)));
    const AttendParams a{kD, kV, kD, kD, kScale};
    if (m > 0)
      attend_mqa(a, c.heads, q.data() + s * c.heads * kD, kD, cache.data(), cache.data(), pos.data(), m, probs.data(),
                 want.data() + s * c.heads * kV, kV);
    for (int64_t h = 0; h < c.heads; ++h) mla_bounds(q.data() + (s * c.heads + h) * kD, cache, pos, splits, bound);
  }
  Dev<uint16_t> dq(g, q_b), dc(g, cache_b);
  Dev<int32_t> di(g, index), dl(g, lengths);
  Dev<float> dout(g, std::vector<float>(want.size(), NAN));  // every element must be written
  gpu::mla_decode(g, p, dq.get(), dc.get(), c.indexed ? di.get() : nullptr, c.S > 1 ? dl.get() : nullptr,
                  dout.get());
  EXPECT_TRUE(close_within(dout.download(g), want, bound)) << splits << " splits";
}
INSTANTIATE_TEST_SUITE_P(
    Cuda, MlaDecodeTest,
    ::testing::Values(MlaCase{16, 1, false, false, 1, 0}, MlaCase{16, 7, false, false, 1, 0},
                      MlaCase{16, 64, false, false, 1, 0}, MlaCase{16, 1000, false, false, 1, 0},
                      MlaCase{16, 5000, false, false, 1, 0}, MlaCase{128, 1, false, false, 1, 0},
                      MlaCase{128, 7, false, false, 1, 0}, MlaCase{128, 64, false, false, 1, 0},
                      MlaCase{128, 1000, false, false, 1, 0}, MlaCase{128, 5000, false, false, 1, 0},
                      MlaCase{16, 1, true, false, 1, 0}, MlaCase{16, 7, true, false, 1, 0},
                      MlaCase{16, 64, true, false, 1, 0}, MlaCase{16, 1000, true, false, 1, 0},
                      MlaCase{16, 5000, true, false, 1, 0}, MlaCase{128, 1, true, false, 1, 0},
                      MlaCase{128, 7, true, false, 1, 0}, MlaCase{128, 64, true, false, 1, 0},
                      MlaCase{128, 1000, true, false, 1, 0}, MlaCase{128, 5000, true, false, 1, 0},
                      // one split (direct write, no combine), odd split counts, H = 48 (3 m-tiles),
                      // H = 32, several queries with per-query lengths, −1 padding
                      MlaCase{128, 1000, false, false, 1, 1}, MlaCase{16, 2000, true, false, 1, 7},
                      MlaCase{48, 777, false, false, 1, 0}, MlaCase{32, 300, true, true, 1, 3},
                      MlaCase{64, 2048, true, true, 3, 0}, MlaCase{16, 100, false, false, 4, 0},
                      MlaCase{128, 2048, true, true, 2, 0}));

// n = 0, and lists with only padding, give zero output (documented in mla_decode.h), not NaN.
TEST_F(GpuTest, MlaDecodeEmptyIsZero) {
  const int64_t H = 16, S = 2, n = 40;
  gpu::Context& g = ctx();
  Dev<uint16_t> dq(g, to_bf16(test::randn(S * H * kD, 93))), dc(g, to_bf16(test::randn(64 * kD, 94)));
  Dev<int32_t> di(g, std::vector<int32_t>(size_t(S * n), -1));
  Dev<float> dout(g, std::vector<float>(size_t(S * H * kV), NAN));
  gpu::MlaDecodeParams p;
  p.heads = H;
  p.n_queries = S;
  p.scale = kScale;
  p.n = 0;
  gpu::mla_decode(g, p, dq.get(), dc.get(), nullptr, nullptr, dout.get());
  for (float v : dout.download(g)) ASSERT_EQ(v, 0.f) << "n = 0";
  p.n = n;  // all −1: every tile is masked
  gpu::mla_decode(g, p, dq.get(), dc.get(), di.get(), nullptr, dout.get());
  for (float v : dout.download(g)) ASSERT_EQ(v, 0.f) << "all padding";
}

TEST_F(GpuTest, MlaDecodeRejectsBadHeads) {
  gpu::MlaDecodeParams p;
  p.heads = 24;
  p.n = 10;
  EXPECT_THROW(gpu::mla_decode_splits(ctx(), p), Error);
}

// convert_to_bf16 rounds exactly as kernels/numeric.h (nearest even), honouring both strides.
TEST_F(GpuTest, ConvertToBf16MatchesHost) {
  const int64_t rows = 37, cols = 576, ss = 600, ds = 584;
  auto src = test::randn(rows * ss, 95, 3.f);
  src[5] = 1.00390625f;  // exactly halfway between two bf16 values: ties to even
  std::vector<uint16_t> want(size_t(rows * ds), 0xABCD);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) want[r * ds + c] = f32_to_bf16(src[r * ss + c]);
  gpu::Context& g = ctx();
  Dev<float> dsrc(g, src);
  Dev<uint16_t> ddst(g, std::vector<uint16_t>(want.size(), 0xABCD));
  gpu::convert_to_bf16(g, dsrc.get(), rows, cols, ss, ddst.get(), ds);
  EXPECT_EQ(ddst.download(g), want);
}

}  // namespace
}  // namespace dsv32
