// The blocked attention core (kernels/cpu/attention.h attend_rows, attend_queries) against the
// per-query reference order, attend() / attend_mqa(), bit for bit (no tolerance: the blocked
// kernel keeps each row's arithmetic and order, docs/MODEL.md §3.8). Cases: row counts that are
// not multiples of the 4-row tile or of the 16-row block, key counts that cross the 64-key block
// and end mid-tile, d_k % 16 != 0 (the dot's scalar path), d_v % 16 != 0 (axpy's tail), causal
// edges of a token block, rows with n = 0, sparse lists whose unused tail is -1 (positions never
// read: a NaN row sits at position -1 and past the visible range), and 1 and 3 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/cpu/vec.h"
#include "tests/kernels/test_inputs.h"

namespace dsv32 {
namespace {

using test_util::randn;

uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

void expect_bits_equal(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(bits(got[i]), bits(want[i])) << what << " element " << i;
}

// A cache of `rows` positions with a NaN guard row before position 0 and after the last: any
// read outside [0, rows) (an index of -1, or past the visible range) turns an output into NaN.
struct Cache {
  std::vector<float> buf;
  int64_t stride;
  Cache(int64_t rows, int64_t stride_, uint32_t seed) : stride(stride_) {
    buf = randn((rows + 2) * stride, seed);
    std::fill(buf.begin(), buf.begin() + stride, NAN);
    std::fill(buf.end() - stride, buf.end(), NAN);
  }
  const float* at0() const { return buf.data() + stride; }
};

// vec::exp_shifted_sum's lane-parallel maximum gives the running maximum's outputs bit for bit,
// with ties of +0 and −0 (either may be the maximum), NaN and −inf scores, and n % 16 != 0.
TEST(AttendCore, ExpShiftedSumEqualsRunningMaximum) {
  std::mt19937 g(5);
  for (int64_t n : {0, 1, 15, 16, 17, 37, 100}) {
    for (int variant = 0; variant < 3; ++variant) {
      std::vector<float> x = randn(n, uint32_t(n * 3 + variant));
      if (variant == 1)  // all ≤ 0 with both zeros: the maximum is a signed-zero tie
        for (int64_t i = 0; i < n; ++i) x[i] = i % 5 == 0 ? (i % 2 ? -0.f : 0.f) : -std::fabs(x[i]);
      if (variant == 2 && n > 2) x[1] = NAN, x[n - 1] = -INFINITY;
      std::vector<float> want = x;
      float mx = -INFINITY, sum = 0;
      for (int64_t i = 0; i < n; ++i) mx = want[i] > mx ? want[i] : mx;
      for (int64_t i = 0; i < n; ++i) {
        want[i] = std::exp(want[i] - mx);
        sum += want[i];
      }
      const float got_sum = vec::exp_shifted_sum(x.data(), n);
      ASSERT_EQ(bits(got_sum), bits(sum)) << "n " << n << " variant " << variant;
      expect_bits_equal(x, want, "exp_shifted_sum");
    }
  }
}

struct RowsCase {
  int64_t dk, dv, rows;
  bool sparse, causal;  // causal: n[r] = n0 + r (a token block); else every row n0 (heads of a token)
  int64_t n0;
};

class AttendRowsTest : public ::testing::TestWithParam<RowsCase> {};

TEST_P(AttendRowsTest, EachRowBitIdenticalToAttend) {
  const RowsCase c = GetParam();
  // Row strides wider than d_k / d_v, as in the naive per-head cache.
  const int64_t positions = (c.sparse ? 2 : 1) * (c.n0 + c.rows) + 3, ks = c.dk + 8, vs = c.dv + 8;
  const Cache kc(positions, ks, 7), vc(positions, vs, 9);
  const float *keys = kc.at0(), *vals = vc.at0();
  AttendParams p{c.dk, c.dv, ks, vs, 0.3f};
  const std::vector<float> q = randn(c.rows * (c.dk + 5), 8);  // q row stride dk + 5
  std::vector<int64_t> n(c.rows);
  for (int64_t r = 0; r < c.rows; ++r) n[r] = c.causal ? c.n0 + r : c.n0;
  const int64_t nmax = *std::max_element(n.begin(), n.end());
  std::vector<int32_t> index;
  if (c.sparse) {  // every other position, then -1 padding
    for (int64_t t = 0; int64_t(index.size()) < nmax; t += 2) index.push_back(int32_t(t));
    index.resize(index.size() + 9, -1);
  }
  const int32_t* ix = c.sparse ? index.data() : nullptr;
  std::vector<float> probs(c.rows * (nmax + 1)), out(c.rows * (c.dv + 3)), ref(out.size()), one(nmax + 1);
  attend_rows(p, c.rows, q.data(), c.dk + 5, keys, vals, ix, n.data(), probs.data(), nmax + 1, out.data(),
              c.dv + 3);
  for (int64_t r = 0; r < c.rows; ++r)
    attend(p, q.data() + r * (c.dk + 5), keys, vals, ix, n[r], one.data(), ref.data() + r * (c.dv + 3));
  for (int64_t r = 0; r < c.rows; ++r)
    for (int64_t e = c.dv; e < c.dv + 3; ++e) out[r * (c.dv + 3) + e] = ref[r * (c.dv + 3) + e] = 0;  // gaps
  expect_bits_equal(out, ref, "attend_rows");
  for (float x : out) ASSERT_FALSE(std::isnan(x));  // the NaN guard rows were never read
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttendRowsTest,
                         ::testing::Values(RowsCase{48, 32, 16, false, false, 130},   // MQA-like, 3 key blocks
                                           RowsCase{48, 112, 13, false, true, 61},    // token block, causal edge mid-block
                                           RowsCase{64, 40, 5, false, true, 1},       // d_v tail, n from 1
                                           RowsCase{40, 32, 7, false, false, 70},     // d_k % 16 != 0: vec::dot
                                           RowsCase{48, 96, 3, true, false, 67},      // gathered rows, -1 padding
                                           RowsCase{48, 32, 6, true, true, 65},       // gathered, ragged
                                           RowsCase{32, 16, 1, false, false, 3},      // one row, < one tile of keys
                                           RowsCase{48, 32, 4, false, true, 0}));     // n = 0, 1, 2, 3 (zeros first)

struct QueriesCase {
  bool mqa, sparse;
  int64_t H, S, P, dk, dv;
};

class AttendQueriesTest : public ::testing::TestWithParam<QueriesCase> {};

// attend_queries' blocked path equals its per-query path (attend / attend_mqa, the order the model
// ran before the blocked kernel) for 1 and 3 threads.
TEST_P(AttendQueriesTest, BlockedBitIdenticalToPerQueryAnyThreads) {
  const QueriesCase c = GetParam();
  const int64_t T = c.P + c.S, H = c.H;
  AttendBatch b;
  b.heads = H, b.mqa = c.mqa, b.S = c.S, b.P = c.P;
  b.p.d_k = c.dk, b.p.d_v = c.dv, b.p.scale = 0.25f;
  int64_t stride_k, stride_v;
  if (c.mqa) {
    stride_k = stride_v = c.dk;  // latent rows: values are the first d_v columns
  } else {
    stride_k = H * c.dk, stride_v = H * c.dv;
    b.key_head = c.dk, b.value_head = c.dv;
  }
  b.p.key_stride = stride_k, b.p.value_stride = stride_v;
  // Positions past P + S - 1 (not yet written in the model) are NaN: never visible.
  const Cache kc(T, stride_k, 31), vc(T, stride_v, 32);
  const float* keys = kc.at0();
  const float* vals = c.mqa ? keys : vc.at0();
  const std::vector<float> q = randn(c.S * H * c.dk, 33);
  const int64_t topk = 11;
  std::vector<int32_t> index, count(c.S);
  if (c.sparse) {  // per token a sorted random subset of [0, P + s], count 0 for token 0, -1 padded
    std::mt19937 g(34);
    b.index_stride = topk;
    index.assign(c.S * topk, -1);
    for (int64_t s = 0; s < c.S; ++s) {
      std::vector<int32_t> vis(c.P + s + 1);
      for (size_t i = 0; i < vis.size(); ++i) vis[i] = int32_t(i);
      std::shuffle(vis.begin(), vis.end(), g);
      const int64_t n = s == 0 ? 0 : std::min<int64_t>(topk, int64_t(vis.size()) - (s % 3 == 1 ? 0 : 1));
      std::sort(vis.begin(), vis.begin() + n);
      std::copy(vis.begin(), vis.begin() + n, index.begin() + s * topk);
      count[s] = int32_t(n);
    }
    b.index = index.data(), b.count = count.data();
  }
  const int64_t floats = kAttendMaxRows * (T + 1);
  std::vector<float> want;
  for (int threads : {1, 3}) {
    for (bool per_query : {true, false}) {
      ThreadPool pool(threads);
      std::vector<std::vector<float>> probs(pool.size(), std::vector<float>(floats));
      std::vector<float*> pp;
      for (auto& v : probs) pp.push_back(v.data());
      b.per_query = per_query;
      std::vector<float> out(c.S * H * c.dv, -7.f);
      attend_queries(pool, b, q.data(), keys, vals, pp.data(), floats, out.data());
      for (float x : out) ASSERT_FALSE(std::isnan(x));
      if (want.empty()) want = out;
      else expect_bits_equal(out, want, per_query ? "per_query" : "blocked");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttendQueriesTest,
                         ::testing::Values(QueriesCase{true, false, 20, 5, 70, 48, 32},   // 20 heads: 16 + 4
                                           QueriesCase{true, true, 7, 6, 9, 48, 32},
                                           QueriesCase{false, false, 3, 19, 0, 48, 32},  // 19 tokens: 16 + 3, P = 0
                                           QueriesCase{false, false, 2, 37, 50, 40, 24}, // d % 16 != 0
                                           QueriesCase{false, true, 3, 9, 4, 48, 32},
                                           QueriesCase{true, false, 16, 1, 130, 64, 48}  // decode: one token
                                           ));

}  // namespace
}  // namespace dsv32
