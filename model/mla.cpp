// Multi-head Latent Attention (docs/MODEL.md §6) for S tokens: ws.x [S, D] -> ws.o [S, D], in
// both MLA modes; writes this call's cache rows. Every precision point goes through proj/round
// (the numerics table), every op through the backend.
#include "model/layer_program.h"

namespace dsv32 {

// The rows [P, P+S) of this layer's cache from z = [c_KV ; k_rope] (and, naive, kv_b's up-projection).
void LayerProgram::write_cache(int layer, int64_t S, int64_t P) {
  const TpLayer& t = tp_[layer];
  const int64_t H = hl_, dn = c_.qk_nope_head_dim, dr = c_.qk_rope_head_dim, dqk = dn + dr;  // H: this rank's heads
  const int64_t dv = c_.v_head_dim, rkv = c_.kv_lora_rank, lat = rkv + dr;
  LayerCache& lc = cache_[layer];
  const float* z = ws_.z.f();
  if (absorbed_) {
    // The row [c_KV ; k_rope] is exactly the absorbed cache entry.
    ops_->copy({S, 1, lat, lat, 0, lat, 0}, z, lc.mla.f() + P * lat);
    if (bf16_mla_) ops_->to_bf16(lc.mla.f() + P * lat, S, lat, lat, lc.mla_bf16.u16() + P * lat);
    return;
  }
  // Naive: up-project the latents to per-head [K_nope | V] [S, H, d_n + d_v]; K rows get the
  // shared k_rope broadcast into every head (source head stride 0).
  const int64_t kvw = dn + dv;
  float* kvb = ws_.kvb.f();
  proj(Point::kProj, z, S, lat, t.kv_b, kvb, H * kvw);
  float* k = lc.mla.f() + P * H * dqk;
  ops_->copy({S, H, dn, H * dqk, dqk, H * kvw, kvw}, kvb, k);
  ops_->copy({S, H, dr, H * dqk, dqk, lat, 0}, z + rkv, k + dn);
  ops_->copy({S, H, dv, H * dv, dv, H * kvw, kvw}, kvb + dn, lc.v.f() + P * H * dv);
}

void LayerProgram::attention_block(int layer, int64_t S, int64_t P) {
  const LayerWeights& L = w_->layers[layer];
  const TpLayer& t = tp_[layer];  // this rank's heads [h0, h0 + H) under TP (tensor_parallel.cpp)
  const int64_t H = hl_, dn = c_.qk_nope_head_dim, dr = c_.qk_rope_head_dim, dqk = dn + dr;
  const int64_t dv = c_.v_head_dim, rq = c_.q_lora_rank, rkv = c_.kv_lora_rank, lat = rkv + dr;
  const double eps = c_.rms_norm_eps;
  Workspace& ws = ws_;
  float *x = ws.x.f(), *cq = ws.cq.f(), *q = ws.q.f(), *z = ws.z.f(), *attn = ws.attn.f();

  // Queries: c_Q = RMSNorm(q_a x); q = q_b c_Q viewed [S, H, nope | rope]; RoPE on the rope part.
  proj(Point::kProj, x, S, L.q_a, cq);
  ops_->rmsnorm(cq, S, rq, rq, L.q_a_norm, eps, cq, rq);
  round(Point::kLatentNorm, cq, S * rq);
  emit("q_latent", layer, P, {S, rq}, cq);
  proj(Point::kProj, cq, S, t.q_b, q);
  ops_->rope(rope_, RopeLayout::kInterleaved, q + dn, S, H * dqk, H, dqk, P);
  round(Point::kRope, q, S * H * dqk);  // the nope parts are stored already (idempotent)
  if (lay_.tp == 1) {
    emit_strided("q_nope", layer, P, S, H, dn, q, H * dqk, dqk);
    emit_strided("q_rope", layer, P, S, H, dr, q + dn, H * dqk, dqk);
  } else if (observed()) {  // every rank's heads, gathered (collective: every rank observes)
    const int64_t HA = c_.n_heads;
    emit("q_nope", layer, P, {S, HA, dn}, tp_gather_heads(q, S, dn, H * dqk, dqk));
    emit("q_rope", layer, P, {S, HA, dr}, tp_gather_heads(q + dn, S, dr, H * dqk, dqk));
  }

  // Keys: z = kv_a x = [c_raw ; k_rope_raw] [S, r_kv + d_r]; c_KV = RMSNorm(c_raw) in place
  // (rows at stride r_kv + d_r); RoPE on k_rope.
  proj(Point::kProj, x, S, L.kv_a, z);
  ops_->rmsnorm(z, S, rkv, lat, L.kv_a_norm, eps, z, lat);
  ops_->rope(rope_, RopeLayout::kInterleaved, z + rkv, S, lat, 1, dr, P);
  round(Point::kLatentNorm, z, S * lat);  // kv_norm output and the roped k_rope
  emit_strided("kv_latent", layer, P, S, 1, rkv, z, lat, 0);
  emit_strided("k_rope", layer, P, S, 1, dr, z + rkv, lat, 0);
  if (prof_.ckv_fp8) {
    // REF-1 simulates an FP8 latent cache: c_KV ← q·s (act_quant round trip), before caching and
    // before the naive up-projection (whose own act_quant then re-quantizes it losslessly).
    ops_->act_quant_roundtrip(z, S, rkv, lat);
    emit_strided("kv_latent_fp8", layer, P, S, 1, rkv, z, lat, 0);
  }
  write_cache(layer, S, P);
  if (sparse_) indexer_select(layer, S, P);

  // Attention over the cache: naive = MHA over per-head K/V, absorbed = MQA over the latent rows.
  LayerCache& lc = cache_[layer];
  AttendCall a;
  a.p.scale = float(c_.softmax_scale());
  a.core = prof_.attn;
  a.heads = H;
  const int32_t* index = sparse_ ? ws.topk.i() : nullptr;
  const int32_t* count = sparse_ ? ws.topk_n.i() : nullptr;
  if (!absorbed_) {
    a.p.d_k = dqk, a.p.d_v = dv, a.p.key_stride = H * dqk, a.p.value_stride = H * dv;
    a.key_head = dqk, a.value_head = dv;
    ops_->attend(a, q, lc.mla.f(), lc.v.f(), index, count, c_.index_topk, S, P, attn);
  } else {
    // Absorbed queries q̃ = [W_UKᵀ q_nope ; q_rope] per head [S, H, r_kv + d_r], then õ [S, H, r_kv]
    // over the shared latent rows, then O = W_UV õ per head (docs/MODEL.md §6.4).
    const AbsorbedHeads& ah = heads_[layer];
    float *qa = ws.qa.f(), *lat_o = ws.lat_o.f();
    ops_->linear_heads(prof_.rule(Point::kAbsorbQ), ah.wuk, q, S, H * dqk, dqk, qa, H * lat, lat);
    ops_->copy({S, H, dr, H * lat, lat, H * dqk, dqk}, q + dn, qa + rkv);
    a.mqa = true, a.p.d_k = lat, a.p.d_v = rkv, a.p.key_stride = a.p.value_stride = lat, a.p.split = rkv;
    if (bf16_mla_) a.cache_bf16 = lc.mla_bf16.u16();
    ops_->attend(a, qa, lc.mla.f(), lc.mla.f(), index, count, c_.index_topk, S, P, lat_o);
    ops_->linear_heads(prof_.rule(Point::kAbsorbOut), ah.wuv, lat_o, S, H * rkv, rkv, attn, H * dv, dv);
  }
  if (lay_.tp == 1) emit("attn_out", layer, P, {S, H, dv}, attn);
  else if (observed()) emit("attn_out", layer, P, {S, c_.n_heads, dv}, tp_gather_heads(attn, S, dv, H * dv, dv));
  // Under TP this is the partial sum over this rank's heads' columns of o_proj, then reduced.
  proj(Point::kProj, attn, S, t.o, ws.o.f());
  tp_reduce(ws.o.f(), S * c_.hidden_size);
  emit("o_proj", layer, P, {S, c_.hidden_size}, ws.o.f());
}

}  // namespace dsv32
