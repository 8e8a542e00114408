// indexer_scores_rows (kernels/cpu/indexer.h) against indexer_scores query by query, bit for bit:
// the blocked kernel keeps each score's order (dot() per head, heads summed in order). Key counts
// that end mid-tile and cross the 64-key block, head counts that are (the tiled path) and are not
// (the fallback) multiples of 4, and the V3.2 indexer shape.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/indexer.h"
#include "tests/kernels/test_inputs.h"

namespace dsv32 {
namespace {

using test_util::randn;

struct IdxCase {
  int64_t H, d, rows, n;
};
class IndexerRowsTest : public ::testing::TestWithParam<IdxCase> {};

TEST_P(IndexerRowsTest, BitIdenticalToIndexerScores) {
  const IdxCase c = GetParam();
  const IndexerParams p{c.H, c.d, 16};
  const int64_t q_stride = c.H * c.d + 16, w_stride = c.H + 3, s_stride = c.n + 5;
  const std::vector<float> q = randn(c.rows * q_stride, 1), w = randn(c.rows * w_stride, 2), keys = randn(c.n * c.d, 3);
  std::vector<float> got(c.rows * s_stride, 0.f), want(c.rows * s_stride, 0.f);
  indexer_scores_rows(p, c.rows, q.data(), q_stride, w.data(), w_stride, keys.data(), c.n, got.data(), s_stride);
  for (int64_t r = 0; r < c.rows; ++r)
    indexer_scores(p, q.data() + r * q_stride, w.data() + r * w_stride, keys.data(), c.n, want.data() + r * s_stride);
  int64_t positive = 0;
  for (int64_t i = 0; i < int64_t(got.size()); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &got[i], 4);
    std::memcpy(&b, &want[i], 4);
    ASSERT_EQ(a, b) << "row " << i / s_stride << " key " << i % s_stride;
    positive += want[i] != 0;
  }
  EXPECT_GT(positive, 0);  // some ReLU passed a dot (the scores are not all zero)
}

INSTANTIATE_TEST_SUITE_P(Shapes, IndexerRowsTest,
                         ::testing::Values(IdxCase{64, 128, 3, 130},  // V3.2: H_I = 64, d_I = 128
                                           IdxCase{8, 32, 8, 67}, IdxCase{4, 16, 1, 7},
                                           IdxCase{6, 32, 2, 70},     // H % 4 != 0: fallback
                                           IdxCase{8, 24, 2, 9}));    // d % 16 != 0: fallback

}  // namespace
}  // namespace dsv32
