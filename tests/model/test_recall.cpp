// The indexer recall (model/recall.h, MODEL §7.11) against brute force, and the load-time
// overrides it and `dsv32 ppl --modes` rely on (model/weights.h WeightOverrides).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/error.h"
#include "model/recall.h"
#include "tests/model/forward_util.h"

namespace dsv32::testing {
namespace {

// Brute force: softmax per head in long double, averaged; the top-k by a full sort on (score
// descending with NaN as −inf, position ascending); recall = the mass of the first min(k, n).
std::vector<double> brute_recall(const std::vector<double>& logits, int64_t H, int64_t n, const std::vector<float>& scores,
                                 const std::vector<int64_t>& ks) {
  std::vector<long double> p(n, 0.0L);
  for (int64_t h = 0; h < H; ++h) {
    long double z = 0;
    for (int64_t u = 0; u < n; ++u) z += std::exp((long double)logits[h * n + u]);
    for (int64_t u = 0; u < n; ++u) p[u] += std::exp((long double)logits[h * n + u]) / z / H;
  }
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](int64_t u) { return std::isnan(scores[u]) ? -INFINITY : scores[u]; };
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return key(a) != key(b) ? key(a) > key(b) : a < b; });
  std::vector<double> out;
  for (int64_t k : ks) {
    long double r = 0;
    for (int64_t j = 0; j < std::min(k, n); ++j) r += p[order[j]];
    out.push_back(double(r));
  }
  return out;
}

TEST(Recall, QueryRecallMatchesBruteForceWithTiesAndNan) {
  const int64_t H = 3, n = 57;
  std::vector<double> logits(H * n);
  std::vector<float> scores(n);
  uint32_t s = 12345;
  auto next = [&] { s = s * 1664525u + 1013904223u; return double(s >> 8) / double(1u << 24); };
  for (auto& x : logits) x = 6.0 * next() - 3.0;
  // Scores on a coarse grid with many exact ties (ReLU zeros included) and one NaN: the tie rule
  // decides which of the equal keys make the cut.
  for (auto& x : scores) x = std::max(0.0f, float(std::floor(8.0 * next()) - 3.0) * 0.25f);
  scores[11] = NAN;
  const std::vector<int64_t> ks{1, 2, 5, 17, 30, 56, 57, 80};
  std::vector<double> got(ks.size(), 0.0);
  std::vector<int32_t> scratch;
  add_query_recall(logits.data(), H, n, scores.data(), ks, got.data(), scratch);
  const auto want = brute_recall(logits, H, n, scores, ks);
  for (size_t i = 0; i < ks.size(); ++i) {
    // Both sum ≤ 57·3 terms of size ≤ 1 in double (got) vs long double (want): |δ| ≲ 200·2^-53.
    EXPECT_NEAR(got[i], want[i], 1e-13) << "k = " << ks[i];
    if (i > 0) EXPECT_GE(got[i], got[i - 1]) << "recall grows with k";
  }
  EXPECT_NEAR(got[ks.size() - 2], 1.0, 1e-13) << "k = n holds every key";
  EXPECT_LT(got[3], 0.9) << "the test data must not be trivially concentrated";
  // Accumulates: a second call adds the same values again.
  add_query_recall(logits.data(), H, n, scores.data(), ks, got.data(), scratch);
  EXPECT_NEAR(got[2], 2 * want[2], 1e-13);
}

// query_logits reproduces the model's own attention: softmax(logits)·V with V = W_UV c_KV
// (kv_b's value rows, read straight from the weights) must give the attn_out the dense naive
// forward pass reports.
TEST(Recall, QueryLogitsReproduceTheDenseAttentionOutput) {
  const std::string dir = tiny_checkpoint();
  auto m = make_model(dir, AttnMode::kDense, MlaMode::kNaive, 64);
  const ModelConfig& c = m->config();
  const int64_t S = 40, H = c.n_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dv = c.v_head_dim;
  const int64_t rkv = c.kv_lora_rank;
  const int layer = 1;
  std::vector<float> qn, qr, lat, out;
  Observer obs = [&](const TensorEvent& e) {
    const float* d = static_cast<const float*>(e.data);
    if (e.layer != layer) return;
    if (e.name.ends_with("/q_nope")) qn.assign(d, d + e.numel());
    if (e.name.ends_with("/q_rope")) qr.assign(d, d + e.numel());
    if (e.name.ends_with("/kv_latent")) lat.assign(d, d + e.numel());
    if (e.name.ends_with("/attn_out")) out.assign(d, d + e.numel());
  };
  const auto ids = test_ids(int(S));
  m->forward(ids.data(), S, 0, nullptr, &obs);
  ASSERT_EQ(out.size(), size_t(S * H * dv));
  const Weight& kvb = m->weights().layers[layer].kv_b;  // per head: W_UK (dn rows) then W_UV (dv rows)
  std::vector<double> v(S * H * dv, 0.0);  // V_h(u) = W_UV_h c_KV(u)
  for (int64_t u = 0; u < S; ++u)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t e = 0; e < dv; ++e) {
        double a = 0;
        for (int64_t r = 0; r < rkv; ++r) a += double(kvb.at(h * (dn + dv) + dn + e, r)) * lat[u * rkv + r];
        v[(u * H + h) * dv + e] = a;
      }
  double worst = 0, rms = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = s + 1;
    std::vector<double> lg(H * n);
    query_logits(*m, layer, &qn[s * H * dn], &qr[s * H * dr], n, lg.data());
    for (int64_t h = 0; h < H; ++h) {
      double mx = -INFINITY, z = 0;
      for (int64_t u = 0; u < n; ++u) mx = std::max(mx, lg[h * n + u]);
      for (int64_t u = 0; u < n; ++u) z += std::exp(lg[h * n + u] - mx);
      for (int64_t e = 0; e < dv; ++e) {
        double o = 0;
        for (int64_t u = 0; u < n; ++u) o += std::exp(lg[h * n + u] - mx) / z * v[(u * H + h) * dv + e];
        const double got = out[(s * H + h) * dv + e];
        worst = std::max(worst, std::fabs(o - got));
        rms += got * got;
      }
    }
  }
  rms = std::sqrt(rms / double(S * H * dv));
  // fp32 forward vs double here: reductions of length ≤ max(r_kv, d_qk, S) = 64 in fp32 give a
  // relative error ~ sqrt(64)·2^-24 ≈ 5e-7 per stage over a few stages; 1e-5 of rms leaves room,
  // while a wrong scale, layout or head would be off by O(rms).
  EXPECT_LE(worst, 1e-5 * rms) << "rms " << rms;
}

TEST(Recall, ChunkRecallIsOneWhenKCoversEveryKeyAndGrowsWithK) {
  const std::string dir = tiny_checkpoint();
  const int64_t S = 80;
  WeightOverrides ov;
  ov.index_topk = S;
  Model m(load_weights(dir, ov), ModelOptions{AttnMode::kSparse, MlaMode::kNaive, S, 2});
  const auto ids = test_ids(int(S), 3);
  const std::vector<int64_t> ks{1, 8, 32, 64, S};
  const int64_t q0 = 40;
  auto r = chunk_recall(m, ids.data(), S, q0, ks);
  ASSERT_EQ(r.size(), size_t(m.config().n_layers));
  for (auto& layer : r) {
    for (size_t i = 1; i < ks.size(); ++i) EXPECT_GE(layer[i], layer[i - 1] - 1e-12);
    EXPECT_NEAR(layer.back() / double(S - q0), 1.0, 1e-12);
    EXPECT_GT(layer[0], 0.0);
    EXPECT_LT(layer[1] / double(S - q0), 1.0);
  }
  // A model that is not sparse/naive with index_topk >= S is refused.
  Model small_k(load_weights(dir), ModelOptions{AttnMode::kSparse, MlaMode::kNaive, S, 2});
  EXPECT_THROW(chunk_recall(small_k, ids.data(), S, q0, ks), Error);
}

TEST(WeightOverrides, IndexTopkIsValidatedAndApplied) {
  const std::string dir = tiny_checkpoint();
  WeightOverrides ov;
  ov.index_topk = 7;
  EXPECT_EQ(load_weights(dir, ov)->config.index_topk, 7);
  ov.index_topk = load_weights(dir)->config.max_position_embeddings + 1;
  try {
    load_weights(dir, ov);
    ADD_FAILURE() << "index_topk above max_position_embeddings was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--index-topk"), std::string::npos) << e.what();
  }
  WeightOverrides v3;
  v3.index_topk = 8;
  EXPECT_THROW(load_weights(tiny_checkpoint(SynthWeights::kFp8, 1, "DeepseekV3ForCausalLM"), v3), Error);
}

TEST(WeightOverrides, RandomIndexerIsDeterministicAndChangesOnlyTheSelection) {
  const std::string dir = tiny_checkpoint();
  WeightOverrides a, b;
  a.random_indexer_seed = b.random_indexer_seed = 5;
  auto wa = load_weights(dir, a), wb = load_weights(dir, b), w0 = load_weights(dir);
  const Weight &xa = wa->layers[0].indexer.wk, &xb = wb->layers[0].indexer.wk, &x0 = w0->layers[0].indexer.wk;
  EXPECT_EQ(xa.dtype, DType::F32);
  EXPECT_EQ(xa.rows, x0.rows);
  EXPECT_EQ(xa.cols, x0.cols);
  EXPECT_EQ(xa.at(3, 5), xb.at(3, 5));
  EXPECT_NE(xa.at(3, 5), x0.at(3, 5));
  // Dense attention never reads the indexer: identical logits. Sparse beyond index_topk: not.
  const auto ids = test_ids(100, 9);
  auto run = [&](std::shared_ptr<const ModelWeights> w, AttnMode at) {
    Model m(w, ModelOptions{at, MlaMode::kAbsorbed, 100, 2});
    return run_chunks(m, ids, {100});
  };
  EXPECT_EQ(run(wa, AttnMode::kDense), run(w0, AttnMode::kDense));
  EXPECT_NE(run(wa, AttnMode::kSparse), run(w0, AttnMode::kSparse));
}

}  // namespace
}  // namespace dsv32::testing
