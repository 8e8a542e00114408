// The REF-1 emulation profile (--numerics ref1, the ref1 row of model/numerics.cpp) on the tiny synthetic checkpoint.
//
//   ref1 vs exact: different by design (bf16 points, FP8 activations), by a bounded amount;
//   determinism, thread-count independence and prefill ≡ prefill + decode ≡ chunked prefill:
//     bit-identical within one MLA mode, because every REF-1 point is per element or per row
//     (act_quant blocks lie inside a row). REF-1 itself is NOT prefill/decode invariant: it runs
//     prefill through the naive path and decode through the absorbed one, whose rounding points
//     differ (MODEL §6.6) — here the mode is fixed per Model, so that case is naive vs absorbed:
//   naive vs absorbed under ref1: the two paths' rounding points differ, bounded like ref1 vs exact.
#include <gtest/gtest.h>

#include "tests/model/forward_util.h"

namespace dsv32::testing {
namespace {

constexpr int kN = 100;  // > index_topk = 64: sparse runs select proper subsets

std::unique_ptr<Model> make(AttnMode a, MlaMode m, const char* n, int threads = 2) {
  static std::shared_ptr<const ModelWeights> w = load_weights(tiny_checkpoint());
  ModelOptions o{a, m, 256, threads};
  o.numerics = n;
  return std::make_unique<Model>(w, o);
}

// sqrt(Σ(a−b)² / Σb²): the relative rms difference of two logits arrays.
double rel_rms(const std::vector<float>& a, const std::vector<float>& b) {
  double d2 = 0, b2 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d2 += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    b2 += double(b[i]) * b[i];
  }
  return std::sqrt(d2 / b2);
}

// Bound on the relative rms logits difference between two computations that differ in REF-1's
// rounding points (ref1 vs exact, or ref1 naive vs ref1 absorbed):
//   * each FP8 projection quantizes its input to e4m3: relative rounding error ≤ 2^-4 per element,
//     rms ≈ 2^-4/√3, and the projection's output inherits that relative rms (a sum of independent
//     per-term errors relative to a sum of the same terms); the residual path of a layer crosses
//     P = 8 such points (q_a, q_b, kv_a, kv_b, o, w1, w3, w2), independent: √P;
//   * each bf16 point adds ≤ 2^-9 rms relative (half an ulp of 2^-8, /√3); about 20 per layer
//     (MODEL §10): √20·2^-9 ≈ 0.009, small next to the FP8 term (0.10);
//   * errors entering the residual stream are carried, not amplified, by the normalised layers, and
//     (naive vs absorbed) flips are amplified by later act_quant only up to the same e4m3 level:
//     growth at most linear in the number of layers L.
// bound = (2^-4/√3·√8 + 2^-9·√20)·L; tiny (L = 4): ≈ 0.44. A wrong scale or a missing
// dequantization gives O(1) errors; the bound still leaves room for the measured ~0.1.
double ref1_rel_bound(const ModelConfig& c) {
  return (std::ldexp(1.0, -4) / std::sqrt(3.0) * std::sqrt(8.0) + std::ldexp(1.0, -9) * std::sqrt(20.0)) *
         double(c.n_layers);
}

struct Mode {
  AttnMode attn;
  MlaMode mla;
};
const Mode kModes[] = {{AttnMode::kDense, MlaMode::kNaive},
                       {AttnMode::kDense, MlaMode::kAbsorbed},
                       {AttnMode::kSparse, MlaMode::kNaive},
                       {AttnMode::kSparse, MlaMode::kAbsorbed}};
std::string name(const Mode& m) { return std::string(to_string(m.attn)) + "_" + to_string(m.mla); }

TEST(Ref1, DiffersFromExactByABoundedAmount) {
  const auto ids = test_ids(kN);
  for (const Mode& mode : kModes) {
    auto exact = make(mode.attn, mode.mla, "exact");
    auto ref1 = make(mode.attn, mode.mla, "ref1");
    const auto a = run_chunks(*ref1, ids, prefill_then_decode(kN, 60));
    const auto b = run_chunks(*exact, ids, prefill_then_decode(kN, 60));
    const double r = rel_rms(a, b), bound = ref1_rel_bound(ref1->config());
    std::printf("[ref1 vs exact] %s: rel rms %.4g (bound %.3g)\n", name(mode).c_str(), r, bound);
    EXPECT_GT(r, 1e-3) << name(mode) << ": ref1 must change the logits (rounding points not applied?)";
    EXPECT_LE(r, bound) << name(mode);
    for (float v : a) ASSERT_TRUE(std::isfinite(v));
  }
}

TEST(Ref1, DeterministicAndPrefillDecodeChunkedAgreeWithinAMode) {
  const auto ids = test_ids(kN);
  for (const Mode& mode : kModes) {
    auto m = make(mode.attn, mode.mla, "ref1");
    const auto one = run_chunks(*m, ids, {kN});
    const auto again = run_chunks(*m, ids, {kN});
    const auto decoded = run_chunks(*m, ids, prefill_then_decode(kN, 37));
    const auto chunked = run_chunks(*m, ids, {30, 1, 45, 24});
    Diff d0 = diff(one, again), d1 = diff(one, decoded), d2 = diff(one, chunked);
    EXPECT_EQ(d0.max_abs, 0.0) << name(mode) << " rerun, worst " << d0.worst;
    EXPECT_EQ(d1.max_abs, 0.0) << name(mode) << " prefill+decode, worst " << d1.worst;
    EXPECT_EQ(d2.max_abs, 0.0) << name(mode) << " chunked prefill, worst " << d2.worst;
  }
}

TEST(Ref1, ThreadCountDoesNotChangeResults) {
  const auto ids = test_ids(80);
  auto a = make(AttnMode::kSparse, MlaMode::kNaive, "ref1", 1);
  auto b = make(AttnMode::kSparse, MlaMode::kNaive, "ref1", 3);
  EXPECT_EQ(diff(run_chunks(*a, ids, prefill_then_decode(80, 70)), run_chunks(*b, ids, prefill_then_decode(80, 70))).max_abs,
            0.0);
}

TEST(Ref1, NaiveAndAbsorbedAgreeToTheRef1Bound) {
  const auto ids = test_ids(kN);
  for (AttnMode attn : {AttnMode::kDense, AttnMode::kSparse}) {
    auto naive = make(attn, MlaMode::kNaive, "ref1");
    auto absorbed = make(attn, MlaMode::kAbsorbed, "ref1");
    const auto a = run_chunks(*naive, ids, prefill_then_decode(kN, 70));
    const auto b = run_chunks(*absorbed, ids, prefill_then_decode(kN, 70));
    const double r = rel_rms(a, b), bound = ref1_rel_bound(naive->config());
    std::printf("[ref1 naive vs absorbed] %s: rel rms %.4g (bound %.3g)\n", to_string(attn), r, bound);
    EXPECT_GT(r, 0.0) << "the two paths round at different points";
    EXPECT_LE(r, bound) << to_string(attn);
  }
}

// REF-1's FP8 key cache: the indexer cache holds e4m3 values (|v| ≤ 448) in ref1 mode.
TEST(Ref1, IndexerCacheHoldsE4m3Values) {
  auto m = make(AttnMode::kSparse, MlaMode::kAbsorbed, "ref1");
  const auto ids = test_ids(8);
  run_chunks(*m, ids, {8});
  const float* row = m->indexer_cache_row(0, 3);
  float amax = 0;
  for (int64_t i = 0; i < m->config().index_head_dim; ++i) {
    ASSERT_EQ(f8e4m3_to_f32(f32_to_f8e4m3(row[i])), row[i]) << i;
    amax = std::max(amax, std::fabs(row[i]));
  }
  EXPECT_GT(amax, 224.f);  // ue8m0: the block maximum's code lies in (224, 448]
  EXPECT_LE(amax, 448.f);
}

}  // namespace
}  // namespace dsv32::testing
