// gpu::indexer_scores_bf16 (bf16 key cache, tensor cores) against the CPU indexer_scores on the
// SAME bf16 values: q and keys are rounded to bf16 once and given to the CPU as floats (the kernel
// rounds the fp32 q itself, with the same round-to-nearest-even).
//
// Bound per key u (A_j = Σ_c |q_jc·k_c|): products of bf16 values are exact in fp32; the CPU dot
// is within γ_d·A_j of exact, the tensor-core dot within 2γ_d·A_j (truncating adders); ReLU is
// 1-Lipschitz; w_j·ReLU rounds once per side (2u·|w_j|·A_j); the H-term head sums add γ_H·Σ|w_j|A_j
// per side → bound (3γ_d + 2u + 2γ_H)·Σ_j |w_j|·A_j.
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <vector>

#include "kernels/cpu/indexer.h"
#include "kernels/cuda/indexer.h"
#include "kernels/numeric.h"
#include "kernels/error.h"
#include "tests/cuda/cuda_test_util.h"

namespace dsv32 {
namespace {

using test::gamma_n;
using test::GpuTest;
using test::kU;
template <class T>
using Dev = gpu::DeviceArray<T>;

std::vector<uint16_t> round_bf16(std::vector<float>& x) {  // x ← bf16(x); returns the bits
  std::vector<uint16_t> b(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = bf16_to_f32(b[i] = f32_to_bf16(x[i]));
  return b;
}

struct IndexerBf16Case { int64_t heads, dim, n, queries; };
void PrintTo(const IndexerBf16Case& c, std::ostream* os) {
  *os << "H" << c.heads << "_d" << c.dim << "_n" << c.n << "_q" << c.queries;
}
class IndexerBf16Test : public test::GpuParamTest<IndexerBf16Case> {};

TEST_P(IndexerBf16Test, MatchesCpuOnBf16Values) {
  const auto c = GetParam();
  const IndexerParams p{c.heads, c.dim, 2048};
  auto q = test::randn(c.queries * c.heads * c.dim, 111), keys = test::randn(c.n * c.dim, 113);
  const auto w = test::randn(c.queries * c.heads, 112, 0.1f);
  round_bf16(q);
  const auto keys_b = round_bf16(keys);
  const int64_t stride = c.n + 5;  // a padded score row: the gap must stay untouched
  std::vector<float> want(size_t(c.queries * stride), -7.f);
  std::vector<double> bound(want.size(), 0.0);
  const double f = 3 * gamma_n(c.dim) + 2 * kU + 2 * gamma_n(c.heads);
  for (int64_t s = 0; s < c.queries; ++s) {
    const float* qs = q.data() + s * c.heads * c.dim;
    indexer_scores(p, qs, w.data() + s * c.heads, keys.data(), c.n, want.data() + s * stride);
    for (int64_t u = 0; u < c.n; ++u) {
      double b = 0;
      for (int64_t j = 0; j < c.heads; ++j) {
        double a = 0;
        for (int64_t d = 0; d < c.dim; ++d) a += std::fabs(double(qs[j * c.dim + d]) * keys[u * c.dim + d]);
        b += std::fabs(w[s * c.heads + j]) * a;
      }
      bound[s * stride + u] = f * b;
    }
  }
  gpu::Context& g = ctx();
  Dev<float> dq(g, q), dw(g, w), ds(g, std::vector<float>(want.size(), -7.f));
  Dev<uint16_t> dk(g, keys_b);
  gpu::indexer_scores_bf16(g, p, dq.get(), dw.get(), dk.get(), c.n, ds.get(), c.queries, stride);
  EXPECT_TRUE(test::close_within(ds.download(g), want, bound));
}
INSTANTIATE_TEST_SUITE_P(Cuda, IndexerBf16Test,
                         ::testing::Values(IndexerBf16Case{64, 128, 1, 1}, IndexerBf16Case{64, 128, 1000, 1},
                                           IndexerBf16Case{64, 128, 131072, 1}, IndexerBf16Case{64, 128, 333, 3},
                                           IndexerBf16Case{8, 64, 257, 2}, IndexerBf16Case{4, 64, 100, 1},
                                           IndexerBf16Case{20, 128, 513, 1}, IndexerBf16Case{64, 16, 300, 1}));

TEST_F(GpuTest, IndexerBf16RejectsTooManyHeads) {
  Dev<float> dq(size_t(65 * 128)), dw(size_t(65)), ds(size_t(4));
  Dev<uint16_t> dk(size_t(4 * 128));
  EXPECT_THROW(gpu::indexer_scores_bf16(ctx(), IndexerParams{65, 128, 4}, dq.get(), dw.get(), dk.get(), 4, ds.get()),
               Error);
}

}  // namespace
}  // namespace dsv32
