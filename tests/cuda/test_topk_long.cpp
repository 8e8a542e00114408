// gpu::topk on long rows, both variants (TopkImpl::kBlockPerRow and kMultiBlock) against the CPU
// indexer_topk. Both sides apply the same rule (score desc, the lower position wins, −0 == +0, NaN
// as −inf) to the same floats, so the lists must be identical; no tolerance is involved.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <vector>

#include "kernels/cpu/indexer.h"
#include "kernels/cuda/topk.h"
#include "tests/cuda/cuda_test_util.h"

namespace dsv32 {
namespace {

template <class T>
using Dev = gpu::DeviceArray<T>;

enum class Scores { kGauss, kCoarse, kAllEqual, kTiesAtCut };
struct TopkLongCase { int64_t rows, n, k; Scores scores; gpu::TopkImpl impl; };
void PrintTo(const TopkLongCase& c, std::ostream* os) {
  const char* s[] = {"gauss", "coarse", "allequal", "tiesatcut"};
  *os << "rows" << c.rows << "_n" << c.n << "_k" << c.k << "_" << s[int(c.scores)]
      << (c.impl == gpu::TopkImpl::kMultiBlock ? "_multiblock" : "_blockperrow");
}
class TopkLongTest : public test::GpuParamTest<TopkLongCase> {};

TEST_P(TopkLongTest, SameListAsCpu) {
  const auto c = GetParam();
  auto scores = test::randn(c.rows * c.n, 101, 3.f);
  for (size_t i = 0; i < scores.size(); ++i) {
    if (c.scores == Scores::kCoarse) {  // few distinct values, signed zeros, −inf and NaN
      scores[i] = std::round(scores[i]);
      if (i % 97 == 5) scores[i] = -0.f;
      if (i % 89 == 7) scores[i] = -INFINITY;
      if (i % 83 == 11) scores[i] = NAN;
    } else if (c.scores == Scores::kAllEqual) {  // every entry is a candidate; the lowest k win
      scores[i] = 1.5f;
    } else if (c.scores == Scores::kTiesAtCut) {  // many equal values straddling the k-th
      scores[i] = scores[i] > 7.f ? scores[i] : std::min(scores[i], 4.f);  // ~1 % above, ~8 % at 4
    }
  }
  std::vector<int32_t> lengths(size_t(c.rows)), want(size_t(c.rows * c.k), -1), scratch(size_t(c.n));
  std::vector<int32_t> want_counts(size_t(c.rows));
  for (int64_t r = 0; r < c.rows; ++r) {
    lengths[r] = int32_t(std::max<int64_t>(0, c.n - 1001 * r));  // row 0 full; later rows shorter
    want_counts[r] = int32_t(indexer_topk(scores.data() + r * c.n, lengths[r], c.k, scratch.data(),
                                          want.data() + r * c.k));
  }
  gpu::Context& g = ctx();
  Dev<float> ds(g, scores);
  Dev<int32_t> dl(g, lengths), dout(g, std::vector<int32_t>(want.size(), -1)), dcounts(size_t(c.rows));
  gpu::TopkParams p{c.rows, c.n, c.k, c.n, c.k, c.impl};
  gpu::topk(g, p, ds.get(), dl.get(), dout.get(), dcounts.get());
  const auto got = dout.download(g), got_counts = dcounts.download(g);
  for (int64_t r = 0; r < c.rows; ++r) {
    ASSERT_EQ(got_counts[r], want_counts[r]) << "row " << r;
    std::vector<int32_t> gr(got.begin() + r * c.k, got.begin() + r * c.k + got_counts[r]);
    std::vector<int32_t> wr(want.begin() + r * c.k, want.begin() + r * c.k + want_counts[r]);
    EXPECT_EQ(gr, wr) << "row " << r << " (n " << lengths[r] << "): Jaccard " << test::jaccard(gr, wr);
  }
}

std::vector<TopkLongCase> cases() {
  std::vector<TopkLongCase> v;
  for (auto impl : {gpu::TopkImpl::kBlockPerRow, gpu::TopkImpl::kMultiBlock}) {
    v.push_back({1, 131072, 2048, Scores::kGauss, impl});
    v.push_back({1, 131072, 2048, Scores::kCoarse, impl});
    v.push_back({1, 131072, 2048, Scores::kAllEqual, impl});
    v.push_back({1, 131072, 2048, Scores::kTiesAtCut, impl});
    v.push_back({3, 40000, 2048, Scores::kGauss, impl});   // lengths 40000, 38999, 37998
    v.push_back({2, 20000, 1, Scores::kCoarse, impl});
    v.push_back({2, 5000, 4999, Scores::kGauss, impl});    // k = n − 1 on row 0
    v.push_back({5, 3000, 2048, Scores::kGauss, impl});    // rows 3, 4 have length 0 → count 0
  }
  return v;
}
INSTANTIATE_TEST_SUITE_P(Cuda, TopkLongTest, ::testing::ValuesIn(cases()));

}  // namespace
}  // namespace dsv32
