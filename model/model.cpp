// The forward pass driver, MLA (naive and absorbed) and the lightning indexer.
// Shapes per call: S tokens at absolute positions [P, P+S); E = P + S positions visible at the end.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/attention_ref1.h"
#include "kernels/cpu/hadamard.h"
#include "kernels/cpu/indexer.h"
#include "kernels/cpu/norm.h"
#include "model/backend.h"
#include "model/error.h"
#include "model/model_impl.h"

namespace dsv32 {

const char* to_string(AttnMode m) { return m == AttnMode::kDense ? "dense" : "sparse"; }
const char* to_string(MlaMode m) { return m == MlaMode::kNaive ? "naive" : "absorbed"; }
AttnMode parse_attn_mode(const std::string& s) {
  if (s == "dense") return AttnMode::kDense;
  if (s == "sparse") return AttnMode::kSparse;
  fail("--attn: '" + s + "' is not one of dense, sparse");
}
MlaMode parse_mla_mode(const std::string& s) {
  if (s == "naive") return MlaMode::kNaive;
  if (s == "absorbed") return MlaMode::kAbsorbed;
  fail("--mla: '" + s + "' is not one of naive, absorbed");
}

const char* to_string(Device d) { return d == Device::kCpu ? "cpu" : "cuda"; }
const char* to_string(Numerics n) { return n == Numerics::kExact ? "exact" : "ref1"; }
Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::kCpu;
  if (s == "cuda") return Device::kCuda;
  fail("--device: '" + s + "' is not one of cpu, cuda");
}
Numerics parse_numerics(const std::string& s) {
  if (s == "exact") return Numerics::kExact;
  if (s == "ref1") return Numerics::kRef1;
  fail("--numerics: '" + s + "' is not one of exact, ref1");
}
const char* to_string(GpuGemm g) {
  return g == GpuGemm::kFp32 ? "fp32" : g == GpuGemm::kBf16 ? "bf16" : "fp8";
}
GpuGemm parse_gpu_gemm(const std::string& s) {
  if (s == "fp32") return GpuGemm::kFp32;
  if (s == "bf16") return GpuGemm::kBf16;
  if (s == "fp8") return GpuGemm::kFp8;
  fail("--gpu-gemm: '" + s + "' is not one of fp32, bf16, fp8");
}

int64_t mla_cache_row_floats(const ModelConfig& c, MlaMode mla) {
  return mla == MlaMode::kAbsorbed ? c.kv_lora_rank + c.qk_rope_head_dim : c.n_heads * c.qk_head_dim();
}

KvBytes kv_cache_bytes(const ModelConfig& c, MlaMode mla, AttnMode attn) {
  KvBytes k;
  const int64_t H = c.n_heads;
  if (mla == MlaMode::kAbsorbed) {
    k.mla_per_layer = (c.kv_lora_rank + c.qk_rope_head_dim) * 4;
    k.deployed_mla_per_layer = (c.kv_lora_rank + c.qk_rope_head_dim) * 2;  // bf16 latent + rope
  } else {
    k.mla_per_layer = H * (c.qk_head_dim() + c.v_head_dim) * 4;
    k.deployed_mla_per_layer = H * (c.qk_head_dim() + c.v_head_dim) * 2;   // bf16 K and V
  }
  if (attn == AttnMode::kSparse) {
    k.indexer_per_layer = c.index_head_dim * 4;
    k.deployed_indexer_per_layer = c.index_head_dim + 4;  // e4m3 key + fp32 scale
  }
  k.per_token = (k.mla_per_layer + k.indexer_per_layer) * c.n_layers;
  k.deployed_per_token = (k.deployed_mla_per_layer + k.deployed_indexer_per_layer) * c.n_layers;
  return k;
}

RopeParams rope_params(const ModelConfig& c) {
  RopeParams p;
  p.dim = c.qk_rope_head_dim;
  p.theta = c.rope_theta;
  p.factor = c.rope_factor;
  p.original_seq_len = c.original_seq_len;
  p.beta_fast = c.beta_fast;
  p.beta_slow = c.beta_slow;
  return p;
}

Model::Impl::Impl(std::shared_ptr<const ModelWeights> weights, const ModelOptions& o)
    : w(std::move(weights)), c(w->config), opt(o), pool(o.threads), rope(rope_params(c), o.max_ctx) {
  if (opt.attn == AttnMode::kSparse && !c.has_indexer)
    fail(c.source + ": architecture " + c.architecture + " has no lightning indexer; use --attn dense");
  if (opt.max_ctx < 1) fail("context capacity must be at least 1 position");
  ref1 = opt.numerics == Numerics::kRef1;
  if (ref1 && c.has_indexer && c.index_head_dim > 128)
    fail(c.source + ": --numerics ref1 needs index_head_dim <= 128 (one FP8 scale per indexer head)");
  const int64_t T = opt.max_ctx, H = c.n_heads;
  cache.resize(c.n_layers);
  for (auto& lc : cache) {
    lc.mla.assign(T * dsv32::mla_cache_row_floats(c, opt.mla), 0.f);
    if (opt.mla == MlaMode::kNaive) lc.v.assign(T * H * c.v_head_dim, 0.f);
    if (opt.attn == AttnMode::kSparse) lc.indexer.assign(T * c.index_head_dim, 0.f);
    if (opt.attn == AttnMode::kSparse && ref1) lc.indexer_scale.assign(T, 0.f);
  }
  // Decode-time indexer scores [S < 2·threads, E ≤ T]: sized once so decode never reallocates.
  if (opt.attn == AttnMode::kSparse) ws.iscores.reserve(2 * pool.size() * T);
  scratch.resize(pool.size());
  for (auto& s : scratch) {
    s.probs.resize(kHeadBlock * (T + 1));  // attend_mqa: [heads, n + 1]
    s.scores.resize(T);
    s.order.resize(T);
  }
}

void Model::Impl::emit(const char* name, int layer, int64_t P, std::initializer_list<int64_t> shape,
                       const void* data, DType dt, int64_t pad_to, double pad_value) {
  if (!obs || !*obs) return;
  notify(*obs, name, layer, P, shape, data, dt, pad_to, pad_value);
}

void Model::Impl::emit_strided(const char* name, int layer, int64_t P, int64_t rows, int64_t heads,
                               int64_t width, const float* src, int64_t row_stride, int64_t head_stride) {
  if (!obs || !*obs) return;
  ws.emit.resize(rows * heads * width);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h)
      std::memcpy(&ws.emit[(r * heads + h) * width], src + r * row_stride + h * head_stride, width * 4);
  if (heads == 1) emit(name, layer, P, {rows, width}, ws.emit.data());
  else emit(name, layer, P, {rows, heads, width}, ws.emit.data());
}

// Lightning indexer (SPEC §7): q/k projections, RoPE on the rope part (first d_r dims), Hadamard
// on both, key cache write, then per query the scores over positions 0..t and the top-k selection
// into ws.topk. REF-1 (ref1.cpp): bf16 after every step, then q and k quantized to e4m3 with ue8m0
// scales; the cache holds the key's e4m3 values and k_s, and scores are k_s·Σ_j ω_j ReLU(q_j·k).
void Model::Impl::indexer_select(int layer, int64_t S, int64_t P) {
  const LayerWeights& L = w->layers[layer];
  const IndexerWeights& I = L.indexer;
  const int64_t HI = c.index_n_heads, dI = c.index_head_dim;
  const int64_t E = P + S, K = c.index_topk;
  const RopeLayout layout = c.indexer_rope_interleave ? RopeLayout::kInterleaved : RopeLayout::kHalf;
  auto& ws = this->ws;
  ws.qi.resize(S * HI * dI);
  ws.ki.resize(S * dI);
  ws.wi.resize(S * HI);
  ws.topk.resize(S * K);
  ws.topk_n.resize(S);

  proj(ws.cq.data(), S, I.wq_b, ws.qi.data());                              // [S, H_I, d_I]
  rope_apply(rope, layout, ws.qi.data(), S, HI * dI, HI, dI, P);
  round(ws.qi.data(), S * HI * dI);
  hadamard_rotate(ws.qi.data(), S * HI, dI);
  round(ws.qi.data(), S * HI * dI);
  proj(ws.x.data(), S, I.wk, ws.ki.data());                                 // [S, d_I]
  layernorm({S, dI, c.rms_norm_eps}, ws.ki.data(), I.k_norm_w.data(), I.k_norm_b.data(), ws.ki.data());
  round(ws.ki.data(), S * dI);
  rope_apply(rope, layout, ws.ki.data(), S, dI, 1, dI, P);
  round(ws.ki.data(), S * dI);
  hadamard_rotate(ws.ki.data(), S, dI);
  round(ws.ki.data(), S * dI);
  float* kc = cache[layer].indexer.data();
  const float* ks = ref1 ? cache[layer].indexer_scale.data() : nullptr;  // REF-1: k_s per position
  // REF-1 quantizes with one ue8m0 scale per 128 values: per key, and per head for q (d_I = 128).
  if (ref1) act_quant({S, dI, 128, true}, ws.ki.data(), kc + P * dI, cache[layer].indexer_scale.data() + P);
  else std::memcpy(kc + P * dI, ws.ki.data(), S * dI * 4);
  linear(pool, ws.x.data(), S, I.weights_proj, ws.wi.data());               // [S, H_I] fp32 in both profiles
  const float wscale = float(1.0 / std::sqrt(double(HI)) / std::sqrt(double(dI)));
  for (auto& v : ws.wi) v *= wscale;
  emit("indexer_q", layer, P, {S, HI, dI}, ws.qi.data());
  emit("indexer_k", layer, P, {S, dI}, ws.ki.data());
  emit("indexer_weights", layer, P, {S, HI}, ws.wi.data());
  if (ref1) {
    // q → e4m3 values in place with one scale per head; ω = w·q_s (a power of two: exact).
    ws.qi_scale.resize(S * HI);
    act_quant({S * HI, dI, 128, true}, ws.qi.data(), ws.qi.data(), ws.qi_scale.data());
    for (int64_t i = 0; i < S * HI; ++i) ws.wi[i] *= ws.qi_scale[i];
  }
  // Scores of query s against keys [u0, u0 + n); REF-1 multiplies each by its key's scale.
  const IndexerParams ip{HI, dI, K};
  auto score_keys = [&](int64_t s, int64_t u0, int64_t n, float* out) {
    indexer_scores(ip, &ws.qi[s * HI * dI], &ws.wi[s * HI], kc + u0 * dI, n, out);
    if (ks)
      for (int64_t u = 0; u < n; ++u) out[u] *= ks[u0 + u];
  };

  const bool dump_scores = obs && *obs;
  if (dump_scores) ws.scores_dump.assign(S * E, -INFINITY);
  const std::vector<int32_t>* pinned =
      pins && layer < int(pins->indexer_topk.size()) && !pins->indexer_topk[layer].empty()
          ? &pins->indexer_topk[layer] : nullptr;
  // Few queries (decode): split each query's keys over the threads first, into ws.iscores [S, E].
  // Every score is computed by the same call whatever the split, so both paths give the same bits.
  const bool key_parallel = S < 2 * pool.size();
  if (key_parallel) {
    constexpr int64_t kKeys = 256;
    const int64_t nb = (E + kKeys - 1) / kKeys;
    ws.iscores.resize(S * E);
    pool.parallel_for(S * nb, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t s = i / nb, u0 = (i % nb) * kKeys, n = P + s + 1;
        if (u0 < n) score_keys(s, u0, std::min(kKeys, n - u0), &ws.iscores[s * E + u0]);
      }
    });
  }
  pool.parallel_for(S, [&](int64_t i0, int64_t i1, int t) {
    ThreadScratch& sc = scratch[t];
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t s = zigzag(i, S), n = P + s + 1;  // visible positions 0..t
      if (key_parallel) std::memcpy(sc.scores.data(), &ws.iscores[s * E], n * 4);
      else score_keys(s, 0, n, sc.scores.data());
      if (dump_scores) std::memcpy(&ws.scores_dump[s * E], sc.scores.data(), n * 4);
      int32_t* out = &ws.topk[s * K];
      if (pinned) {
        const int32_t* row = pinned->data() + (P + s) * pins->topk_width;
        int64_t m = 0;
        for (int64_t j = 0; j < pins->topk_width && m < K; ++j)
          if (row[j] >= 0 && row[j] < n) out[m++] = row[j];
        ws.topk_n[s] = m;
      } else {
        ws.topk_n[s] = indexer_topk(sc.scores.data(), n, K, sc.order.data(), out);
      }
    }
  });
  if (dump_scores) {
    emit("indexer_scores", layer, P, {S, E}, ws.scores_dump.data(), DType::F32,
         TensorEvent::kPadToContext, -INFINITY);
    // Pad each row's selection with -1 to index_topk columns for the dump.
    for (int64_t s = 0; s < S; ++s)
      for (int64_t j = ws.topk_n[s]; j < K; ++j) ws.topk[s * K + j] = -1;
    emit("indexer_topk", layer, P, {S, K}, ws.topk.data(), DType::I32);
  }
}

// MLA (SPEC §6) for S tokens: ws.x [S, D] -> ws.o [S, D]; writes this call's cache rows.
void Model::Impl::attention_block(int layer, int64_t S, int64_t P) {
  const LayerWeights& L = w->layers[layer];
  const int64_t H = c.n_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dqk = dn + dr;
  const int64_t dv = c.v_head_dim, rq = c.q_lora_rank, rkv = c.kv_lora_rank, lat = rkv + dr;
  auto& ws = this->ws;
  ws.cq.resize(S * rq);
  ws.q.resize(S * H * dqk);
  ws.z.resize(S * lat);
  ws.attn.resize(S * H * dv);

  // Queries: c_Q = RMSNorm(q_a x); q = q_b c_Q viewed [S, H, nope | rope]; RoPE on the rope part.
  proj(ws.x.data(), S, L.q_a, ws.cq.data());
  rmsnorm({S, rq, c.rms_norm_eps}, ws.cq.data(), L.q_a_norm.data(), ws.cq.data());
  round(ws.cq.data(), S * rq);
  emit("q_latent", layer, P, {S, rq}, ws.cq.data());
  proj(ws.cq.data(), S, L.q_b, ws.q.data());
  rope_apply(rope, RopeLayout::kInterleaved, ws.q.data() + dn, S, H * dqk, H, dqk, P);
  round(ws.q.data(), S * H * dqk);  // the nope parts are bf16 already (idempotent)
  emit_strided("q_nope", layer, P, S, H, dn, ws.q.data(), H * dqk, dqk);
  emit_strided("q_rope", layer, P, S, H, dr, ws.q.data() + dn, H * dqk, dqk);

  // Keys: z = kv_a x = [c_raw ; k_rope_raw]; c_KV = RMSNorm(c_raw); RoPE on k_rope. The row
  // [c_KV ; k_rope] is exactly the absorbed cache entry.
  proj(ws.x.data(), S, L.kv_a, ws.z.data());
  for (int64_t s = 0; s < S; ++s)  // rows have stride r_kv + d_r: normalise the latent part of each
    rmsnorm({1, rkv, c.rms_norm_eps}, &ws.z[s * lat], L.kv_a_norm.data(), &ws.z[s * lat]);
  rope_apply(rope, RopeLayout::kInterleaved, ws.z.data() + rkv, S, lat, 1, dr, P);
  round(ws.z.data(), S * lat);  // kv_norm output and roped k_rope
  emit_strided("kv_latent", layer, P, S, 1, rkv, ws.z.data(), lat, 0);
  emit_strided("k_rope", layer, P, S, 1, dr, ws.z.data() + rkv, lat, 0);
  if (ref1) {
    // REF-1 simulates an FP8 latent cache: c_KV ← q·s (act_quant round trip), before caching and
    // before the naive up-projection (whose own act_quant then re-quantizes it losslessly).
    act_quant_roundtrip({S, rkv, 128, true, lat}, ws.z.data());
    emit_strided("kv_latent_fp8", layer, P, S, 1, rkv, ws.z.data(), lat, 0);
  }

  LayerCache& lc = cache[layer];
  if (opt.mla == MlaMode::kAbsorbed) {
    std::memcpy(&lc.mla[P * lat], ws.z.data(), S * lat * 4);
  } else {
    // Up-project this call's latents to per-head K (nope part) and V; the shared k_rope is copied
    // into every head's K row.
    ws.kvb.resize(S * H * (dn + dv));
    proj(ws.z.data(), S, lat, L.kv_b, ws.kvb.data(), H * (dn + dv));
    for (int64_t s = 0; s < S; ++s)
      for (int64_t h = 0; h < H; ++h) {
        const float* src = &ws.kvb[(s * H + h) * (dn + dv)];
        float* k = &lc.mla[((P + s) * H + h) * dqk];
        std::memcpy(k, src, dn * 4);
        std::memcpy(k + dn, &ws.z[s * lat + rkv], dr * 4);
        std::memcpy(&lc.v[((P + s) * H + h) * dv], src + dn, dv * 4);
      }
  }

  const bool sparse = opt.attn == AttnMode::kSparse;
  if (sparse) indexer_select(layer, S, P);

  const float scale = float(c.softmax_scale());
  if (opt.mla == MlaMode::kNaive) {
    const AttendParams ap{dqk, dv, H * dqk, H * dv, scale};
    const AttendRef1Params ap1{dqk, dv, H * dqk, H * dv, scale, /*split=*/0};  // REF-1 prefill points
    pool.parallel_for(S * H, [&](int64_t i0, int64_t i1, int t) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t s = zigzag(i / H, S), h = i % H;
        const int32_t* idx = sparse ? &ws.topk[s * c.index_topk] : nullptr;
        const int64_t n = sparse ? ws.topk_n[s] : P + s + 1;
        if (ref1)
          attend_ref1(ap1, 1, &ws.q[(s * H + h) * dqk], dqk, lc.mla.data() + h * dqk, lc.v.data() + h * dv, idx,
                      n, scratch[t].probs.data(), &ws.attn[(s * H + h) * dv], dv);
        else
          attend(ap, &ws.q[(s * H + h) * dqk], lc.mla.data() + h * dqk, lc.v.data() + h * dv, idx, n,
                 scratch[t].probs.data(), &ws.attn[(s * H + h) * dv]);
      }
    });
  } else {
    // Absorbed queries [W_UKᵀ q_nope ; q_rope] per head: [S, H, r_kv + d_r].
    ws.qa.resize(S * H * lat);
    ws.lat_o.resize(S * H * rkv);
    for (int64_t h = 0; h < H; ++h)
      linear(pool, ws.q.data() + h * dqk, S, H * dqk, L.wuk_t_head(int(h)), ws.qa.data() + h * lat, H * lat);
    for (int64_t s = 0; s < S; ++s)
      for (int64_t h = 0; h < H; ++h)
        std::memcpy(&ws.qa[(s * H + h) * lat + rkv], &ws.q[(s * H + h) * dqk + dn], dr * 4);
    round(ws.qa.data(), S * H, rkv, lat);  // q̃ (REF-1 decode)
    // All heads share the latent rows (MQA): each thread takes a run of (query, head) items and
    // reads the cache once per block of up to kHeadBlock heads of the same query.
    const AttendParams ap{lat, rkv, lat, lat, scale};
    const AttendRef1Params ap1{lat, rkv, lat, lat, scale, /*split=*/rkv};  // REF-1 decode points
    pool.parallel_for(S * H, [&](int64_t i0, int64_t i1, int t) {
      for (int64_t i = i0; i < i1;) {
        const int64_t s = zigzag(i / H, S), h0 = i % H;
        const int64_t h1 = std::min({H, h0 + (i1 - i), h0 + kHeadBlock});
        const int32_t* idx = sparse ? &ws.topk[s * c.index_topk] : nullptr;
        const int64_t n = sparse ? ws.topk_n[s] : P + s + 1;
        if (ref1)
          attend_ref1(ap1, h1 - h0, &ws.qa[(s * H + h0) * lat], lat, lc.mla.data(), lc.mla.data(), idx, n,
                      scratch[t].probs.data(), &ws.lat_o[(s * H + h0) * rkv], rkv);
        else
          attend_mqa(ap, h1 - h0, &ws.qa[(s * H + h0) * lat], lat, lc.mla.data(), lc.mla.data(), idx, n,
                     scratch[t].probs.data(), &ws.lat_o[(s * H + h0) * rkv], rkv);
        i += h1 - h0;
      }
    });
    // Output per head through W_UV: attn[s, h, :] = W_UV[h] õ[s, h, :].
    for (int64_t h = 0; h < H; ++h)
      linear(pool, ws.lat_o.data() + h * rkv, S, H * rkv, L.wuv_head(int(h), c), ws.attn.data() + h * dv, H * dv);
    round(ws.attn.data(), S * H * dv);  // O (REF-1 decode: dequantized W_UV, no act_quant)
  }
  emit("attn_out", layer, P, {S, H, dv}, ws.attn.data());
  proj(ws.attn.data(), S, L.o, ws.o.data());
  emit("o_proj", layer, P, {S, c.hidden_size}, ws.o.data());
}

void Model::Impl::forward(const int32_t* ids, int64_t S, int64_t P, float* logits, int64_t logits_from) {
  const int64_t D = c.hidden_size, V = c.vocab_size;
  if (S <= 0) return;
  check_forward_call(c, opt, filled, ids, S, P);
  ws.h.resize(S * D);
  ws.x.resize(S * D);
  ws.o.resize(S * D);
  for (int64_t s = 0; s < S; ++s) w->embed.row_to_f32(ids[s], 0, D, &ws.h[s * D]);
  round(ws.h.data(), S * D);
  emit("embed", -1, P, {S, D}, ws.h.data());

  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w->layers[l];
    // REF-1: normalise the un-rounded fp32 sum, then store both it and the output as bf16 (§4.1).
    rmsnorm({S, D, c.rms_norm_eps}, ws.h.data(), L.attn_norm.data(), ws.x.data());
    round(ws.x.data(), S * D);
    round(ws.h.data(), S * D);
    emit("attn_norm", l, P, {S, D}, ws.x.data());
    attention_block(l, S, P);
    for (int64_t i = 0; i < S * D; ++i) ws.h[i] += ws.o[i];
    rmsnorm({S, D, c.rms_norm_eps}, ws.h.data(), L.ffn_norm.data(), ws.x.data());
    round(ws.x.data(), S * D);
    round(ws.h.data(), S * D);
    emit("ffn_norm", l, P, {S, D}, ws.x.data());
    ffn_block(l, S, P);
    for (int64_t i = 0; i < S * D; ++i) ws.h[i] += ws.ffn[i];
    emit("residual", l, P, {S, D}, stored_residual(S * D));
  }
  filled = P + S;

  rmsnorm({S, D, c.rms_norm_eps}, ws.h.data(), w->final_norm.data(), ws.x.data());
  round(ws.x.data(), S * D);
  emit("final_norm", -1, P, {S, D}, ws.x.data());
  const bool observed = obs && *obs;
  if (!logits && !observed) return;
  if (logits_from < 0 || logits_from > S) fail("forward: logits_from out of range");
  const int64_t first = observed ? 0 : logits_from;  // dumps record every position
  float* out = logits;
  if (!out || observed) {
    ws.logits.resize(S * V);
    out = ws.logits.data();
  }
  linear(pool, ws.x.data() + first * D, S - first, w->lm_head, out);
  emit("logits", -1, P, {S, V}, out);
  if (logits && out != logits)
    std::memcpy(logits, out + (logits_from - first) * V, (S - logits_from) * V * sizeof(float));
}

void check_forward_call(const ModelConfig& c, const ModelOptions& opt, int64_t filled, const int32_t* ids,
                        int64_t S, int64_t P) {
  const int64_t V = c.vocab_size;
  if (P < 0 || P > filled)
    fail("forward: start position " + std::to_string(P) + " leaves a gap (cache holds positions 0.." +
         std::to_string(filled) + ")");
  if (P + S > opt.max_ctx)
    fail("forward: positions up to " + std::to_string(P + S) + " exceed the context capacity " +
         std::to_string(opt.max_ctx));
  for (int64_t s = 0; s < S; ++s)
    if (ids[s] < 0 || ids[s] >= V)
      fail("token id " + std::to_string(ids[s]) + " at position " + std::to_string(P + s) +
           " is out of range [0, " + std::to_string(V) + ")");
}

// Model forwards to its backend (model/backend.cpp chooses it from opt.device).
Model::Model(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt)
    : weights_(std::move(weights)), opt_(opt), backend_(make_backend(weights_, opt_)) {}
Model::~Model() = default;
const ModelConfig& Model::config() const { return weights_->config; }
const ModelOptions& Model::options() const { return opt_; }
const ModelWeights& Model::weights() const { return *weights_; }
int64_t Model::filled() const { return backend_->filled(); }
void Model::set_pins(const Pins* pins) { backend_->set_pins(pins); }
std::string Model::device_name() const { return backend_->device_name(); }

void Model::forward(const int32_t* ids, int64_t n, int64_t pos, float* logits, const Observer* obs,
                    int64_t logits_from) {
  backend_->forward(ids, n, pos, logits, obs, logits_from);
}

int64_t Model::mla_cache_row_floats() const { return dsv32::mla_cache_row_floats(weights_->config, opt_.mla); }
float* Model::mla_cache_row(int layer, int64_t pos) { return backend_->mla_cache_row(layer, pos); }
float* Model::indexer_cache_row(int layer, int64_t pos) { return backend_->indexer_cache_row(layer, pos); }

}  // namespace dsv32
