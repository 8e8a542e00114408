// CudaForward: MLA (naive and absorbed) and the lightning indexer on the GPU, step for step as
// Model::Impl::attention_block / indexer_select (model.cpp). Shapes per call: S tokens at
// positions [P, P+S), E = P + S positions visible at the end.
#include <algorithm>
#include <cmath>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/hadamard.h"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/layernorm.h"
#include "kernels/cuda/mla_decode.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/rows.h"
#include "kernels/cuda/topk.h"
#include "model/cuda/cuda_forward.h"

namespace dsv32 {

// gpu::attend keeps one probability row per query in the context's scratch: [queries, n]. Prefill
// is cut into token chunks so that this stays under 2^28 floats (1 GiB); decode is one chunk.
constexpr int64_t kAttendScratchFloats = int64_t(1) << 28;

void CudaForward::indexer_select(int layer, int64_t S, int64_t P) {
  const LayerDevice& L = layers_[layer];
  gpu::Context& ctx = *ctx_;
  WorkspaceDevice& ws = ws_;
  const int64_t HI = c_.index_n_heads, dI = c_.index_head_dim;
  const int64_t E = P + S, K = c_.index_topk;
  const RopeLayout layout = c_.indexer_rope_interleave ? RopeLayout::kInterleaved : RopeLayout::kHalf;

  linear(ws.cq.get(), S, L.iq_b, ws.qi.get());  // [S, H_I, d_I]
  gpu::rope_apply(ctx, *rope_dev_, layout, ws.qi.get(), S, HI * dI, HI, dI, P);
  gpu::hadamard_rotate(ctx, ws.qi.get(), S * HI, dI);
  // Keys go straight into their cache rows [P, P+S) and are finished in place.
  float* kc = cache_[layer].indexer.get();
  float* k_new = kc + P * dI;
  linear(ws.x.get(), S, L.ik, k_new);  // [S, d_I]
  gpu::layernorm(ctx, {S, dI, c_.rms_norm_eps}, k_new, L.ik_norm_w, L.ik_norm_b, k_new);
  gpu::rope_apply(ctx, *rope_dev_, layout, k_new, S, dI, 1, dI, P);
  gpu::hadamard_rotate(ctx, k_new, S, dI);
  if (fast_indexer_)  // the bf16 mirror of the finished key rows (decode reads it)
    gpu::convert_to_bf16(ctx, k_new, S, dI, dI, cache_[layer].indexer_bf16.get() + P * dI, dI);
  linear(ws.x.get(), S, L.iw, ws.wi.get());  // [S, H_I]
  const float wscale = float(1.0 / std::sqrt(double(HI)) / std::sqrt(double(dI)));
  gpu::scale_inplace(ctx, ws.wi.get(), S * HI, wscale);
  emit_device("indexer_q", layer, P, {S, HI, dI}, ws.qi.get());
  emit_device("indexer_k", layer, P, {S, dI}, k_new);
  emit_device("indexer_weights", layer, P, {S, HI}, ws.wi.get());

  const std::vector<int32_t>* pinned =
      pins_ && layer < int(pins_->indexer_topk.size()) && !pins_->indexer_topk[layer].empty()
          ? &pins_->indexer_topk[layer] : nullptr;
  const bool dump = observed();
  // Scores [S, E] for every query against every key of the cache (query s only sees keys
  // u ≤ P + s: gpu::topk reads the first P + s + 1 of its row, and the dump masks the rest).
  // Decode in a fast mode reads the bf16 key mirror on tensor cores (q rounded to bf16 there too).
  if ((!pinned || dump) && fast_indexer_ && fast_decode(S))
    gpu::indexer_scores_bf16(ctx, {HI, dI, K}, ws.qi.get(), ws.wi.get(), cache_[layer].indexer_bf16.get(), E,
                             ws.iscores.get(), S, E);
  else if (!pinned || dump)
    gpu::indexer_scores(ctx, {HI, dI, K}, ws.qi.get(), ws.wi.get(), kc, E, ws.iscores.get(), S, E);
  if (pinned) {
    // The dump's selection, filtered to visible positions, as on the CPU; uploaded per call.
    host_.topk.assign(S * K, -1);
    host_.topk_n.assign(S, 0);
    for (int64_t s = 0; s < S; ++s) {
      const int32_t* row = pinned->data() + (P + s) * pins_->topk_width;
      const int64_t n = P + s + 1;
      int32_t m = 0;
      for (int64_t j = 0; j < pins_->topk_width && m < K; ++j)
        if (row[j] >= 0 && row[j] < n) host_.topk[s * K + m++] = row[j];
      host_.topk_n[s] = m;
    }
    gpu::copy_to_device(ctx, ws.topk.get(), host_.topk.data(), size_t(S * K) * 4);
    gpu::copy_to_device(ctx, ws.topk_n.get(), host_.topk_n.data(), size_t(S) * 4);
  } else {
    gpu::TopkParams tp;
    tp.rows = S;
    tp.n = E;
    tp.k = K;
    tp.scores_stride = E;
    tp.out_stride = K;
    gpu::topk(ctx, tp, ws.iscores.get(), arange1_.get() + P, ws.topk.get(), ws.topk_n.get());
  }
  if (dump) {
    host_.emit.resize(S * E);
    gpu::copy_to_host(ctx, host_.emit.data(), ws.iscores.get(), size_t(S * E) * 4);
    for (int64_t s = 0; s < S; ++s)
      std::fill(host_.emit.begin() + s * E + (P + s + 1), host_.emit.begin() + (s + 1) * E, -INFINITY);
    emit("indexer_scores", layer, P, {S, E}, host_.emit.data(), DType::F32, TensorEvent::kPadToContext, -INFINITY);
    // Each row's selection padded with -1 to index_topk columns.
    host_.topk.resize(S * K);
    host_.topk_n.resize(S);
    gpu::copy_to_host(ctx, host_.topk.data(), ws.topk.get(), size_t(S * K) * 4);
    gpu::copy_to_host(ctx, host_.topk_n.data(), ws.topk_n.get(), size_t(S) * 4);
    for (int64_t s = 0; s < S; ++s)
      for (int64_t j = host_.topk_n[s]; j < K; ++j) host_.topk[s * K + j] = -1;
    emit("indexer_topk", layer, P, {S, K}, host_.topk.data(), DType::I32);
  }
}

// Attention of this call's queries over the cache: naive reads per-head K/V ([T, H, d_qk] and
// [T, H, d_v]) with ws.q → ws.attn; absorbed reads the latent rows shared by all heads (MQA,
// head strides 0) with ws.qa → ws.lat_o. Query i of a chunk is token i / H, head i % H; a token's
// positions are the causal prefix (dense) or its top-k row (sparse).
void CudaForward::attend(int layer, int64_t S, int64_t P) {
  const int64_t H = c_.n_heads, dqk = c_.qk_head_dim(), dv = c_.v_head_dim;
  const int64_t rkv = c_.kv_lora_rank, lat = rkv + c_.qk_rope_head_dim, K = c_.index_topk;
  const bool sparse = opt_.attn == AttnMode::kSparse, absorbed = opt_.mla == MlaMode::kAbsorbed;
  const float scale = float(c_.softmax_scale());
  LayerCacheDevice& lc = cache_[layer];
  WorkspaceDevice& ws = ws_;
  if (absorbed && fast_mla_ && fast_decode(S)) {
    // Decode in a fast mode: tensor-core MQA over the bf16 latent mirror (see the header). Query
    // s sees the causal prefix P + s + 1 (dense) or its top-k list with topk_n entries (sparse).
    gpu::convert_to_bf16(*ctx_, ws.qa.get(), S * H, lat, lat, ws.qa_bf16.get(), lat);
    gpu::MlaDecodeParams mp;
    mp.heads = H;
    mp.n_queries = S;
    mp.n = sparse ? std::min(K, P + S) : P + S;
    mp.index_stride = sparse ? K : 0;
    mp.cache_stride = lat;
    mp.scale = scale;
    gpu::mla_decode(*ctx_, mp, ws.qa_bf16.get(), lc.mla_bf16.get(), sparse ? ws.topk.get() : nullptr,
                    sparse ? ws.topk_n.get() : arange1_.get() + P, ws.lat_o.get());
    return;
  }
  gpu::AttendBatchParams p = absorbed ? gpu::mqa_params(H, lat, rkv, scale) : gpu::mha_params(H, dqk, dv, scale);
  p.index_stride = K;
  const float* q = absorbed ? ws.qa.get() : ws.q.get();
  const float* keys = lc.mla.get();
  const float* values = absorbed ? lc.mla.get() : lc.v.get();
  float* out = absorbed ? ws.lat_o.get() : ws.attn.get();
  const int64_t chunk = std::max<int64_t>(1, kAttendScratchFloats / (H * (P + S)));
  for (int64_t s0 = 0; s0 < S; s0 += chunk) {
    const int64_t s1 = std::min(S, s0 + chunk);
    p.n_queries = (s1 - s0) * H;
    const int32_t* index = sparse ? ws.topk.get() + s0 * K : nullptr;
    const int32_t* lengths = sparse ? ws.topk_n.get() + s0 : arange1_.get() + P + s0;
    const int64_t n = sparse ? std::min(K, P + s1) : P + s1;  // the longest row of the chunk
    gpu::attend(*ctx_, p, q + s0 * H * p.q_stride, keys, values, index, lengths, n, out + s0 * H * p.out_stride);
  }
}

// MLA for S tokens: ws.x [S, D] -> ws.o [S, D]; writes this call's cache rows.
void CudaForward::attention_block(int layer, int64_t S, int64_t P) {
  const LayerDevice& L = layers_[layer];
  gpu::Context& ctx = *ctx_;
  WorkspaceDevice& ws = ws_;
  const int64_t H = c_.n_heads, dn = c_.qk_nope_head_dim, dr = c_.qk_rope_head_dim, dqk = dn + dr;
  const int64_t dv = c_.v_head_dim, rq = c_.q_lora_rank, rkv = c_.kv_lora_rank, lat = rkv + dr;
  const double eps = c_.rms_norm_eps;

  // Queries: c_Q = RMSNorm(q_a x); q = q_b c_Q viewed [S, H, nope | rope]; RoPE on the rope part.
  linear(ws.x.get(), S, L.q_a, ws.cq.get());
  gpu::rmsnorm(ctx, {S, rq, eps}, ws.cq.get(), L.q_a_norm, ws.cq.get());
  emit_device("q_latent", layer, P, {S, rq}, ws.cq.get());
  linear(ws.cq.get(), S, L.q_b, ws.q.get());
  gpu::rope_apply(ctx, *rope_dev_, RopeLayout::kInterleaved, ws.q.get() + dn, S, H * dqk, H, dqk, P);
  emit_strided("q_nope", layer, P, S, H, dn, ws.q.get(), H * dqk, dqk);
  emit_strided("q_rope", layer, P, S, H, dr, ws.q.get() + dn, H * dqk, dqk);

  // Keys: z = kv_a x = [c_raw ; k_rope_raw] [S, r_kv + d_r]. gpu::rmsnorm takes contiguous rows,
  // so c_raw is copied out to ws.ckv [S, r_kv] and normalised there; k_rope is rotated in place.
  linear(ws.x.get(), S, L.kv_a, ws.z.get());
  gpu::StridedCopy latent;
  latent.rows = S, latent.width = rkv, latent.dst_row_stride = rkv, latent.src_row_stride = lat;
  gpu::copy_strided(ctx, latent, ws.z.get(), ws.ckv.get());
  gpu::rmsnorm(ctx, {S, rkv, eps}, ws.ckv.get(), L.kv_a_norm, ws.ckv.get());
  float* k_rope = ws.z.get() + rkv;  // [S, d_r], row stride r_kv + d_r
  gpu::rope_apply(ctx, *rope_dev_, RopeLayout::kInterleaved, k_rope, S, lat, 1, dr, P);
  emit_device("kv_latent", layer, P, {S, rkv}, ws.ckv.get());
  emit_strided("k_rope", layer, P, S, 1, dr, k_rope, lat, 0);

  LayerCacheDevice& lc = cache_[layer];
  if (opt_.mla == MlaMode::kAbsorbed) {
    // Cache rows [c_KV ; k_rope] at positions [P, P+S).
    gpu::StridedCopy c;
    c.rows = S, c.width = rkv, c.dst_row_stride = lat, c.src_row_stride = rkv;
    gpu::copy_strided(ctx, c, ws.ckv.get(), lc.mla.get() + P * lat);
    c.width = dr, c.src_row_stride = lat;
    gpu::copy_strided(ctx, c, k_rope, lc.mla.get() + P * lat + rkv);
    if (fast_mla_)  // the bf16 mirror of the same rows (decode reads it)
      gpu::convert_to_bf16(ctx, lc.mla.get() + P * lat, S, lat, lat, lc.mla_bf16.get() + P * lat, lat);
  } else {
    // Up-project to per-head [K_nope | V] and place them in the caches; the shared k_rope is
    // broadcast into every head's K row (source head stride 0).
    const int64_t kvw = dn + dv;
    linear(ws.ckv.get(), S, rkv, L.kv_b, ws.kvb.get(), H * kvw);
    gpu::StridedCopy c;
    c.rows = S, c.heads = H, c.width = dn;
    c.dst_row_stride = H * dqk, c.dst_head_stride = dqk, c.src_row_stride = H * kvw, c.src_head_stride = kvw;
    gpu::copy_strided(ctx, c, ws.kvb.get(), lc.mla.get() + P * H * dqk);
    c.width = dr, c.src_row_stride = lat, c.src_head_stride = 0;
    gpu::copy_strided(ctx, c, k_rope, lc.mla.get() + P * H * dqk + dn);
    c.width = dv, c.dst_row_stride = H * dv, c.dst_head_stride = dv, c.src_row_stride = H * kvw,
    c.src_head_stride = kvw;
    gpu::copy_strided(ctx, c, ws.kvb.get() + dn, lc.v.get() + P * H * dv);
  }

  if (opt_.attn == AttnMode::kSparse) indexer_select(layer, S, P);

  if (opt_.mla == MlaMode::kAbsorbed) {
    // Absorbed queries [W_UKᵀ q_nope ; q_rope] per head: [S, H, r_kv + d_r]; the H products
    // q̃[s, h] = W_UKᵀ[h] q_nope[s, h] in one batched GEMM.
    gpu::BatchedHeadsParams uk;
    uk.heads = H, uk.rows = S, uk.n = rkv, uk.k = dn;
    uk.x_row_stride = H * dqk, uk.x_head_stride = dqk, uk.y_row_stride = H * lat, uk.y_head_stride = lat;
    gpu::linear_batched_heads(ctx, uk, ws.q.get(), L.wuk_t, ws.qa.get());
    gpu::StridedCopy c;
    c.rows = S, c.heads = H, c.width = dr;
    c.dst_row_stride = H * lat, c.dst_head_stride = lat, c.src_row_stride = H * dqk, c.src_head_stride = dqk;
    gpu::copy_strided(ctx, c, ws.q.get() + dn, ws.qa.get() + rkv);
    attend(layer, S, P);
    // Output per head through W_UV: attn[s, h, :] = W_UV[h] õ[s, h, :], one batched GEMM.
    gpu::BatchedHeadsParams uv;
    uv.heads = H, uv.rows = S, uv.n = dv, uv.k = rkv;
    uv.x_row_stride = H * rkv, uv.x_head_stride = rkv, uv.y_row_stride = H * dv, uv.y_head_stride = dv;
    gpu::linear_batched_heads(ctx, uv, ws.lat_o.get(), L.wuv, ws.attn.get());
  } else {
    attend(layer, S, P);
  }
  emit_device("attn_out", layer, P, {S, H, dv}, ws.attn.get());
  linear(ws.attn.get(), S, L.o, ws.o.get());
  emit_device("o_proj", layer, P, {S, c_.hidden_size}, ws.o.get());
}

}  // namespace dsv32
