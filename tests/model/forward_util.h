// Helpers for forward-pass tests: run a model over ids with a given prefill/decode split, and
// compare logits with a tolerance derived from fp32 arithmetic.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <vector>

#include "kernels/error.h"
#include "model/model.h"
#include "tests/model/tiny_model.h"

namespace dsv32::testing {

inline std::vector<int32_t> test_ids(int n, uint32_t seed = 7) {
  std::vector<int32_t> ids(n);
  uint32_t s = seed;
  for (auto& id : ids) {
    s = s * 1664525u + 1013904223u;
    id = int32_t((s >> 8) % 129280u);
  }
  return ids;
}

// Runs ids with the given chunking: `chunks` lists the lengths of consecutive forward calls
// (e.g. {n} = one prefill, {k, 1, 1, ...} = prefill + decode). Returns logits [n, V].
inline std::vector<float> run_chunks(Model& m, const std::vector<int32_t>& ids, const std::vector<int64_t>& chunks) {
  const int64_t V = m.config().vocab_size;
  std::vector<float> logits(ids.size() * V);
  int64_t pos = 0;
  for (int64_t len : chunks) {
    m.forward(ids.data() + pos, len, pos, logits.data() + pos * V);
    pos += len;
  }
  EXPECT_EQ(pos, int64_t(ids.size()));
  return logits;
}

inline std::vector<int64_t> prefill_then_decode(int64_t n, int64_t k) {
  std::vector<int64_t> c;
  if (k > 0) c.push_back(k);
  for (int64_t i = k; i < n; ++i) c.push_back(1);
  return c;
}

inline std::unique_ptr<Model> make_model(const std::string& dir, AttnMode a, MlaMode m, int64_t ctx = 256,
                                         int threads = 2) {
  static std::map<std::string, std::shared_ptr<const ModelWeights>> cache;
  auto& w = cache[dir];
  if (!w) w = load_weights(dir);
  return std::make_unique<Model>(w, ModelOptions{a, m, ctx, threads});
}

struct Diff {
  double max_abs = 0, rms_ref = 0;
  int64_t worst = -1;
  double rel() const { return rms_ref > 0 ? max_abs / rms_ref : max_abs; }
};

inline Diff diff(const std::vector<float>& a, const std::vector<float>& b, int64_t begin = 0, int64_t end = -1) {
  Diff d;
  if (end < 0) end = int64_t(a.size());
  double ss = 0;
  for (int64_t i = begin; i < end; ++i) {
    double e = std::fabs(double(a[i]) - double(b[i]));
    if (!(e <= d.max_abs)) { d.max_abs = e; d.worst = i; }
    ss += double(a[i]) * a[i];
  }
  d.rms_ref = std::sqrt(ss / double(std::max<int64_t>(1, end - begin)));
  return d;
}

// Tolerance for two fp32 computations of the same logits that differ only in association order
// (naive vs absorbed MLA). Each reordered reduction of length K perturbs its result by about
// sqrt(K)·u relative (u = 2^-24, random-walk rounding), and a perturbation entering layer l is
// carried through the remaining layers' normalised residual stream without systematic growth, so
// the logits' max deviation is bounded by C·u·sqrt(K_max)·L·rms(logits), where K_max is the
// longest reduction (hidden size for the head, context length for attention), L the number of
// layers and C = 64 covers the max over ~10^7 logits (a ~5-sigma tail) and the softmax's
// condition number for moderate scores.
inline double fp32_reorder_tolerance(const ModelConfig& c, int64_t ctx) {
  const double u = std::ldexp(1.0, -24);
  const double kmax = double(std::max<int64_t>({c.hidden_size, ctx, c.kv_lora_rank, c.q_lora_rank}));
  return 64.0 * u * std::sqrt(kmax) * double(c.n_layers);
}

}  // namespace dsv32::testing
