// Synthetic activation dumps for the verify tests: a tiny sparse-attention MoE "run" with every
// schema tensor (random values, but top-k sets and expert ids consistent with their scores),
// written through DumpWriter as a prefill call followed by decode calls. Tests perturb the arrays
// before writing to plant bugs.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "verify/dump.h"

namespace dsv32::test {

struct SynthTensor {
  std::vector<int64_t> row_shape;   // shape without the row dimension
  std::vector<float> f;             // [n * row] floats, or
  std::vector<int32_t> i;           // [n * row] indices
  bool ragged = false;              // indexer_scores: row t has t+1 visible columns (of n)
  int64_t row() const {
    int64_t r = 1;
    for (auto d : row_shape) r *= d;
    return r;
  }
};

struct SynthRun {
  // Sizes (also written into config_json).
  int64_t n = 6, D = 16, H = 2, dn = 4, dr = 4, dv = 4, rq = 8, rkv = 8, HI = 2, dI = 4, topk = 4;
  int64_t E = 8, K = 2, vocab = 32, layers = 3, prefill = 4;
  int64_t n_group = 1;                         // written into config_json when > 1 (group-limited routing)
  std::string config_extra;                    // raw `,"key":value` members appended to config_json
  std::string numerics = "fp32";               // /meta numerics ("ref1": bf16 values, see round_bf16)
  std::vector<std::string> order;              // forward order of names
  std::map<std::string, SynthTensor> t;

  std::string config_json() const {
    char b[512];
    std::snprintf(b, sizeof b,
                  "{\"hidden_size\":%ld,\"num_attention_heads\":%ld,\"qk_nope_head_dim\":%ld,"
                  "\"qk_rope_head_dim\":%ld,\"v_head_dim\":%ld,\"q_lora_rank\":%ld,\"kv_lora_rank\":%ld,"
                  "\"index_n_heads\":%ld,\"index_head_dim\":%ld,\"index_topk\":%ld,\"n_routed_experts\":%ld,"
                  "\"num_experts_per_tok\":%ld,\"vocab_size\":%ld,\"num_hidden_layers\":%ld,"
                  "\"intermediate_size\":32,\"moe_intermediate_size\":8}",
                  long(D), long(H), long(dn), long(dr), long(dv), long(rq), long(rkv), long(HI), long(dI),
                  long(topk), long(E), long(K), long(vocab), long(layers));
    std::string j = b;
    if (n_group > 1) j.insert(j.size() - 1, ",\"n_group\":" + std::to_string(n_group));
    j.insert(j.size() - 1, config_extra);
    return j;
  }

  explicit SynthRun(uint32_t seed = 1) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> N01(0.f, 1.f);
    auto add_f = [&](const std::string& name, std::vector<int64_t> rs) {
      SynthTensor s;
      s.row_shape = rs;
      s.f.resize(size_t(n * s.row()));
      for (auto& v : s.f) v = N01(rng);
      order.push_back(name);
      return &(t[name] = s);
    };
    const float ninf = -std::numeric_limits<float>::infinity();
    add_f("embed", {D});
    for (int64_t l = 0; l < layers; ++l) {
      char pre[32];
      std::snprintf(pre, sizeof pre, "layers/%02ld/", long(l));
      std::string p = pre;
      add_f(p + "attn_norm", {D});
      add_f(p + "q_latent", {rq});
      add_f(p + "q_nope", {H, dn});
      add_f(p + "q_rope", {H, dr});
      add_f(p + "kv_latent", {rkv});
      add_f(p + "k_rope", {dr});
      add_f(p + "indexer_q", {HI, dI});
      add_f(p + "indexer_k", {dI});
      add_f(p + "indexer_weights", {HI});
      SynthTensor* sc = add_f(p + "indexer_scores", {n});
      sc->ragged = true;
      SynthTensor tk;
      tk.row_shape = {topk};
      for (int64_t r = 0; r < n; ++r) {
        float* row = sc->f.data() + r * n;
        for (int64_t u = r + 1; u < n; ++u) row[u] = ninf;
        std::vector<int32_t> idx(static_cast<size_t>(r + 1));
        std::iota(idx.begin(), idx.end(), 0);
        std::stable_sort(idx.begin(), idx.end(), [&](int32_t x, int32_t y) { return row[x] > row[y]; });
        idx.resize(size_t(std::min<int64_t>(topk, r + 1)));
        std::sort(idx.begin(), idx.end());
        idx.resize(size_t(topk), -1);
        tk.i.insert(tk.i.end(), idx.begin(), idx.end());
      }
      t[p + "indexer_topk"] = tk;
      order.push_back(p + "indexer_topk");
      add_f(p + "attn_out", {H, dv});
      add_f(p + "o_proj", {D});
      add_f(p + "ffn_norm", {D});
      add_f(p + "router_logits", {E});
      // Selection scores: a shuffled ladder with gaps of 1/E, so top-K is never close to a tie.
      SynthTensor* rsc = add_f(p + "router_scores", {E});
      SynthTensor ids;
      ids.row_shape = {K};
      for (int64_t r = 0; r < n; ++r) {
        float* row = rsc->f.data() + r * E;
        std::vector<int32_t> perm(static_cast<size_t>(E));
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        for (int64_t e = 0; e < E; ++e) row[e] = float(perm[size_t(e)]) / float(E);
        std::vector<int32_t> idx(static_cast<size_t>(E));
        std::iota(idx.begin(), idx.end(), 0);
        std::sort(idx.begin(), idx.end(), [&](int32_t x, int32_t y) { return row[x] > row[y]; });
        idx.resize(size_t(K));
        std::sort(idx.begin(), idx.end());
        ids.i.insert(ids.i.end(), idx.begin(), idx.end());
      }
      t[p + "expert_ids"] = ids;
      order.push_back(p + "expert_ids");
      add_f(p + "expert_weights", {K});
      add_f(p + "ffn_out", {D});
      add_f(p + "residual", {D});
    }
    add_f("final_norm", {D});
    add_f("logits", {vocab});
    for (auto& v : t["logits"].f) v *= 4;  // a peaked distribution
  }

  DumpMeta meta() const {
    DumpMeta m;
    m.producer = "test";
    m.version = "0";
    m.git_commit = "unknown";
    m.attn = "sparse";
    m.mla = "naive";
    m.numerics = numerics;
    m.config_json = config_json();
    for (int64_t i = 0; i < n; ++i) m.ids.push_back(100 + i);
    m.prefill = prefill;
    return m;
  }

  // Rounds every finite float to bf16 (nearest, ties to even) and marks the run `numerics ref1`,
  // as a REF-1 dump stores its rounding points' values.
  void round_bf16() {
    numerics = "ref1";
    for (auto& [name, s] : t)
      for (auto& v : s.f) v = bf16_round(v);
  }
  static float bf16_round(float v) {
    if (!std::isfinite(v)) return v;
    uint32_t u;
    std::memcpy(&u, &v, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    std::memcpy(&v, &u, 4);
    return v;
  }
  // The next bf16 value away from zero (one bf16 ulp).
  static float bf16_up(float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    u += 0x10000u;
    std::memcpy(&v, &u, 4);
    return v;
  }

  // One forward call's events for rows [pos0, pos0+rows).
  void emit_call(DumpWriter& w, int64_t pos0, int64_t rows) const {
    for (auto& name : order) {
      const SynthTensor& s = t.at(name);
      TensorEvent e;
      e.name = name;
      e.layer = name.rfind("layers/", 0) == 0 ? std::stoi(name.substr(7, 2)) : -1;
      e.pos0 = pos0;
      e.shape = {rows};
      std::vector<float> ragged;
      if (s.ragged) {
        const int64_t vis = pos0 + rows;  // keys visible to the last row of this call
        e.shape.push_back(vis);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t u = 0; u < vis; ++u) ragged.push_back(s.f[size_t((pos0 + r) * n + u)]);
        e.data = ragged.data();
        e.pad_to = TensorEvent::kPadToContext;
        e.pad_value = -std::numeric_limits<double>::infinity();
      } else {
        e.shape.insert(e.shape.end(), s.row_shape.begin(), s.row_shape.end());
        e.data = s.i.empty() ? static_cast<const void*>(s.f.data() + pos0 * s.row())
                             : static_cast<const void*>(s.i.data() + pos0 * s.row());
      }
      e.dtype = s.i.empty() ? DType::F32 : DType::I32;
      w.observe(e);
    }
  }

  // Prefill, then one call per remaining position.
  void write(const std::string& path, const DumpOptions& opt = {}) const {
    DumpWriter w(path, meta(), opt, n);
    emit_call(w, 0, prefill);
    for (int64_t p = prefill; p < n; ++p) emit_call(w, p, 1);
    w.close();
  }
};

inline std::string tmp_path(const std::string& name) {
  return std::string(::testing::TempDir()) + "dsv32_verify_" + name;
}

}  // namespace dsv32::test
