// Expert parallelism without MPI: the block split (model/parallel.h) and the three steps of
// kernels/cpu/moe_experts.h run as N simulated ranks — each groups the same ids, runs only its
// expert block into its own copy of the grouped rows, the copies are assembled the way the
// all-gather does (rank r's slice [offset[lo], offset[hi]) from rank r) — give bit for bit the
// single-process moe_experts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/cpu/moe_experts.h"
#include "model/parallel.h"

namespace dsv32 {
namespace {

TEST(ExpertBlock, CoversEveryExpertOnceInBalancedContiguousBlocks) {
  for (int64_t E : {1, 5, 16, 256}) {
    for (int N = 1; N <= E && N <= 40; ++N) {
      int64_t next = 0, smallest = E, largest = 0;
      for (int r = 0; r < N; ++r) {
        const auto [lo, hi] = expert_block(E, N, r);
        EXPECT_EQ(lo, next) << "E " << E << " N " << N << " rank " << r;
        EXPECT_GT(hi, lo);
        smallest = std::min(smallest, hi - lo), largest = std::max(largest, hi - lo);
        next = hi;
      }
      EXPECT_EQ(next, E);
      EXPECT_LE(largest - smallest, 1) << "E " << E << " N " << N;
    }
  }
}

TEST(ExpertBlock, ParseParallel) {
  EXPECT_EQ(parse_parallel("none"), Parallel::kNone);
  EXPECT_EQ(parse_parallel("ep"), Parallel::kEp);
  EXPECT_THROW(parse_parallel("tp"), std::exception);
}

// A nonlinear stand-in for an expert's SwiGLU: its output depends on the expert and the row.
void fake_expert(int64_t e, const float* xg, int64_t n, int64_t D, float* yg) {
  for (int64_t i = 0; i < n * D; ++i) yg[i] = std::sin(xg[i] * float(e + 1)) * 0.37f + float(e) * 1e-3f;
}

TEST(ExpertParallel, SimulatedRanksMatchOneProcessBitForBit) {
  const int64_t S = 37, D = 24, K = 4, E = 16;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  std::vector<float> x(S * D), w(S * K), shared(S * D);
  for (float& v : x) v = u(rng);
  for (float& v : w) v = u(rng);
  for (float& v : shared) v = u(rng);
  std::vector<int32_t> ids(S * K);
  for (int64_t s = 0; s < S; ++s) {  // K distinct ascending experts; expert 3 gets nobody
    std::vector<int32_t> pool;
    for (int32_t e = 0; e < E; ++e)
      if (e != 3) pool.push_back(e);
    std::shuffle(pool.begin(), pool.end(), rng);
    std::sort(pool.begin(), pool.begin() + K);
    std::copy(pool.begin(), pool.begin() + K, &ids[s * K]);
  }
  const MoeExpertsParams p{S, D, K, E};
  const ExpertFn expert = [&](int64_t e, const float* xg, int64_t n, float* yg) { fake_expert(e, xg, n, D, yg); };
  std::vector<float> want = shared;
  MoeScratch one;
  moe_experts(p, one, x.data(), ids.data(), w.data(), expert, want.data());

  for (int N : {1, 2, 3, 5, 16}) {
    std::vector<MoeScratch> ranks(N);
    for (int r = 0; r < N; ++r) {
      moe_group(p, ranks[r], ids.data());
      const auto [lo, hi] = expert_block(E, N, r);
      moe_run_experts(p, ranks[r], x.data(), expert, lo, hi);
    }
    // The all-gather: every rank receives every other rank's slice of grouped rows.
    for (int dst = 0; dst < N; ++dst)
      for (int src = 0; src < N; ++src) {
        if (src == dst) continue;
        const auto [lo, hi] = expert_block(E, N, src);
        const int64_t a = ranks[src].offset[lo], b = ranks[src].offset[hi];
        std::memcpy(&ranks[dst].yg[a * D], &ranks[src].yg[a * D], size_t((b - a) * D) * 4);
      }
    for (int r = 0; r < N; ++r) {
      std::vector<float> got = shared;
      moe_combine(p, ranks[r], w.data(), got.data());
      ASSERT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * 4)) << N << " ranks, rank " << r;
    }
  }
}

}  // namespace
}  // namespace dsv32
