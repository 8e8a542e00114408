// bench_ops: every CPU op in kernels/cpu at tiny, small and real V3.2 shapes (Google Benchmark).
//
//   build-bench/bin/bench_ops                                  # default run, ~2–3 min on 2 cores
//   build-bench/bin/bench_ops --benchmark_filter='v32'         # one preset
//   build-bench/bin/bench_ops --full                           # + long contexts, M=512, lm_head
//   build-bench/bin/bench_ops --benchmark_out=ops.json --benchmark_out_format=json
//   extra flags (ours, stripped before Google Benchmark sees argv):
//     --threads=T    ThreadPool size for the threaded ops (default: all hardware threads)
//     --full         register the big cases too (see Shapes::ctx_full and kFullRows)
//     --probe_mib=N  bandwidth-probe buffer in MiB (default 1024; less when memory is short)
//
// Names: BM_<op>/<impl>/<dtype>/<preset>_<shape tokens>, e.g. BM_linear/cpu/f8/v32_q_b_M1,
// BM_attn_sparse/mla_absorbed/f32/v32_ctx8192_k2048. Counters (all rates, per second of real time):
// GFLOPS, GBps, pct_peak_flops, pct_peak_bw (against the peaks below for the op's thread count),
// op_threads, plus bytes_per_second / items_per_second. Context: peak_gflops, peak_gbps (all threads),
// peak_gflops_1t, peak_gbps_1t, threads, git_commit.
//
// What is timed mirrors how model/model.cpp calls each op during one forward call:
//   linear            threaded over the pool (weight rows split), M tokens; BM_linear/cpu_bf16/...
//                     the bf16 profile's GEMM (kernels/cpu/linear_bf16.h) on the same cases
//   attention         one decode query, all H heads split over the pool (model: parallel over S·H);
//                     BM_attn_prefill_*: a 32-token prefill chunk at depth through attend_queries
//   indexer, top-k    one query on ONE thread (model: parallel over queries, so decode uses one);
//                     BM_indexer_prefill: the 32-token chunk's scores, per query vs blocks of 8
//   norms, rope, hadamard, moe_route: single-threaded, as in the model
//   moe_experts       M tokens routed (random router logits) through K experts + the shared one
// Bytes are compulsory traffic: each weight / cache byte once plus activations in and out. For
// absorbed MLA the latent cache is shared by all heads, so it counts once. pct_peak_bw compares
// with the DRAM read probe, so an op whose working set stays in L1/L2 (RoPE, small norms) can pass
// 100; for the big weight- and cache-streaming ops it is the figure that matters.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "reports/provenance.h"
#include "bench/bench_util.h"
#include "bench/op_cases.h"
#include "bench/peak.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/hadamard.h"
#include "kernels/cpu/indexer.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/linear_bf16.h"
#include "kernels/cpu/moe_route.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/threadpool.h"

namespace dsv32::bench {
namespace {

using benchmark::State;

ThreadPool* g_pool = nullptr;
int g_threads = 1;
bool g_full = false;

// Buffer slots for fbuf().
enum Slot { kX, kY, kQ, kW, kCache, kV, kOut, kScores, kLogits, kBias, kG, kU, kXg, kYg };

constexpr int64_t kRows[] = {1, 64};   // tokens: decode, a prefill chunk
constexpr int64_t kLinearDecodeRows[] = {2, 4};  // linear only: multi-token decode (MTP, small batches)
constexpr int64_t kLinearPrefillRows[] = {16};   // linear only: the smallest GEMM-path prefill
constexpr int64_t kFullRows[] = {512};  // --full adds pp512-sized GEMMs
constexpr int64_t kNaiveCacheCap = int64_t(4) << 30;  // skip naive caches beyond 4 GiB

template <class F>
benchmark::internal::Benchmark* reg(const std::string& name, F&& fn) {
  return benchmark::RegisterBenchmark(name.c_str(), std::forward<F>(fn))
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

// ---------------------------------------------------------------- linear (GEMM / GEMV)
// y[M, N] = x[M, K]·Wᵀ; FLOPs and bytes from the op contract (bench/op_cases.h LinearCase).
// bf16: the bf16 GEMM of the bf16 numerics profile (kernels/cpu/linear_bf16.h, vdpbf16ps where the
// CPU has it); pct_peak_flops is still against the fp32 FMA peak (a vdpbf16ps does 32 MACs per
// 512-bit instruction to an FMA's 16, so it can pass 100).
void bm_linear(State& st, const cases::LinearCase& c, const std::string& tag, bool bf16 = false) {
  make_room(tag, c.N * c.K * dtype_size(c.dtype));
  const Weight& w = weight(c.dtype, c.N, c.K);
  float* x = fbuf(kX, c.M * c.K);
  float* y = fbuf(kY, c.M * c.N);
  for (auto _ : st) {
    if (bf16) linear_bf16(*g_pool, x, c.M, c.K, w, y, c.N);
    else linear(*g_pool, x, c.M, w, y);
    benchmark::ClobberMemory();
  }
  report(st, c.flops(), c.bytes(), double(c.M), g_threads);
}

void register_linear(const Shapes& s) {
  std::vector<int64_t> rows(std::begin(kRows), std::end(kRows));
  rows.insert(rows.begin() + 1, std::begin(kLinearDecodeRows), std::end(kLinearDecodeRows));
  rows.insert(rows.end() - 1, std::begin(kLinearPrefillRows), std::end(kLinearPrefillRows));
  if (g_full) rows.insert(rows.end(), std::begin(kFullRows), std::end(kFullRows));
  for (const cases::LinearMat& m : cases::linear_mats(s)) {
    if (m.full_only && !g_full) continue;
    for (DType dt : {DType::F8_E4M3, DType::BF16, DType::F16, DType::F32}) {
      if (dt != DType::F8_E4M3 && !m.dtype_sweep) continue;
      for (int64_t M : rows) {
        std::string name = std::string("BM_linear/cpu/") + dtype_token(dt) + "/" + s.name + "_" +
                           m.name + "_M" + std::to_string(M);
        reg(name, [=](State& st) { bm_linear(st, {dt, M, m.N, m.K}, name); });
        if (dt == DType::F32 || dt == DType::F16) continue;  // the bf16 GEMM takes F8 and BF16 weights
        const std::string bname = std::string("BM_linear/cpu_bf16/") + dtype_token(dt) + "/" + s.name + "_" +
                                  m.name + "_M" + std::to_string(M);
        reg(bname, [=](State& st) { bm_linear(st, {dt, M, m.N, m.K}, bname, true); });
      }
    }
  }
  // The router GEMM keeps its checkpoint dtype (BF16 in DeepSeek's FP8 release).
  for (int64_t M : rows) {
    std::string name = std::string("BM_linear/cpu/bf16/") + s.name + "_router_M" + std::to_string(M);
    reg(name, [=](State& st) { bm_linear(st, {DType::BF16, M, s.E, s.D}, name); });
  }
}

// ---------------------------------------------------------------- MLA attention core (decode)
// One query token, H heads in parallel. n = ctx (dense) or min(topk, ctx) sorted random positions
// (sparse). Naive: per-head K [ctx, H, d_qk] and V [ctx, H, d_v]; absorbed: latent rows
// [ctx, r_kv + d_r] shared by every head, q [H, r_kv + d_r], out [H, r_kv].
// FLOPs = H·n·(2·d_k + 2·d_v + 4)  (q·k, p·v, and exp/max/sum per score).
void bm_attn(State& st, const Shapes& s, bool sparse, bool absorbed, int64_t ctx) {
  const int64_t H = s.H, n = sparse ? std::min(s.topk, ctx) : ctx;
  const int64_t dk = absorbed ? s.lat() : s.dqk(), dv = absorbed ? s.rkv : s.dv;
  const float* keys;
  const float* vals;
  AttendParams ap;
  ap.scale = float(1.0 / std::sqrt(double(s.dqk())));
  ap.d_k = dk;
  ap.d_v = dv;
  int64_t key_head = 0, val_head = 0;
  double bytes;
  if (absorbed) {
    keys = vals = fbuf(kCache, ctx * s.lat());
    ap.key_stride = ap.value_stride = s.lat();
    bytes = 4.0 * n * s.lat();
  } else {
    keys = fbuf(kCache, ctx * H * s.dqk());
    vals = fbuf(kV, ctx * H * s.dv);
    ap.key_stride = H * s.dqk();
    ap.value_stride = H * s.dv;
    key_head = s.dqk();
    val_head = s.dv;
    bytes = 4.0 * n * H * (s.dqk() + s.dv);
  }
  const float* q = fbuf(kQ, H * dk);
  float* out = fbuf(kOut, H * dv);
  std::vector<int32_t> index;
  if (sparse) {  // a sorted random n-subset of [0, ctx), like the indexer's top-k
    std::vector<int32_t> all(ctx);
    for (int64_t i = 0; i < ctx; ++i) all[i] = int32_t(i);
    Rng r(ctx);
    for (int64_t i = 0; i < n; ++i) std::swap(all[i], all[i + int64_t(r.next() % uint64_t(ctx - i))]);
    index.assign(all.begin(), all.begin() + n);
    std::sort(index.begin(), index.end());
    bytes += 4.0 * n;
  }
  std::vector<std::vector<float>> probs(g_pool->size(), std::vector<float>(n));
  const int32_t* idx = sparse ? index.data() : nullptr;
  for (auto _ : st) {
    g_pool->parallel_for(H, [&](int64_t h0, int64_t h1, int t) {
      for (int64_t h = h0; h < h1; ++h)
        attend(ap, q + h * dk, keys + h * key_head, vals + h * val_head, idx, n, probs[t].data(),
               out + h * dv);
    });
    benchmark::ClobberMemory();
  }
  bytes += 4.0 * H * (dk + dv);
  report(st, double(H) * n * (2.0 * dk + 2.0 * dv + 4.0), bytes, double(H * n), g_threads);
}

// ---------------------------------------------------------------- MLA attention core (prefill)
// S = kPrefillQueries tokens at positions ctx - S .. ctx - 1 (the last chunk of a prefill at depth),
// H heads, through attend_queries as model/cpu_ops.cpp calls it: impl "blocked" (attend_rows
// tiles) or "per_query" (attend()/attend_mqa() query by query, the loop the model ran before).
// Dense: token s attends to [0, ctx - S + s + 1); sparse: to a sorted random min(topk, that)-subset.
// FLOPs = Σ_s H·n_s·(2·d_k + 2·d_v + 4); bytes: the visible cache once, q and out.
constexpr int64_t kPrefillQueries = 32;
void bm_attn_prefill(State& st, const Shapes& s, bool sparse, bool absorbed, int64_t ctx, bool per_query) {
  const int64_t H = s.H, S = kPrefillQueries, P = ctx - S;
  AttendBatch b;
  b.p.scale = float(1.0 / std::sqrt(double(s.dqk())));
  b.p.d_k = absorbed ? s.lat() : s.dqk();
  b.p.d_v = absorbed ? s.rkv : s.dv;
  b.heads = H, b.mqa = absorbed, b.S = S, b.P = P, b.per_query = per_query;
  const float *keys, *vals;
  double bytes;
  if (absorbed) {
    keys = vals = fbuf(kCache, ctx * s.lat());
    b.p.key_stride = b.p.value_stride = s.lat();
    bytes = 4.0 * ctx * s.lat();
  } else {
    keys = fbuf(kCache, ctx * H * s.dqk());
    vals = fbuf(kV, ctx * H * s.dv);
    b.p.key_stride = H * s.dqk(), b.p.value_stride = H * s.dv;
    b.key_head = s.dqk(), b.value_head = s.dv;
    bytes = 4.0 * ctx * H * (s.dqk() + s.dv);
  }
  std::vector<int32_t> index, count(S);
  double visited = 0;
  if (sparse) {
    b.index_stride = s.topk;
    index.assign(S * s.topk, 0);
    Rng r(ctx);
    std::vector<int32_t> all;
    for (int64_t t = 0; t < S; ++t) {
      const int64_t vis = P + t + 1, n = std::min(s.topk, vis);
      all.resize(vis);
      for (int64_t i = 0; i < vis; ++i) all[i] = int32_t(i);
      for (int64_t i = 0; i < n; ++i) std::swap(all[i], all[i + int64_t(r.next() % uint64_t(vis - i))]);
      std::sort(all.begin(), all.begin() + n);
      std::copy(all.begin(), all.begin() + n, index.begin() + t * s.topk);
      count[t] = int32_t(n);
      visited += double(n);
    }
    b.index = index.data(), b.count = count.data();
    bytes += 4.0 * visited;
  } else {
    for (int64_t t = 0; t < S; ++t) visited += double(P + t + 1);
  }
  const float* q = fbuf(kQ, S * H * b.p.d_k);
  float* out = fbuf(kOut, S * H * b.p.d_v);
  const int64_t floats = kAttendMaxRows * (ctx + 1);
  std::vector<std::vector<float>> probs(g_pool->size(), std::vector<float>(floats));
  std::vector<float*> pp;
  for (auto& v : probs) pp.push_back(v.data());
  for (auto _ : st) {
    attend_queries(*g_pool, b, q, keys, vals, pp.data(), floats, out);
    benchmark::ClobberMemory();
  }
  bytes += 4.0 * S * H * (b.p.d_k + b.p.d_v);
  report(st, double(H) * visited * (2.0 * b.p.d_k + 2.0 * b.p.d_v + 4.0), bytes, double(S * H), g_threads);
}

void bm_indexer_prefill(State& st, const Shapes& s, int64_t ctx, bool per_query);  // below

void register_attention_prefill(const Shapes& s) {
  const int64_t ctx = 4096;  // the "ctx >= 4096" prefill case, every preset
  const std::string c = s.name + "_ctx" + std::to_string(ctx) + "_S" + std::to_string(kPrefillQueries);
  for (bool per_query : {false, true})
    reg(std::string("BM_indexer_prefill/") + (per_query ? "per_query" : "blocked") + "/f32/" + c,
        [=](State& st) { bm_indexer_prefill(st, s, ctx, per_query); });
  for (bool absorbed : {false, true}) {
    if (!absorbed && 4 * ctx * s.H * (s.dqk() + s.dv) > kNaiveCacheCap) continue;
    const std::string impl = absorbed ? "mla_absorbed" : "mla_naive";
    for (bool per_query : {false, true}) {
      const std::string variant = per_query ? "/per_query/f32/" : "/blocked/f32/";
      reg("BM_attn_prefill_dense/" + impl + variant + c,
          [=](State& st) { bm_attn_prefill(st, s, false, absorbed, ctx, per_query); });
      reg("BM_attn_prefill_sparse/" + impl + variant + c + "_k" + std::to_string(s.topk),
          [=](State& st) { bm_attn_prefill(st, s, true, absorbed, ctx, per_query); });
    }
  }
}

// ---------------------------------------------------------------- indexer scores and top-k
// scores[u] = Σ_j w[j]·ReLU(q[j]·k(u)), u < ctx; FLOPs ctx·H_I·(2·d_I + 2); bytes keys + scores.
void bm_indexer_scores(State& st, const Shapes& s, int64_t ctx) {
  const IndexerParams ip{s.HI, s.dI, s.topk};
  const float* q = fbuf(kQ, s.HI * s.dI);
  const float* w = fbuf(kW, s.HI);
  const float* keys = fbuf(kCache, ctx * s.dI);
  float* scores = fbuf(kScores, ctx);
  for (auto _ : st) {
    indexer_scores(ip, q, w, keys, ctx, scores);
    benchmark::ClobberMemory();
  }
  report(st, double(ctx) * s.HI * (2.0 * s.dI + 2.0), 4.0 * (ctx * s.dI + ctx + s.HI * (s.dI + 1)),
         double(ctx), 1);
}

// Prefill: kPrefillQueries tokens at positions ctx - S .. ctx - 1, token s over [0, ctx - S + s + 1):
// impl "per_query" = indexer_scores token by token (the model's loop before), "blocked" =
// indexer_scores_rows over blocks of 8 tokens (model/cpu_ops.cpp), on ONE thread.
void bm_indexer_prefill(State& st, const Shapes& s, int64_t ctx, bool per_query) {
  const IndexerParams ip{s.HI, s.dI, s.topk};
  const int64_t S = kPrefillQueries, P = ctx - S, rows = 8;
  const float* q = fbuf(kQ, S * s.HI * s.dI);
  const float* w = fbuf(kW, S * s.HI);
  const float* keys = fbuf(kCache, ctx * s.dI);
  float* scores = fbuf(kScores, S * ctx);
  double visited = 0;
  for (int64_t t = 0; t < S; ++t) visited += double(P + t + 1);
  for (auto _ : st) {
    if (per_query)
      for (int64_t t = 0; t < S; ++t) indexer_scores(ip, q + t * s.HI * s.dI, w + t * s.HI, keys, P + t + 1, scores + t * ctx);
    else
      for (int64_t t0 = 0; t0 < S; t0 += rows)
        indexer_scores_rows(ip, std::min(rows, S - t0), q + t0 * s.HI * s.dI, s.HI * s.dI, w + t0 * s.HI, s.HI, keys,
                            P + std::min(S, t0 + rows), scores + t0 * ctx, ctx);
    benchmark::ClobberMemory();
  }
  report(st, visited * s.HI * (2.0 * s.dI + 2.0), 4.0 * (ctx * s.dI + visited + S * s.HI * (s.dI + 1)), double(S), 1);
}

// Top-k of ctx scores: no FLOPs to speak of; bytes = scores read + k positions written.
void bm_indexer_topk(State& st, const Shapes& s, int64_t ctx) {
  const float* scores = fbuf(kScores, ctx);
  std::vector<int32_t> scratch(ctx), out(s.topk);
  for (auto _ : st) {
    benchmark::DoNotOptimize(indexer_topk(scores, ctx, s.topk, scratch.data(), out.data()));
    benchmark::ClobberMemory();
  }
  report(st, 0.0, 4.0 * (ctx + std::min(ctx, s.topk)), double(ctx), 1);
}

void register_attention(const Shapes& s) {
  std::vector<int64_t> ctxs = s.ctx;
  if (g_full) ctxs.insert(ctxs.end(), s.ctx_full.begin(), s.ctx_full.end());
  const std::string p = s.name;
  for (int64_t ctx : ctxs) {
    const std::string c = "_ctx" + std::to_string(ctx), k = "_k" + std::to_string(s.topk);
    for (bool absorbed : {false, true}) {
      if (!absorbed && 4 * ctx * s.H * (s.dqk() + s.dv) > kNaiveCacheCap) continue;
      const std::string impl = absorbed ? "mla_absorbed" : "mla_naive";
      reg("BM_attn_dense/" + impl + "/f32/" + p + c,
          [=](State& st) { bm_attn(st, s, false, absorbed, ctx); });
      reg("BM_attn_sparse/" + impl + "/f32/" + p + c + k,
          [=](State& st) { bm_attn(st, s, true, absorbed, ctx); });
    }
    reg("BM_indexer_scores/cpu/f32/" + p + c, [=](State& st) { bm_indexer_scores(st, s, ctx); });
    reg("BM_indexer_topk/cpu/f32/" + p + c + k, [=](State& st) { bm_indexer_topk(st, s, ctx); });
  }
}

// ---------------------------------------------------------------- norms, RoPE, Hadamard
// rmsnorm: FLOPs ≈ 4 per element (square-add, scale, weight); bytes x + y + w.
void bm_rmsnorm(State& st, int64_t M, int64_t d) {
  const float* x = fbuf(kX, M * d);
  const float* w = fbuf(kW, d);
  float* y = fbuf(kY, M * d);
  for (auto _ : st) {
    rmsnorm({M, d, 1e-6}, x, w, y);
    benchmark::ClobberMemory();
  }
  report(st, 4.0 * M * d, 4.0 * (2 * M * d + d), double(M), 1);
}

// layernorm (indexer key norm): FLOPs ≈ 8 per element (mean, variance, centre, scale, affine).
void bm_layernorm(State& st, int64_t M, int64_t d) {
  const float* x = fbuf(kX, M * d);
  const float* w = fbuf(kW, d);
  const float* b = fbuf(kBias, d);
  float* y = fbuf(kY, M * d);
  for (auto _ : st) {
    layernorm({M, d, 1e-6}, x, w, b, y);
    benchmark::ClobberMemory();
  }
  report(st, 8.0 * M * d, 4.0 * (2 * M * d + 2 * d), double(M), 1);
}

// rope_apply in place on [M, heads, d_r] with the V3.2 YaRN table (factor 40) at positions 4096+.
// FLOPs 3 per element (a pair costs 4 mul + 2 add); bytes x read + written + cos/sin rows.
void bm_rope(State& st, const Shapes& s, RopeLayout layout, int64_t M, int64_t heads,
             int64_t head_stride) {
  RopeParams rp;
  rp.dim = s.dr;
  rp.factor = 40;
  const int64_t pos0 = 4096;
  RopeTable table(rp, pos0 + M);
  float* x = fbuf(kQ, M * heads * head_stride);
  for (auto _ : st) {
    rope_apply(table, layout, x, M, heads * head_stride, heads, head_stride, pos0);
    benchmark::ClobberMemory();
  }
  report(st, 3.0 * M * heads * s.dr, 4.0 * (2 * M * heads * s.dr + M * s.dr), double(M), 1);
}

// hadamard_rotate on [count, n]: FLOPs n·log2(n) + n (butterflies + scale) per vector.
void bm_hadamard(State& st, int64_t count, int64_t n) {
  float* x = fbuf(kQ, count * n);
  for (auto _ : st) {
    hadamard_rotate(x, count, n);
    benchmark::ClobberMemory();
  }
  report(st, double(count) * n * (std::log2(double(n)) + 1), 8.0 * count * n, double(count), 1);
}

void register_elementwise(const Shapes& s) {
  const std::string p = s.name;
  for (int64_t M : kRows) {
    const std::string m = "_M" + std::to_string(M);
    struct Norm { const char* what; int64_t d; };
    for (Norm n : {Norm{"hidden", s.D}, Norm{"q_a", s.rq}, Norm{"kv_a", s.rkv}})
      reg("BM_rmsnorm/cpu/f32/" + p + "_" + n.what + "_D" + std::to_string(n.d) + m,
          [=](State& st) { bm_rmsnorm(st, M, n.d); });
    reg("BM_layernorm/cpu/f32/" + p + "_indexer_k_D" + std::to_string(s.dI) + m,
        [=](State& st) { bm_layernorm(st, M, s.dI); });
    reg("BM_rope/cpu/f32/" + p + "_q_interleaved_H" + std::to_string(s.H) + m,
        [=](State& st) { bm_rope(st, s, RopeLayout::kInterleaved, M, s.H, s.dqk()); });
    reg("BM_rope/cpu/f32/" + p + "_indexer_q_half_H" + std::to_string(s.HI) + m,
        [=](State& st) { bm_rope(st, s, RopeLayout::kHalf, M, s.HI, s.dI); });
    reg("BM_hadamard/cpu/f32/" + p + "_indexer_q_n" + std::to_string(s.dI) + "_H" +
            std::to_string(s.HI) + m,
        [=](State& st) { bm_hadamard(st, M * s.HI, s.dI); });
  }
}

// ---------------------------------------------------------------- MoE routing and experts
MoeRouteParams route_params(const Shapes& s) {
  return {int(s.E), s.n_group, s.topk_group, int(s.K), true, true, 2.5};
}

// moe_route per token over [M, E] logits: FLOPs ≈ 6 per expert (sigmoid, bias, group sums);
// bytes logits read + select written + K ids and weights.
void bm_moe_route(State& st, const Shapes& s, int64_t M) {
  const MoeRouteParams rp = route_params(s);
  const float* logits = fbuf(kLogits, M * s.E, 3.f);
  const float* bias = fbuf(kBias, s.E, 0.05f);
  std::vector<int32_t> ids(M * s.K);
  std::vector<float> wts(M * s.K), sel(M * s.E);
  for (auto _ : st) {
    for (int64_t m = 0; m < M; ++m)
      moe_route(rp, logits + m * s.E, bias, &ids[m * s.K], &wts[m * s.K], &sel[m * s.E]);
    benchmark::ClobberMemory();
  }
  report(st, 6.0 * M * s.E, 4.0 * M * (2 * s.E + 2 * s.K) + 4.0 * s.E, double(M), 1);
}

// The routed experts + shared expert for M tokens, FP8 weights: route (random logits), group
// rows by expert, per expert gate/up GEMMs, SiLU·up, down GEMM, weighted scatter-add — the work of
// model/ffn.cpp. FLOPs 6·D·I per (row, expert); bytes = the touched experts' weights + x + y.
void bm_moe_experts(State& st, const Shapes& s, int64_t M, const std::string& tag) {
  const int64_t D = s.D, I = s.I_moe, K = s.K;
  const MoeRouteParams rp = route_params(s);
  const float* logits = fbuf(kLogits, M * s.E, 3.f);
  std::vector<int32_t> ids(M * K);
  std::vector<float> wts(M * K), sel(s.E);
  for (int64_t m = 0; m < M; ++m) moe_route(rp, logits + m * s.E, nullptr, &ids[m * K], &wts[m * K], sel.data());
  std::vector<std::vector<int64_t>> rows(s.E);  // slots (m·K + k) per expert
  for (int64_t i = 0; i < M * K; ++i) rows[ids[i]].push_back(i);
  int64_t touched = 0;
  for (auto& r : rows) touched += !r.empty();
  const int64_t per_expert = 3 * (I * D + ((I + 127) / 128) * ((D + 127) / 128) * 4);  // FP8 + scales
  make_room(tag, per_expert * (touched + 1));
  struct Mlp { Weight gate, up, down; };
  std::vector<Mlp> mlp(s.E + 1);  // index E: the shared expert
  for (int64_t e = 0; e <= s.E; ++e)
    if (e == s.E || !rows[e].empty())
      mlp[e] = {weight(DType::F8_E4M3, I, D, int(3 * e)), weight(DType::F8_E4M3, I, D, int(3 * e + 1)),
                weight(DType::F8_E4M3, D, I, int(3 * e + 2))};
  const float* x = fbuf(kX, M * D);
  float* y = fbuf(kY, M * D);
  float* g = fbuf(kG, M * K * I);
  float* u = fbuf(kU, M * K * I);
  float* xg = fbuf(kXg, M * K * D);
  float* yg = fbuf(kYg, M * K * D);
  auto swiglu = [&](const Mlp& w, const float* in, int64_t n, float* out) {
    linear(*g_pool, in, n, w.gate, g);
    linear(*g_pool, in, n, w.up, u);
    for (int64_t i = 0; i < n * I; ++i) g[i] = g[i] / (1.f + std::exp(-g[i])) * u[i];
    linear(*g_pool, g, n, w.down, out);
  };
  for (auto _ : st) {
    swiglu(mlp[s.E], x, M, y);
    for (int64_t e = 0; e < s.E; ++e) {
      const auto& r = rows[e];
      if (r.empty()) continue;
      for (size_t j = 0; j < r.size(); ++j) std::memcpy(xg + j * D, x + (r[j] / K) * D, D * 4);
      swiglu(mlp[e], xg, int64_t(r.size()), yg);
      for (size_t j = 0; j < r.size(); ++j) {
        const float wgt = wts[r[j]];
        float* dst = y + (r[j] / K) * D;
        for (int64_t d = 0; d < D; ++d) dst[d] += wgt * yg[j * D + d];
      }
    }
    benchmark::ClobberMemory();
  }
  const double row_experts = double(M * K + M);
  report(st, row_experts * 6.0 * D * I, double(per_expert) * (touched + 1) + 8.0 * M * D, double(M),
         g_threads);
  st.counters["experts_touched"] = benchmark::Counter(double(touched));
}

void register_moe(const Shapes& s) {
  const std::string p = s.name;
  for (int64_t M : kRows) {
    const std::string m = "_M" + std::to_string(M);
    reg("BM_moe_route/cpu/f32/" + p + "_E" + std::to_string(s.E) + m,
        [=](State& st) { bm_moe_route(st, s, M); });
    // v32 with M=64 would touch all 256 experts (11 GB of FP8 weights): decode only there.
    if (M > 1 && s.E * 3 * s.I_moe * s.D > (int64_t(1) << 30)) continue;
    const std::string name = "BM_moe_experts/cpu/f8/" + p + "_E" + std::to_string(s.E) + "_K" +
                             std::to_string(s.K) + "_I" + std::to_string(s.I_moe) + m;
    reg(name, [=](State& st) { bm_moe_experts(st, s, M, name); });
  }
}


}  // namespace
}  // namespace dsv32::bench

int main(int argc, char** argv) {
  using namespace dsv32::bench;
  int threads = int(std::max(1u, std::thread::hardware_concurrency()));
  int64_t probe_bytes = default_probe_bytes();
  bool help = false;
  // Take our flags out of argv; Google Benchmark rejects what it does not know. A short default
  // --benchmark_min_time goes first (a later one on the command line wins) rather than MinTime()
  // per benchmark, which would append "/min_time:0.050" to every name.
  std::vector<char*> args = {argv[0], const_cast<char*>("--benchmark_min_time=0.05")};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0) threads = std::max(1, std::atoi(a.c_str() + 10));
    else if (a == "--full") g_full = true;
    else if (a.rfind("--probe_mib=", 0) == 0) probe_bytes = std::max<int64_t>(1, std::atoll(a.c_str() + 12)) << 20;
    else {
      if (a == "--help" || a == "-h") help = true;
      args.push_back(argv[i]);
    }
  }
  argc = int(args.size());
  args.push_back(nullptr);
  argv = args.data();
  if (help)
    std::printf("bench_ops flags: --threads=T (default %d)  --full (long contexts, M=512, lm_head)  "
                "--probe_mib=N (bandwidth probe buffer)\n\n", threads);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  Peaks& pk = peaks();
  pk.threads = threads;
  pk.gflops_1t = fma_peak_gflops(1);
  pk.gflops_all = threads > 1 ? fma_peak_gflops(threads) : pk.gflops_1t;
  pk.gbps_1t = read_peak_gbps(1, probe_bytes);
  pk.gbps_all = threads > 1 ? read_peak_gbps(threads, probe_bytes) : pk.gbps_1t;
  std::fprintf(stderr, "peaks: FMA %.1f GFLOP/s (%d threads), %.1f (1 thread); read %.1f GB/s "
               "(%d threads), %.1f (1 thread); probe buffer %lld MiB\n", pk.gflops_all, threads,
               pk.gflops_1t, pk.gbps_all, threads, pk.gbps_1t, (long long)(probe_bytes >> 20));
  auto fmt = [](double v) { char b[32]; std::snprintf(b, sizeof b, "%.2f", v); return std::string(b); };
  benchmark::AddCustomContext("peak_gflops", fmt(pk.gflops_all));
  benchmark::AddCustomContext("peak_gbps", fmt(pk.gbps_all));
  benchmark::AddCustomContext("peak_gflops_1t", fmt(pk.gflops_1t));
  benchmark::AddCustomContext("peak_gbps_1t", fmt(pk.gbps_1t));
  benchmark::AddCustomContext("threads", std::to_string(threads));
  benchmark::AddCustomContext("probe_bytes", std::to_string(probe_bytes));
  benchmark::AddCustomContext("git_commit", dsv32::reports::git_commit());
  benchmark::AddCustomContext("full", g_full ? "true" : "false");

  dsv32::ThreadPool pool(threads);
  g_pool = &pool;
  g_threads = threads;
  for (const Shapes& s : presets()) {
    register_linear(s);
    register_attention(s);
    register_attention_prefill(s);
    register_elementwise(s);
    register_moe(s);
  }
  benchmark::RunSpecifiedBenchmarks();
  // Drift check on a shared machine: the peaks again, after the run (stderr only; the JSON context
  // was written before the run started).
  std::fprintf(stderr, "peaks after the run: FMA %.1f GFLOP/s (%d threads), read %.1f GB/s\n",
               fma_peak_gflops(threads), threads, read_peak_gbps(threads, probe_bytes));
  benchmark::Shutdown();
  return 0;
}
