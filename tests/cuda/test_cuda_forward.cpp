// The forward pass on the GPU (model/cuda, --device cuda) against the CPU driver, on the tiny
// synthetic checkpoint (tests/model/tiny_model.h), all four modes, GEMMs at fp32 (--numerics exact):
//   - the observer sees the same tensor names and shapes, in the same order;
//   - indexer top-k sets and expert sets agree, except at near-ties of the CPU's own scores;
//   - logits agree within the fp32 reorder tolerance once both runs use the same selections;
//   - on the GPU, one prefill ≈ prefill + decode ≈ chunked prefill (same tolerance: cuBLAS may
//     pick another summation order for another M, so not bit for bit as on the CPU).
// Every test skips without a CUDA device (GpuTest).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "model/model.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/model/forward_util.h"

namespace dsv32 {
namespace {

using testing::Diff;
using testing::diff;
using testing::fp32_reorder_tolerance;
using testing::prefill_then_decode;
using testing::run_chunks;
using testing::test_ids;
using testing::tiny_checkpoint;

struct Mode {
  AttnMode attn;
  MlaMode mla;
};
std::string name(const Mode& m) { return std::string(to_string(m.attn)) + "_" + to_string(m.mla); }
void PrintTo(const Mode& m, std::ostream* os) { *os << name(m); }
const Mode kModes[] = {{AttnMode::kDense, MlaMode::kNaive},
                       {AttnMode::kDense, MlaMode::kAbsorbed},
                       {AttnMode::kSparse, MlaMode::kNaive},
                       {AttnMode::kSparse, MlaMode::kAbsorbed}};
constexpr int kN = 100;  // > index_topk = 64: late queries select proper subsets

std::shared_ptr<const ModelWeights> tiny_weights() {
  static std::shared_ptr<const ModelWeights> w = load_weights(tiny_checkpoint());
  return w;
}

std::unique_ptr<Model> make(const Mode& m, Device d, const char* numerics = "exact") {
  ModelOptions o{m.attn, m.mla, 256, 2};
  o.device = d;
  o.numerics = numerics;
  return std::make_unique<Model>(tiny_weights(), o);
}

// What an observer saw over a run: the (name, shape) sequence, and per layer the selections and
// the scores they were made from, as rows by absolute position.
struct Capture {
  std::vector<std::string> events;  // "name [d0,d1,...]" in order
  std::map<std::string, std::vector<std::vector<float>>> scores;   // name -> [position] row
  std::map<std::string, std::vector<std::vector<int32_t>>> sets;   // name -> [position] row (no -1)
  Observer observer() {
    return [this](const TensorEvent& e) {
      std::string ev = e.name + " [";
      for (size_t i = 0; i < e.shape.size(); ++i) ev += (i ? "," : "") + std::to_string(e.shape[i]);
      events.push_back(ev + "]");
      const bool is_set = e.name.ends_with("indexer_topk") || e.name.ends_with("expert_ids");
      const bool is_score = e.name.ends_with("indexer_scores") || e.name.ends_with("router_scores");
      if (!is_set && !is_score) return;
      const int64_t rows = e.shape[0], width = e.numel() / rows;
      for (int64_t r = 0; r < rows; ++r) {
        const size_t pos = size_t(e.pos0 + r);
        if (is_set) {
          auto& v = sets[e.name];
          if (v.size() <= pos) v.resize(pos + 1);
          const int32_t* p = static_cast<const int32_t*>(e.data) + r * width;
          v[pos].clear();
          for (int64_t j = 0; j < width; ++j)
            if (p[j] >= 0) v[pos].push_back(p[j]);
          std::sort(v[pos].begin(), v[pos].end());
        } else {
          auto& v = scores[e.name];
          if (v.size() <= pos) v.resize(pos + 1);
          const float* p = static_cast<const float*>(e.data) + r * width;
          v[pos].assign(p, p + width);
        }
      }
    };
  }
  // The selections as pins for another run (rows padded with -1).
  Pins pins(const ModelConfig& c) const {
    Pins p;
    p.topk_width = c.index_topk;
    p.experts_width = c.n_experts_per_tok;
    p.indexer_topk.resize(c.n_layers);
    p.expert_ids.resize(c.n_layers);
    for (int l = 0; l < c.n_layers; ++l) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "layers/%02d/", l);
      auto fill = [&](const std::string& key, int64_t width, std::vector<int32_t>* out) {
        auto it = sets.find(buf + key);
        if (it == sets.end()) return;
        for (const auto& row : it->second) {
          for (int64_t j = 0; j < width; ++j) out->push_back(j < int64_t(row.size()) ? row[j] : -1);
        }
      };
      fill("indexer_topk", p.topk_width, &p.indexer_topk[l]);
      fill("expert_ids", p.experts_width, &p.expert_ids[l]);
    }
    return p;
  }
};

// Runs prefill 70 + 30 decode steps with an observer; returns the logits.
std::vector<float> run_observed(Model& m, const std::vector<int32_t>& ids, Capture* cap, const Pins* pins = nullptr) {
  m.set_pins(pins);
  const int64_t V = m.config().vocab_size;
  std::vector<float> logits(ids.size() * V);
  Observer obs = cap->observer();
  int64_t pos = 0;
  for (int64_t len : prefill_then_decode(int64_t(ids.size()), 70)) {
    m.forward(ids.data() + pos, len, pos, logits.data() + pos * V, &obs);
    pos += len;
  }
  m.set_pins(nullptr);
  return logits;
}

class CudaForwardTest : public test::GpuParamTest<Mode> {};

// Tolerances. Logits: the GPU changes the association order of every reduction (cuBLAS GEMMs,
// attention, indexer) and evaluates exp with CUDA's expf (≤ 2 ulp) where the CPU uses libm; both
// are O(u) relative perturbations of the same computation, so the argument of
// fp32_reorder_tolerance (tests/model/forward_util.h: C·u·sqrt(K_max)·L relative to rms(logits))
// applies unchanged. Near-ties: a CPU score s is then known to within τ·max(|s|, rms(row)) with the
// same τ; a swapped pair (x chosen by the CPU only, y by the GPU only) is excused when the CPU's
// scores of x and y are within 2τ·max(|s(x)|, rms(row)) (each side may move by τ).
TEST_P(CudaForwardTest, MatchesCpu) {
  const Mode mode = GetParam();
  const auto ids = test_ids(kN);
  auto cpu = make(mode, Device::kCpu);
  auto gpu = make(mode, Device::kCuda);
  const ModelConfig& c = cpu->config();
  const double tau = fp32_reorder_tolerance(c, kN);
  Capture cc, gc;
  const auto want = run_observed(*cpu, ids, &cc);
  const auto got = run_observed(*gpu, ids, &gc);
  ASSERT_EQ(cc.events, gc.events) << "the observer must see the same names and shapes in the same order";

  int64_t rows = 0, flipped = 0;
  for (const auto& [set_name, cpu_rows] : cc.sets) {
    const std::string layer = set_name.substr(0, set_name.rfind('/') + 1);
    const std::string score_name = layer + (set_name.ends_with("indexer_topk") ? "indexer_scores" : "router_scores");
    const auto& gpu_rows = gc.sets.at(set_name);
    const auto& scores = cc.scores.at(score_name);
    ASSERT_EQ(cpu_rows.size(), gpu_rows.size()) << set_name;
    for (size_t pos = 0; pos < cpu_rows.size(); ++pos, ++rows) {
      const auto &a = cpu_rows[pos], &b = gpu_rows[pos];
      if (a == b) continue;
      ++flipped;
      std::vector<int32_t> only_a, only_b;
      std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_a));
      std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_b));
      ASSERT_EQ(only_a.size(), only_b.size()) << set_name << " position " << pos << ": set sizes differ";
      const auto& s = scores[pos];
      double ss = 0, n = 0;
      for (float v : s)
        if (std::isfinite(v)) ss += double(v) * v, ++n;
      const double rms = std::sqrt(ss / std::max(n, 1.0));
      double hi = -INFINITY, lo = INFINITY;  // the CPU's scores of its own extra picks vs the GPU's
      for (int32_t x : only_a) hi = std::max(hi, double(s[x]));
      for (int32_t y : only_b) lo = std::min(lo, double(s[y]));
      const double gap = hi - lo, bound = 2 * tau * std::max(std::fabs(hi), rms);
      EXPECT_LE(gap, bound) << set_name << " position " << pos << ": not a near-tie (Jaccard "
                            << test::jaccard(a, b) << ")";
    }
  }
  std::printf("[cuda vs cpu] %s: %lld of %lld selection rows differ (near-ties)\n", name(mode).c_str(),
              (long long)flipped, (long long)rows);

  // Logits with the CPU's selections (pinned), so that excused flips cannot move them.
  const Pins pins = cc.pins(c);
  Capture pc;
  auto pinned_gpu = make(mode, Device::kCuda);
  const auto pinned = run_observed(*pinned_gpu, ids, &pc, &pins);
  const Diff d = diff(pinned, want);
  std::printf("[cuda vs cpu] %s: logits max|Δ| %.3g, rms %.3g, rel %.3g (tol %.3g)\n", name(mode).c_str(),
              d.max_abs, d.rms_ref, d.rel(), tau);
  EXPECT_LE(d.rel(), tau) << name(mode) << " worst index " << d.worst;
  EXPECT_GT(d.rms_ref, 0.0);
  if (flipped == 0) {
    EXPECT_LE(diff(got, want).rel(), tau) << name(mode) << " unpinned";
  }
}

TEST_P(CudaForwardTest, PrefillDecodeAndChunkedPrefillAgree) {
  const Mode mode = GetParam();
  const auto ids = test_ids(kN);
  auto m = make(mode, Device::kCuda);
  // Selections of the one-prefill run, pinned in the others: this test is about arithmetic.
  Capture cap;
  m->set_pins(nullptr);
  std::vector<float> one(size_t(kN) * m->config().vocab_size);
  Observer obs = cap.observer();
  m->forward(ids.data(), kN, 0, one.data(), &obs);
  const Pins pins = cap.pins(m->config());
  m->set_pins(&pins);
  const auto decoded = run_chunks(*m, ids, prefill_then_decode(kN, 37));
  const auto chunked = run_chunks(*m, ids, {30, 1, 45, 24});
  m->set_pins(nullptr);
  const double tau = fp32_reorder_tolerance(m->config(), kN);
  const Diff d1 = diff(decoded, one), d2 = diff(chunked, one);
  EXPECT_LE(d1.rel(), tau) << name(mode) << " prefill+decode, worst " << d1.worst;
  EXPECT_LE(d2.rel(), tau) << name(mode) << " chunked prefill, worst " << d2.worst;
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaForwardTest, ::testing::ValuesIn(kModes),
                         [](const ::testing::TestParamInfo<Mode>& i) { return name(i.param); });

// The GPU path's own contract: bad options and host-only accessors fail with an Error, and
// forward validates positions and ids as the CPU does.
class CudaForwardErrors : public test::GpuTest {};

TEST_F(CudaForwardErrors, RejectsWhatItCannotDo) {
  ModelOptions o{AttnMode::kDense, MlaMode::kAbsorbed, 16, 1};
  o.device = Device::kCuda;
  o.numerics = "ref1";
  EXPECT_THROW(Model(tiny_weights(), o), Error);
  o.numerics = "exact";
  Model m(tiny_weights(), o);
  EXPECT_THROW(m.mla_cache_row(0, 0), Error);
  EXPECT_NE(m.device_name(), "cpu");
  const auto ids = test_ids(20);
  std::vector<float> logits(20 * m.config().vocab_size);
  EXPECT_THROW(m.forward(ids.data(), 20, 0, logits.data()), Error);  // beyond capacity
  EXPECT_THROW(m.forward(ids.data(), 2, 5, logits.data()), Error);   // gap in the cache
  int32_t bad = int32_t(m.config().vocab_size);
  EXPECT_THROW(m.forward(&bad, 1, 0, logits.data()), Error);
}

}  // namespace
}  // namespace dsv32
