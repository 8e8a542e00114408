// The lightning indexer (docs/MODEL.md §7): q/k projections, RoPE on the rope part, Hadamard on
// both, the key cache write, then per query the scores over positions 0..P+s and the top-k into
// ws.topk / ws.topk_n. Under fp8 indexer keys (REF-1) q and k are quantized to e4m3 with ue8m0
// scales: the cache holds the key's e4m3 values and k_s, and a score is k_s·Σ_j ω_j ReLU(q_j·k).
#include <algorithm>
#include <cmath>

#include "model/layer_program.h"

namespace dsv32 {

void LayerProgram::indexer_select(int layer, int64_t S, int64_t P) {
  const IndexerWeights& I = w_->layers[layer].indexer;
  const int64_t HI = c_.index_n_heads, dI = c_.index_head_dim, E = P + S, K = c_.index_topk;
  const RopeLayout layout = c_.indexer_rope_interleave ? RopeLayout::kInterleaved : RopeLayout::kHalf;
  const bool fp8 = prof_.indexer == IndexerKeys::kFp8;
  Workspace& ws = ws_;
  LayerCache& lc = cache_[layer];
  float *qi = ws.qi.f(), *ki = ws.ki.f(), *wi = ws.wi.f();

  proj(Point::kProj, ws.cq.f(), S, I.wq_b, qi);  // [S, H_I, d_I]
  ops_->rope(rope_, layout, qi, S, HI * dI, HI, dI, P);
  round(Point::kRope, qi, S * HI * dI);
  ops_->hadamard(qi, S * HI, dI);
  round(Point::kRope, qi, S * HI * dI);
  proj(Point::kProj, ws.x.f(), S, I.wk, ki);  // [S, d_I]
  ops_->layernorm(ki, S, dI, I.k_norm_w, I.k_norm_b, c_.rms_norm_eps, ki);
  round(Point::kLatentNorm, ki, S * dI);
  ops_->rope(rope_, layout, ki, S, dI, 1, dI, P);
  round(Point::kRope, ki, S * dI);
  ops_->hadamard(ki, S, dI);
  round(Point::kRope, ki, S * dI);
  float* kc = lc.indexer.f();
  // fp8 keys: one ue8m0 scale per 128 values, per key (and per head for q below, d_I ≤ 128).
  if (fp8) ops_->act_quant(ki, S, dI, kc + P * dI, lc.indexer_scale.f() + P);
  else ops_->copy({S, 1, dI, dI, 0, dI, 0}, ki, kc + P * dI);
  if (bf16_indexer_) ops_->to_bf16(kc + P * dI, S, dI, dI, lc.indexer_bf16.u16() + P * dI);
  proj(Point::kAuxProj, ws.x.f(), S, I.weights_proj, wi);  // [S, H_I]
  ops_->scale(wi, S * HI, float(1.0 / std::sqrt(double(HI)) / std::sqrt(double(dI))));
  emit("indexer_q", layer, P, {S, HI, dI}, qi);
  emit("indexer_k", layer, P, {S, dI}, ki);
  emit("indexer_weights", layer, P, {S, HI}, wi);
  if (fp8) {
    // q → e4m3 values in place with one scale per head; ω = w·q_s (a power of two: exact).
    ops_->act_quant(qi, S * HI, dI, qi, ws.qi_scale.f());
    ops_->mul(wi, ws.qi_scale.f(), S * HI);
  }

  // A pinned selection (dsv32 run --pin-from): each row filtered to the positions it can see, here
  // once for every backend.
  const int32_t *pin = nullptr, *pin_n = nullptr;
  if (const std::vector<int32_t>* rows = pins_ ? pinned(pins_->indexer_topk, layer) : nullptr) {
    host_i_.assign(size_t(S * K), -1);
    host_i2_.assign(size_t(S), 0);
    for (int64_t s = 0; s < S; ++s) {
      const int32_t* row = rows->data() + (P + s) * pins_->topk_width;
      const int64_t n = P + s + 1;
      int32_t m = 0;
      for (int64_t j = 0; j < pins_->topk_width && m < K; ++j)
        if (row[j] >= 0 && row[j] < n) host_i_[s * K + m++] = row[j];
      host_i2_[s] = m;
    }
    pin = host_i_.data(), pin_n = host_i2_.data();
  }
  IndexerCall call;
  call.p = {HI, dI, K};
  call.key_scale = fp8 ? lc.indexer_scale.f() : nullptr;
  call.keys_bf16 = bf16_indexer_ ? lc.indexer_bf16.u16() : nullptr;
  const bool dump = observed();
  ops_->indexer_select(call, qi, wi, kc, S, P, pin, pin_n, ws.topk.i(), ws.topk_n.i(), dump ? ws.iscores.f() : nullptr);
  if (dump) {
    emit("indexer_scores", layer, P, {S, E}, ws.iscores.p, DType::F32, TensorEvent::kPadToContext, -INFINITY);
    // Each row's selection padded with -1 to index_topk columns.
    host_i_.resize(size_t(S * K));
    host_i2_.resize(size_t(S));
    ops_->to_host(host_i_.data(), ws.topk.p, size_t(S * K) * 4);  // a copy even on the host: padded below
    ops_->to_host(host_i2_.data(), ws.topk_n.p, size_t(S) * 4);
    for (int64_t s = 0; s < S; ++s) std::fill(host_i_.begin() + s * K + host_i2_[s], host_i_.begin() + (s + 1) * K, -1);
    notify(*obs_, "indexer_topk", layer, P, {S, K}, host_i_.data(), DType::I32);
  }
}

}  // namespace dsv32
