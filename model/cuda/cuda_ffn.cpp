// CudaForward: the feed-forward blocks on the GPU (SPEC §8), as Model::Impl::ffn_block (ffn.cpp):
// the dense SwiGLU MLP, and the MoE — router here, then routed experts, shared expert and the
// weighted combine in gpu::moe_experts.
#include <algorithm>

#include "kernels/cpu/moe_route.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/moe_experts.h"
#include "kernels/cuda/moe_route.h"
#include "model/cuda/cuda_forward.h"
#include "model/error.h"

namespace dsv32 {

// y[rows, D] = down(silu(gate x) ⊙ up x), x [rows, D]; intermediates in ws.g / ws.u.
void CudaForward::swiglu(const MlpDevice& m, const float* x, int64_t rows, float* y) {
  const int64_t I = m.gate.rows;
  linear(x, rows, m.gate, ws_.g.get());
  linear(x, rows, m.up, ws_.u.get());
  gpu::swiglu_inplace(*ctx_, ws_.g.get(), ws_.u.get(), rows * I);
  linear(ws_.g.get(), rows, m.down, y);
}

void CudaForward::ffn_block(int layer, int64_t S, int64_t P) {
  const LayerWeights& LW = w_->layers[layer];
  const LayerDevice& L = layers_[layer];
  const int64_t D = c_.hidden_size;
  WorkspaceDevice& ws = ws_;
  if (!LW.is_moe) {
    swiglu(L.mlp, ws.x.get(), S, ws.ffn.get());
    emit_device("ffn_out", layer, P, {S, D}, ws.ffn.get());
    return;
  }
  route(layer, S, P);
  // Routed experts + shared expert + weighted combine in one op (kernels/cuda/moe_experts.h): the
  // pairs are grouped by expert on the device; host_.rids (downloaded by route) gives the GEMM
  // row counts without another synchronisation and is where out-of-range ids are caught.
  gpu::MoeExpertsParams mp;
  mp.tokens = S;
  mp.hidden = D;
  mp.top_k = c_.n_experts_per_tok;
  mp.n_experts = int64_t(L.experts.size());
  mp.prec = prec_;
  gpu::moe_experts(*ctx_, mp, moe_ws_, ws.x.get(), ws.rids.get(), host_.rids.data(), ws.rweights.get(),
                   L.experts.data(), LW.has_shared ? &L.shared : nullptr, ws.ffn.get());
  emit_device("ffn_out", layer, P, {S, D}, ws.ffn.get());
}

// Router: logits = x·W_gateᵀ, then group-limited top-K per token on the device. The expert ids
// come back to the host (S·K int32, the one device→host copy of a MoE layer without an
// observer): moe_experts counts each expert's rows there. Pinned ids replace the computed ones and
// their weights are recomputed on the host from this run's router logits, as on the CPU.
void CudaForward::route(int layer, int64_t S, int64_t P) {
  const LayerDevice& L = layers_[layer];
  gpu::Context& ctx = *ctx_;
  WorkspaceDevice& ws = ws_;
  const int E = c_.n_routed_experts, K = c_.n_experts_per_tok;
  linear(ws.x.get(), S, L.router, ws.rlogits.get());
  const MoeRouteParams rp{E, c_.n_group, c_.topk_group, K, c_.scoring_sigmoid, c_.norm_topk_prob,
                          c_.routed_scaling_factor};
  gpu::moe_route(ctx, rp, S, ws.rlogits.get(), L.router_bias, ws.rids.get(), ws.rweights.get(), ws.rselect.get());
  host_.rids.resize(S * K);
  gpu::copy_to_host(ctx, host_.rids.data(), ws.rids.get(), size_t(S * K) * 4);
  const std::vector<int32_t>* pinned =
      pins_ && layer < int(pins_->expert_ids.size()) && !pins_->expert_ids[layer].empty()
          ? &pins_->expert_ids[layer] : nullptr;
  if (pinned) {
    host_.rlogits.resize(S * E);
    host_.rweights.resize(S * K);
    gpu::copy_to_host(ctx, host_.rlogits.data(), ws.rlogits.get(), size_t(S * E) * 4);
    for (int64_t s = 0; s < S; ++s) {
      int32_t* ids = &host_.rids[s * K];
      const int32_t* row = pinned->data() + (P + s) * pins_->experts_width;
      std::copy(row, row + K, ids);
      std::sort(ids, ids + K);
      moe_route_weights(rp, &host_.rlogits[s * E], ids, &host_.rweights[s * K]);
    }
    gpu::copy_to_device(ctx, ws.rids.get(), host_.rids.data(), size_t(S * K) * 4);
    gpu::copy_to_device(ctx, ws.rweights.get(), host_.rweights.data(), size_t(S * K) * 4);
  }
  emit_device("router_logits", layer, P, {S, E}, ws.rlogits.get());
  emit_device("router_scores", layer, P, {S, E}, ws.rselect.get());
  emit("expert_ids", layer, P, {S, K}, host_.rids.data(), DType::I32);
  emit_device("expert_weights", layer, P, {S, K}, ws.rweights.get());
}

}  // namespace dsv32
