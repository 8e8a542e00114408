// Shared pieces of the op benchmarks: the shape presets, synthetic inputs and weights (built
// once and cached across Google Benchmark's repeated calls of a benchmark function), and the
// counters every benchmark reports against the peaks measured at startup (bench/peak.h).
#pragma once
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/linear.h"
#include "kernels/numeric.h"
#include "model/config.h"
#include "model/synth.h"

namespace dsv32::bench {

// The op-relevant hyper-parameters of the synth presets, read from the config.json each preset
// writes (model/synth.cpp is the one place they are spelled; "v32" is the real V3.2).
struct Shapes {
  std::string name;
  int64_t D, H, rq, rkv, dn, dr, dv;     // hidden, heads, q_lora, kv_lora, nope, rope, v
  int64_t E, I_moe, I_dense, K;          // routed experts, expert width, dense MLP width, top-K
  int n_group, topk_group;
  int64_t HI, dI, topk;                  // indexer heads, head dim, index_topk
  int64_t V;                             // vocabulary
  double s_att;                          // softmax scale (YaRN mscale² / √d_qk, MODEL §6.2)
  std::vector<int64_t> ctx, ctx_full;    // attention context lengths: default run / --full adds
  int64_t dqk() const { return dn + dr; }
  int64_t lat() const { return rkv + dr; }
};

inline Shapes preset_shapes(const std::string& preset, std::vector<int64_t> ctx, std::vector<int64_t> ctx_full) {
  SynthOptions o;
  o.preset = preset;
  const ModelConfig c = parse_config(synth_config_json(o), "synth preset " + preset);
  return {preset, c.hidden_size, c.n_heads, c.q_lora_rank, c.kv_lora_rank, c.qk_nope_head_dim,
          c.qk_rope_head_dim, c.v_head_dim, c.n_routed_experts, c.moe_intermediate_size, c.intermediate_size,
          c.n_experts_per_tok, c.n_group, c.topk_group, c.index_n_heads, c.index_head_dim, c.index_topk,
          c.vocab_size, c.softmax_scale(), std::move(ctx), std::move(ctx_full)};
}

inline const std::vector<Shapes>& presets() {
  static const std::vector<Shapes> p = {
      preset_shapes("tiny", {256, 2048}, {16384}),
      preset_shapes("small", {1024, 4096}, {16384, 65536}),
      preset_shapes("v32", {2048, 8192}, {32768, 131072}),
  };
  return p;
}

inline const Shapes& preset(const std::string& name) {
  for (const Shapes& s : presets())
    if (s.name == name) return s;
  throw std::runtime_error("bench: no preset " + name);
}

// ---- machine peaks (filled by main before any benchmark runs) ----
struct Peaks {
  double gflops_1t = 0, gflops_all = 0, gbps_1t = 0, gbps_all = 0;
  int threads = 1;
  double gflops(int t) const { return t > 1 ? gflops_all : gflops_1t; }
  double gbps(int t) const { return t > 1 ? gbps_all : gbps_1t; }
};
inline Peaks& peaks() {
  static Peaks p;
  return p;
}

// Sets the standard counters from per-iteration work: flops and bytes moved (compulsory traffic:
// every weight / cache byte the op must read once plus activations in and out), items (tokens,
// rows or positions, as the benchmark states), and the thread count the op ran on, which picks
// the peak it is compared with (1-thread peaks for ops the model calls per thread).
inline void report(benchmark::State& st, double flops, double bytes, double items, int threads) {
  using C = benchmark::Counter;
  const double it = double(st.iterations());
  const Peaks& pk = peaks();
  st.counters["GFLOPS"] = C(flops * it / 1e9, C::kIsRate);
  st.counters["GBps"] = C(bytes * it / 1e9, C::kIsRate);
  st.counters["pct_peak_flops"] = C(100.0 * flops * it / 1e9 / pk.gflops(threads), C::kIsRate);
  st.counters["pct_peak_bw"] = C(100.0 * bytes * it / 1e9 / pk.gbps(threads), C::kIsRate);
  st.counters["op_threads"] = C(threads);  // not "threads": that is a Google Benchmark field
  st.SetBytesProcessed(int64_t(bytes * it));
  st.SetItemsProcessed(int64_t(items * it));
}

// ---- synthetic data ----
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  float uniform() { return float(int64_t(next() >> 40) - (int64_t(1) << 23)) * 0x1.0p-23f; }  // [-1, 1)
};

inline void fill_uniform(float* p, int64_t n, uint64_t seed, float amp = 1.f) {
  Rng r(seed);
  for (int64_t i = 0; i < n; ++i) p[i] = amp * r.uniform();
}

// Float scratch buffers by slot, refilled with uniform values only when their size changes, so
// the repeated calls Google Benchmark makes of one benchmark do not redo the setup.
inline float* fbuf(int slot, int64_t n, float amp = 1.f) {
  static std::map<int, std::vector<float>> bufs;
  auto& b = bufs[slot];
  if (int64_t(b.size()) != n) {
    std::vector<float>().swap(b);
    b.resize(n);
    fill_uniform(b.data(), n, 77 + slot, amp);
  }
  return b.data();
}

// A weight owning its storage; values ~U(-1,1)/√K (F8: random finite codes, scale 1/(8·√K)).
struct OwnedWeight {
  std::vector<uint8_t> data;
  std::vector<float> scale;
  Weight w;
};

inline std::unique_ptr<OwnedWeight> make_weight(DType dt, int64_t N, int64_t K, uint64_t seed) {
  auto o = std::make_unique<OwnedWeight>();
  o->data.resize(N * K * dtype_size(dt));
  Rng r(seed);
  const float amp = float(1.0 / std::sqrt(double(K)));
  switch (dt) {
    case DType::F8_E4M3:
      for (auto& b : o->data) {
        b = uint8_t(r.next() >> 56);
        if ((b & 0x7f) == 0x7f) b = 0;  // 0x7f / 0xff are NaN
      }
      break;
    case DType::BF16: case DType::F16: {
      uint16_t* p = reinterpret_cast<uint16_t*>(o->data.data());
      for (int64_t i = 0; i < N * K; ++i)
        p[i] = dt == DType::BF16 ? f32_to_bf16(amp * r.uniform()) : f32_to_f16(amp * r.uniform());
      break;
    }
    default: fill_uniform(reinterpret_cast<float*>(o->data.data()), N * K, seed, amp); break;
  }
  Weight& w = o->w;
  w.dtype = dt;
  w.rows = N;
  w.cols = K;
  w.data = o->data.data();
  if (dt == DType::F8_E4M3) {
    w.block = 128;
    w.scale_cols = (K + 127) / 128;
    o->scale.assign(((N + 127) / 128) * w.scale_cols, amp / 8.f);
    w.scale = o->scale.data();
  }
  return o;
}

// Weights by (dtype, shape, id), cached. A benchmark first calls make_room(tag, bytes) with the
// bytes of all the weights it will take; the cache is emptied then (never in the middle of a
// benchmark, whose Weight views must stay valid) if holding them would pass 2 GiB.
struct WeightCache {
  std::map<std::string, std::unique_ptr<OwnedWeight>> map;
  int64_t held = 0;
  std::string tag;
};
inline WeightCache& weight_cache() {
  static WeightCache c;
  return c;
}
inline void make_room(const std::string& tag, int64_t bytes) {
  WeightCache& c = weight_cache();
  if (tag == c.tag) return;
  c.tag = tag;
  if (c.held + bytes > (int64_t(2) << 30)) {
    c.map.clear();
    c.held = 0;
  }
}
inline const Weight& weight(DType dt, int64_t N, int64_t K, int id = 0) {
  WeightCache& c = weight_cache();
  const std::string key = std::to_string(int(dt)) + ":" + std::to_string(N) + "x" +
                          std::to_string(K) + "#" + std::to_string(id);
  auto it = c.map.find(key);
  if (it != c.map.end()) return it->second->w;
  c.held += N * K * dtype_size(dt);
  auto& slot = c.map[key];
  slot = make_weight(dt, N, K, 1000 + N * 7 + K * 13 + id);
  return slot->w;
}

inline const char* dtype_token(DType dt) {
  switch (dt) {
    case DType::F8_E4M3: return "f8";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
    default: return "f32";
  }
}

}  // namespace dsv32::bench
