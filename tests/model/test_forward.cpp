// Consistency of the four forward modes on the tiny synthetic checkpoint (index_topk = 64):
//   naive ≡ absorbed (same math, different association: fp32 reorder tolerance)
//   sparse ≡ dense while every query sees ≤ index_topk positions (same code path: bit-identical)
//   one prefill ≡ prefill + decode ≡ chunked prefill at start > 0 (row-independent kernels:
//   bit-identical by design — see kernels/cpu/linear.h)
#include <gtest/gtest.h>

#include "tests/model/forward_util.h"

namespace dsv32::testing {
namespace {

struct Mode {
  AttnMode attn;
  MlaMode mla;
};
std::string name(const Mode& m) { return std::string(to_string(m.attn)) + "_" + to_string(m.mla); }
const Mode kModes[] = {{AttnMode::kDense, MlaMode::kNaive},
                       {AttnMode::kDense, MlaMode::kAbsorbed},
                       {AttnMode::kSparse, MlaMode::kNaive},
                       {AttnMode::kSparse, MlaMode::kAbsorbed}};

// 100 > index_topk = 64 positions, so sparse runs select proper subsets for late queries.
constexpr int kN = 100;

TEST(Forward, NaiveMatchesAbsorbed) {
  const std::string dir = tiny_checkpoint();
  const auto ids = test_ids(kN);
  for (AttnMode attn : {AttnMode::kDense, AttnMode::kSparse}) {
    struct Split { const char* what; std::vector<int64_t> chunks; };
    const Split splits[] = {{"prefill-only", {kN}},
                            {"decode-only", prefill_then_decode(kN, 0)},
                            {"mixed", prefill_then_decode(kN, 70)}};
    for (const auto& sp : splits) {
      auto naive = make_model(dir, attn, MlaMode::kNaive);
      auto absorbed = make_model(dir, attn, MlaMode::kAbsorbed);
      auto a = run_chunks(*naive, ids, sp.chunks);
      auto b = run_chunks(*absorbed, ids, sp.chunks);
      Diff d = diff(a, b);
      double tol = fp32_reorder_tolerance(naive->config(), kN);
      std::printf("[naive vs absorbed] %s %s: max|Δ| %.3g, rms %.3g, rel %.3g (tol %.3g)\n",
                  to_string(attn), sp.what, d.max_abs, d.rms_ref, d.rel(), tol);
      EXPECT_LE(d.rel(), tol) << to_string(attn) << " " << sp.what << " worst index " << d.worst;
      EXPECT_GT(d.max_abs, 0.0) << "paths are supposed to differ in rounding; identical output "
                                   "suggests one path is not exercised";
    }
  }
}

TEST(Forward, SparseEqualsDenseWithinTopk) {
  const std::string dir = tiny_checkpoint();
  const auto ids = test_ids(kN);
  for (MlaMode mla : {MlaMode::kNaive, MlaMode::kAbsorbed}) {
    auto dense = make_model(dir, AttnMode::kDense, mla);
    auto sparse = make_model(dir, AttnMode::kSparse, mla);
    auto chunks = prefill_then_decode(kN, 50);
    auto a = run_chunks(*dense, ids, chunks);
    auto b = run_chunks(*sparse, ids, chunks);
    const int64_t V = dense->config().vocab_size, k = dense->config().index_topk;
    // Queries at positions < k see at most k positions: the indexer selects all of them, in
    // ascending order, and attention visits them exactly as dense attention does.
    Diff within = diff(a, b, 0, k * V);
    EXPECT_EQ(within.max_abs, 0.0) << to_string(mla) << ": position " << within.worst / V;
    // Beyond k positions the selection is a proper subset: outputs must differ.
    Diff beyond = diff(a, b, k * V, kN * V);
    std::printf("[sparse vs dense] %s: within top-k max|Δ| %.3g, beyond %.3g\n", to_string(mla),
                within.max_abs, beyond.max_abs);
    EXPECT_GT(beyond.rel(), 1e-3) << "sparse attention over " << kN << " positions with top-" << k
                                  << " should change the logits";
  }
}

TEST(Forward, PrefillDecodeAndChunkedPrefillAgree) {
  const std::string dir = tiny_checkpoint();
  const auto ids = test_ids(kN);
  for (const Mode& mode : kModes) {
    auto m = make_model(dir, mode.attn, mode.mla);
    auto one = run_chunks(*m, ids, {kN});
    auto decoded = run_chunks(*m, ids, prefill_then_decode(kN, 37));
    auto chunked = run_chunks(*m, ids, {30, 1, 45, 24});
    // Bit-identical: every kernel computes a row the same way whatever else is in the batch.
    Diff d1 = diff(one, decoded), d2 = diff(one, chunked);
    EXPECT_EQ(d1.max_abs, 0.0) << name(mode) << " prefill+decode, worst " << d1.worst;
    EXPECT_EQ(d2.max_abs, 0.0) << name(mode) << " chunked prefill, worst " << d2.worst;
  }
}

TEST(Forward, ThreadCountDoesNotChangeResults) {
  const std::string dir = tiny_checkpoint();
  const auto ids = test_ids(80);
  auto a = make_model(dir, AttnMode::kSparse, MlaMode::kAbsorbed, 256, 1);
  auto b = make_model(dir, AttnMode::kSparse, MlaMode::kAbsorbed, 256, 3);
  EXPECT_EQ(diff(run_chunks(*a, ids, {80}), run_chunks(*b, ids, {80})).max_abs, 0.0);
}

// In sparse mode, attention reads only the selected cache rows: perturbing an unselected row
// leaves the output bit-identical, perturbing a selected one changes it.
TEST(Forward, SparseIgnoresUnselectedPositions) {
  const std::string dir = tiny_checkpoint();
  const auto ids = test_ids(kN);
  for (MlaMode mla : {MlaMode::kNaive, MlaMode::kAbsorbed}) {
    auto m = make_model(dir, AttnMode::kSparse, mla);
    const int64_t V = m->config().vocab_size, last = kN - 1;
    const int layer = 2;
    std::vector<float> logits(kN * V);
    m->forward(ids.data(), last, 0, logits.data());
    // Decode the last token, recording layer 2's selection.
    std::vector<int32_t> selected;
    Observer obs = [&](const TensorEvent& e) {
      if (e.name == "layers/02/indexer_topk") {
        const int32_t* p = static_cast<const int32_t*>(e.data);
        for (int64_t j = 0; j < e.shape[1]; ++j)
          if (p[j] >= 0) selected.push_back(p[j]);
      }
    };
    std::vector<float> base(V), out(V);
    m->forward(&ids[last], 1, last, base.data(), &obs);
    ASSERT_EQ(int64_t(selected.size()), m->config().index_topk);
    std::vector<bool> is_sel(kN, false);
    for (int32_t s : selected) is_sel[s] = true;
    int64_t unselected = -1;
    for (int64_t t = 0; t < last; ++t)
      if (!is_sel[t]) { unselected = t; break; }
    ASSERT_GE(unselected, 0);
    int64_t chosen = selected[selected.size() / 2];

    const int64_t row = m->mla_cache_row_floats();
    float* r = m->mla_cache_row(layer, unselected);
    for (int64_t i = 0; i < row; ++i) r[i] += 10.f;
    m->forward(&ids[last], 1, last, out.data());
    EXPECT_EQ(diff(base, out).max_abs, 0.0) << to_string(mla) << ": unselected position " << unselected;

    r = m->mla_cache_row(layer, chosen);
    for (int64_t i = 0; i < row; ++i) r[i] += 10.f;
    m->forward(&ids[last], 1, last, out.data());
    EXPECT_GT(diff(base, out).max_abs, 0.0) << to_string(mla) << ": selected position " << chosen;
  }
}

// An FP8 checkpoint and the same weights stored dequantized (F32) give identical logits: the
// loader's on-the-fly dequantization reproduces W = e4m3(code)·scale exactly.
TEST(Forward, Fp8EqualsDequantizedCheckpoint) {
  namespace fs = std::filesystem;
  const std::string dir = tiny_checkpoint();
  const fs::path out = fs::path(DSV32_BUILD_DIR) / "test-models" / ("tiny-fp8-dequant-" + std::to_string(getpid()));
  fs::create_directories(out);
  {
    Checkpoint ck(dir);
    SafetensorsWriter w;
    for (const std::string& n : ck.names()) {
      const TensorInfo& t = ck.get(n);
      if (n.size() > 10 && n.substr(n.size() - 10) == "_scale_inv") continue;
      if (t.dtype != DType::F8_E4M3) {
        w.add(n, t.dtype, t.shape, t.data, t.nbytes);
        continue;
      }
      const TensorInfo& s = ck.get(n + "_scale_inv");
      Weight wt{DType::F8_E4M3, t.shape[0], t.shape[1], t.data, reinterpret_cast<const float*>(s.data), s.shape[1]};
      std::vector<float> deq(t.numel());
      for (int64_t r = 0; r < t.shape[0]; ++r) wt.row_to_f32(r, 0, t.shape[1], &deq[r * t.shape[1]]);
      w.add(n, DType::F32, t.shape, deq.data(), deq.size() * 4);
    }
    w.write((out / "model.safetensors").string());
    fs::copy_file(fs::path(dir) / "config.json", out / "config.json");
  }
  const auto ids = test_ids(70);
  for (const Mode& mode : kModes) {
    auto a = make_model(dir, mode.attn, mode.mla);
    auto b = make_model(out.string(), mode.attn, mode.mla);
    EXPECT_EQ(diff(run_chunks(*a, ids, {60, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}),
                   run_chunks(*b, ids, {60, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})).max_abs, 0.0) << name(mode);
  }
  fs::remove_all(out);
}

TEST(Forward, RejectsBadPositionsAndIds) {
  auto m = make_model(tiny_checkpoint(), AttnMode::kDense, MlaMode::kAbsorbed, 16);
  const auto ids = test_ids(20);
  std::vector<float> logits(20 * m->config().vocab_size);
  EXPECT_THROW(m->forward(ids.data(), 20, 0, logits.data()), Error);   // beyond capacity
  EXPECT_THROW(m->forward(ids.data(), 2, 5, logits.data()), Error);    // gap in the cache
  int32_t bad = 129280;
  EXPECT_THROW(m->forward(&bad, 1, 0, logits.data()), Error);
}

TEST(Forward, V3CheckpointRunsDenseOnly) {
  const std::string dir = tiny_checkpoint(SynthWeights::kBf16, 3, "DeepseekV3ForCausalLM");
  auto w = load_weights(dir);
  EXPECT_FALSE(w->config.has_indexer);
  EXPECT_THROW(Model(w, ModelOptions{AttnMode::kSparse, MlaMode::kAbsorbed, 16, 1}), Error);
  Model m(w, ModelOptions{AttnMode::kDense, MlaMode::kNaive, 16, 1});
  auto ids = test_ids(8);
  std::vector<float> logits(8 * w->config.vocab_size);
  m.forward(ids.data(), 8, 0, logits.data());
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace dsv32::testing
