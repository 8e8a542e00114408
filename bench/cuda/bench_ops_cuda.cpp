// The kernels/cuda ops at the real DeepSeek V3.2 shapes (bench/bench_util.h preset "v32", MODEL §1):
// D 7168, H 128, d_nope 128, d_rope 64, r_q 1536, r_kv 512, d_v 128, H_I 64, d_I 128, top-k 2048,
// 256 experts (8 groups, 4 kept), K 8, I_moe 2048, vocab 129280.
//
// Names: BM_<op>/<impl>/<dtype>/v32_<shape tokens>, the CPU bench's tokens where it has the case
// (bench/bench_ops.cpp), so CPU, CUDA and bench/cuda/torch_peer.py ("torch" impl) line up.
// Every case: inputs filled on the device with random values (never zeros), L2 flushed before each
// timed call (cuda_bench_util.h), event time per call. Bytes are compulsory traffic: every weight,
// cache and input byte read once and every output byte written once, at the dtype the op takes
// (fp32 activations, the weight's storage dtype) — an op that re-reads or stages data through
// scratch (the F8 dequant tiles, absorbed attention's per-head re-reads of the latent cache) shows
// it as a lower fraction, not as more bytes. FLOP roofs: bf16 tensor cores for the GEMMs (the F8
// path dequantizes tiles to bf16 today), fp32 CUDA cores for everything else.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench/op_cases.h"
#include "bench/bench_util.h"
#include "bench/cuda/cuda_bench_util.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/moe_route.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/rope.h"
#include "kernels/cuda/topk.h"
#include "kernels/error.h"

namespace dsv32::cuda_bench {
namespace {

using benchmark::State;
using bench::Shapes;

const Shapes& v32() { return bench::preset("v32"); }

const double kAttnScale = v32().s_att;  // MODEL §1.2 s_att (YaRN mscale²/√d_qk)
const std::string kP = "v32";

std::string i2s(int64_t v) { return std::to_string(v); }

// ---------------------------------------------------------------- rmsnorm
// y[M, D] = w ⊙ x · rsqrt(mean(x²) + eps). Bytes x + y + w; FLOPs 4 per element.
void bm_rmsnorm(State& st, int64_t M, int64_t D) {
  gpu::DeviceArray<float> x(M * D), w(D), y(M * D);
  fill_uniform(x.get(), M * D, 1, 1.f);
  fill_uniform(w.get(), D, 2, 1.f);
  const NormParams p{M, D, 1e-6};
  const double s = time_loop(st, [&] { gpu::rmsnorm(context(), p, x.get(), w.get(), y.get()); });
  set_counters(st, 4.0 * (2 * M * D + D), 4.0 * M * D, s, Roof::kFp32);
}

// ---------------------------------------------------------------- rope
// In place on the d_r = 64 rope slice of each head of x [M, heads, head_stride] at positions
// 4096 + m (YaRN factor 40). Bytes: the slices read and written + one cos/sin row (d_r floats)
// per position; FLOPs 3 per element (4 mul + 2 add per pair).
void bm_rope(State& st, RopeLayout layout, int64_t M, int64_t heads, int64_t head_stride, int64_t offset) {
  const Shapes& s = v32();
  RopeParams rp;
  rp.dim = s.dr;
  rp.factor = 40;
  const int64_t pos0 = 4096;
  const RopeTable host_table(rp, pos0 + M);
  gpu::RopeTableDevice table(context(), host_table);
  gpu::DeviceArray<float> x(M * heads * head_stride);
  fill_uniform(x.get(), M * heads * head_stride, 3, 1.f);
  const double sec = time_loop(st, [&] {
    gpu::rope_apply(context(), table, layout, x.get() + offset, M, heads * head_stride, heads, head_stride, pos0);
  });
  set_counters(st, 4.0 * (2 * M * heads * s.dr + M * s.dr), 3.0 * M * heads * s.dr, sec, Roof::kFp32);
}

// ---------------------------------------------------------------- linear
// y[M, N] = x[M, K]·Wᵀ through gpu::linear's default path (BF16: cuBLAS bf16 → fp32 accumulate;
// F8: 128×128-block-scaled e4m3 dequantized tile-wise to bf16, then the same GEMM). x fp32 in,
// y fp32 out. Bytes W (+ F8 scales) + x + y; FLOPs 2·M·N·K.
void bm_linear(State& st, const cases::LinearCase& c) {
  const DType dt = c.dtype;
  const int64_t N = c.N, K = c.K, M = c.M;
  const int64_t sr = (N + 127) / 128, sc = (K + 127) / 128;
  gpu::DeviceArray<uint8_t> data(size_t(N * K * dtype_size(dt)));
  gpu::DeviceArray<float> scale(dt == DType::F8_E4M3 ? size_t(sr * sc) : 0), x(M * K), y(M * N);
  const float amp = float(1.0 / std::sqrt(double(K)));
  if (dt == DType::F8_E4M3) {
    fill_e4m3(data.get(), N * K, 4);
    fill_const(scale.get(), sr * sc, amp / 8.f);
  } else {
    fill_bf16(data.get(), N * K, 4, amp);
  }
  fill_uniform(x.get(), M * K, 5, 1.f);
  gpu::WeightDevice w;
  w.dtype = dt;
  w.rows = N;
  w.cols = K;
  w.data = data.get();
  if (dt == DType::F8_E4M3) {
    w.scale = scale.get();
    w.scale_cols = sc;
    w.block = 128;
  }
  const double s = time_loop(st, [&] { gpu::linear(context(), x.get(), M, w, y.get()); });
  set_counters(st, c.bytes(), c.flops(), s, Roof::kBf16);
}

// ---------------------------------------------------------------- absorbed MLA decode
// One token, H heads: q [H, r_kv + d_r], latent cache [ctx, r_kv + d_r] fp32 shared by all heads,
// out [H, r_kv]; n = ctx (dense) or the 2048 sorted random positions of an indexer top-k (sparse).
// Bytes: the n latent rows once (+ the index) + q + out; FLOPs H·n·(2·576 + 2·512 + 4).
void bm_attend_absorbed(State& st, int64_t ctx, bool sparse) {
  const Shapes& s = v32();
  const int64_t H = s.H, lat = s.lat(), n = sparse ? std::min(s.topk, ctx) : ctx;
  gpu::DeviceArray<float> q(H * lat), cache(ctx * lat), out(H * s.rkv);
  fill_uniform(q.get(), H * lat, 6, 1.f);
  fill_uniform(cache.get(), ctx * lat, 7, 1.f);
  gpu::DeviceArray<int32_t> index;
  if (sparse) {  // a sorted random n-subset of [0, ctx), like the indexer's top-k
    std::vector<int32_t> all(ctx);
    std::iota(all.begin(), all.end(), 0);
    std::mt19937_64 rng{uint64_t(ctx)};
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(n);
    std::sort(all.begin(), all.end());
    index = gpu::DeviceArray<int32_t>(context(), all);
  }
  const double sec = time_loop(st, [&] {
    gpu::attend_absorbed(context(), H, s.rkv, s.dr, float(kAttnScale), q.get(), cache.get(),
                         sparse ? index.get() : nullptr, n, out.get());
  });
  const double bytes = 4.0 * (n * lat + H * lat + H * s.rkv) + (sparse ? 4.0 * n : 0.0);
  set_counters(st, bytes, double(H) * n * (2.0 * lat + 2.0 * s.rkv + 4.0), sec, Roof::kFp32);
}

// ---------------------------------------------------------------- naive MLA prefill
// S tokens at positions 0..S−1, causal, per-head K [S, H, 192] and V [S, H, 128] (the naive cache
// layout), q [S, H, 192], out [S, H, 128]: gpu::attend with S·H queries, group = H (a token's
// heads share its causal length s + 1). Bytes q + K + V + out once; FLOPs Σ_s (s+1)·H·(2·192 +
// 2·128 + 4) = S(S+1)/2 · H · 644. !! The kernel's probability scratch is S·H·S fp32 (8.6 GB).
void bm_attend_prefill(State& st, int64_t S) {
  const Shapes& s = v32();
  const int64_t H = s.H, dk = s.dqk(), dv = s.dv;
  gpu::DeviceArray<float> q(S * H * dk), k(S * H * dk), v(S * H * dv), out(S * H * dv);
  fill_uniform(q.get(), S * H * dk, 8, 1.f);
  fill_uniform(k.get(), S * H * dk, 9, 1.f);
  fill_uniform(v.get(), S * H * dv, 10, 1.f);
  std::vector<int32_t> len(S);
  std::iota(len.begin(), len.end(), 1);
  gpu::DeviceArray<int32_t> lengths(context(), len);
  gpu::AttendBatchParams p = gpu::mha_params(H, dk, dv, float(kAttnScale));
  p.n_queries = S * H;
  TimingOptions opt = default_timing();
  opt.warmup_calls = 1;  // ~1 s per call
  const double sec = time_loop(st, [&] {
    gpu::attend(context(), p, q.get(), k.get(), v.get(), nullptr, lengths.get(), S, out.get());
  }, opt);
  const double pairs = double(S) * double(S + 1) / 2.0 * double(H);
  set_counters(st, 4.0 * S * H * (2 * dk + 2 * dv) + 4.0 * S, pairs * (2.0 * dk + 2.0 * dv + 4.0), sec,
               Roof::kFp32);
}

// ---------------------------------------------------------------- indexer scores
// scores[s, u] = Σ_j w[s, j]·ReLU(q[s, j]·k[u]) for S queries × n keys (no causal mask in the op:
// all S·n pairs are computed, and counted). q [S, 64, 128], w [S, 64], keys [n, 128], scores
// [S, n], all fp32. Bytes q + w + keys + scores once; FLOPs S·n·H_I·(2·d_I + 2).
void bm_indexer_scores(State& st, int64_t S, int64_t n) {
  const Shapes& s = v32();
  const IndexerParams ip{s.HI, s.dI, s.topk};
  gpu::DeviceArray<float> q(S * s.HI * s.dI), w(S * s.HI), keys(n * s.dI), scores(S * n);
  fill_uniform(q.get(), S * s.HI * s.dI, 11, 1.f);
  fill_uniform(w.get(), S * s.HI, 12, 1.f);
  fill_uniform(keys.get(), n * s.dI, 13, 1.f);
  const double sec = time_loop(st, [&] {
    gpu::indexer_scores(context(), ip, q.get(), w.get(), keys.get(), n, scores.get(), S);
  });
  const double bytes = 4.0 * (S * s.HI * (s.dI + 1) + n * s.dI + S * n);
  set_counters(st, bytes, double(S) * n * s.HI * (2.0 * s.dI + 2.0), sec, Roof::kFp32);
}

// ---------------------------------------------------------------- top-k
// `rows` rows of n fp32 scores → the k largest positions per row (ascending). Bytes scores read +
// k int32 positions written per row; no FLOPs to speak of (compared on bandwidth only).
void bm_topk(State& st, int64_t rows, int64_t n, int64_t k) {
  gpu::DeviceArray<float> scores(rows * n);
  gpu::DeviceArray<int32_t> out(rows * k);
  fill_uniform(scores.get(), rows * n, 14, 1.f);
  gpu::TopkParams p;
  p.rows = rows;
  p.n = n;
  p.k = k;
  const double sec = time_loop(st, [&] { gpu::topk(context(), p, scores.get(), nullptr, out.get()); });
  set_counters(st, 4.0 * rows * (n + std::min(n, k)), 0.0, sec, Roof::kNone);
}

// ---------------------------------------------------------------- moe_route
// T tokens of router logits [T, 256] → 8 expert ids and weights per token (sigmoid, +bias, top-2
// group sums, 4 of 8 groups, top-8, normalise, ×2.5). Bytes logits + bias + select [T, 256]
// written + ids and weights [T, 8]; ~6 FLOPs per logit (compared on bandwidth only).
void bm_moe_route(State& st, int64_t T) {
  const Shapes& s = v32();
  const MoeRouteParams rp{int(s.E), s.n_group, s.topk_group, int(s.K), true, true, 2.5};
  gpu::DeviceArray<float> logits(T * s.E), bias(s.E), weights(T * s.K), select(T * s.E);
  gpu::DeviceArray<int32_t> ids(T * s.K);
  fill_uniform(logits.get(), T * s.E, 15, 3.f);
  fill_uniform(bias.get(), s.E, 16, 0.05f);
  const double sec = time_loop(st, [&] {
    gpu::moe_route(context(), rp, T, logits.get(), bias.get(), ids.get(), weights.get(), select.get());
  });
  set_counters(st, 4.0 * (2 * T * s.E + s.E + 2 * T * s.K), 6.0 * T * s.E, sec, Roof::kNone);
}

// ---------------------------------------------------------------- registration
bool register_all() {
  const Shapes& s = v32();
  for (int64_t M : {int64_t(1), int64_t(4096)}) {
    reg("BM_rmsnorm/cuda/f32/" + kP + "_hidden_D" + i2s(s.D) + "_M" + i2s(M),
        [=](State& st) { bm_rmsnorm(st, M, s.D); });
    reg("BM_rope/cuda/f32/" + kP + "_q_interleaved_H" + i2s(s.H) + "_M" + i2s(M),
        [=](State& st) { bm_rope(st, RopeLayout::kInterleaved, M, s.H, s.dqk(), s.dn); });
    reg("BM_rope/cuda/f32/" + kP + "_indexer_q_half_H" + i2s(s.HI) + "_M" + i2s(M),
        [=](State& st) { bm_rope(st, RopeLayout::kHalf, M, s.HI, s.dI, 0); });
  }
  // Every matrix of the op contract's list (the GPU takes the lm_head too: memory is no concern).
  for (const cases::LinearMat& m : cases::linear_mats(s))
    for (DType dt : {DType::BF16, DType::F8_E4M3})
      for (int64_t M : {int64_t(1), int64_t(64), int64_t(4096)})
        reg(std::string("BM_linear/cuda/") + bench::dtype_token(dt) + "/" + kP + "_" + m.name + "_M" + i2s(M),
            [=](State& st) { bm_linear(st, {dt, M, m.N, m.K}); });
  for (int64_t ctx : {int64_t(8192), int64_t(32768), int64_t(131072)})
    reg("BM_attn_dense/mla_absorbed/f32/" + kP + "_ctx" + i2s(ctx),
        [=](State& st) { bm_attend_absorbed(st, ctx, false); });
  reg("BM_attn_sparse/mla_absorbed/f32/" + kP + "_ctx131072_k" + i2s(s.topk),
      [](State& st) { bm_attend_absorbed(st, 131072, true); });
  reg("BM_attn_prefill/mla_naive/f32/" + kP + "_S4096_causal", [](State& st) { bm_attend_prefill(st, 4096); });
  reg("BM_indexer_scores/cuda/f32/" + kP + "_ctx131072", [](State& st) { bm_indexer_scores(st, 1, 131072); });
  reg("BM_indexer_scores/cuda/f32/" + kP + "_prefill_S4096", [](State& st) { bm_indexer_scores(st, 4096, 4096); });
  reg("BM_indexer_topk/cuda/f32/" + kP + "_ctx131072_k" + i2s(s.topk),
      [=](State& st) { bm_topk(st, 1, 131072, s.topk); });
  reg("BM_indexer_topk/cuda/f32/" + kP + "_rows64_ctx8192_k" + i2s(s.topk),
      [=](State& st) { bm_topk(st, 64, 8192, s.topk); });
  for (int64_t T : {int64_t(1), int64_t(4096)})
    reg("BM_moe_route/cuda/f32/" + kP + "_E" + i2s(s.E) + "_M" + i2s(T), [=](State& st) { bm_moe_route(st, T); });
  return true;
}

const bool g_registered = register_all();

}  // namespace
}  // namespace dsv32::cuda_bench
