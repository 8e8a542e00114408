// LayerProgram: the DeepSeek V3.2 forward pass, written once (docs/MODEL.md §5–§9), over the
// backend ops of model/ops.h. Model (model.h) owns one; the backend is chosen by
// ModelOptions::device, the numerics by ModelOptions::numerics (a row of model/numerics.h).
//
// The four modes are resolved once, at construction, into three facts the program reads:
//   cache layout  absorbed: one latent row [r_kv + d_r] per position; naive: K [H, d_qk] + V [H, d_v]
//   selection     dense: the causal prefix; sparse: the lightning indexer's top-k (indexer.cpp)
//   attend        naive: MHA over per-head K/V; absorbed: MQA over the shared latent rows
// Files: layer_program.cpp (construction, driver, emit, pins, logits tail), mla.cpp (attention
// block), indexer.cpp (selection), ffn.cpp (dense MLP and MoE).
//
// Every named tensor goes through emit() (names: model/tensor_names.h); pinned selections
// (dsv32 run --pin-from) are filtered here on the host and handed to the ops; dumps pad index
// rows with -1 (the ops write them padded).
#pragma once
#include <initializer_list>
#include <memory>
#include <vector>

#include "kernels/cpu/rope.h"
#include "model/model.h"
#include "model/ops.h"

namespace dsv32 {

// Activations of one forward call (S tokens), grown only when a call is longer than any before.
struct Workspace {
  int64_t rows = 0;
  Buf h, x, o, ffn;                       // [S, D] residual, norm output, attention out, FFN out
  Buf cq, q, z, kvb, qa, lat_o, attn;     // MLA: c_Q [S, r_q], q [S, H, d_qk], z [S, r_kv + d_r], ...
  Buf qi, ki, wi, qi_scale, iscores;      // indexer: [S, H_I, d_I], [S, d_I], [S, H_I], [S, H_I], [S, E]
  Buf topk, topk_n;                       // [S, index_topk], [S]
  Buf rlogits, rselect, rweights, rids;   // router [S, E_r], [S, E_r], [S, K], [S, K]
  Buf logits;                             // [S, V]
  Buf tp, tp_heads;                       // TP: gathered partials [T, S, D]; gathered heads [S, H, w]
};

struct LayerCache {
  Buf mla;            // absorbed: [T, r_kv + d_r]; naive: [T, H, d_qk] (K)
  Buf v;              // naive: [T, H, d_v]
  Buf indexer;        // sparse: [T, d_I] (REF-1: the e4m3 values of the quantized key)
  Buf indexer_scale;  // REF-1 sparse: [T] the key's ue8m0 scale
  Buf mla_bf16, indexer_bf16;  // decode_bf16_cache profiles: bf16 mirrors written with the rows
};

// Absorbed MLA's per-head matrices (docs/MODEL.md §6.4), formed per the profile's
// AbsorbedWeights column: wuk[h] = W_UKᵀ [r_kv, d_n], wuv[h] = W_UV [d_v, r_kv].
struct AbsorbedHeads {
  std::vector<Weight> wuk, wuv;
  std::vector<float> f32;     // kF32: W_UKᵀ [H, r_kv, d_n] (W_UV are views of kv_b)
  std::vector<uint16_t> bf16; // kBf16: per head [W_UKᵀ | W_UV]
};

// This rank's share of a layer's weights under tensor parallelism (tensor_parallel.cpp): heads
// [h0, h0 + H_loc) of q_b / kv_b (row slices: views of the checkpoint) and the matching columns
// of o_proj; columns [i0, i1) of the dense MLP and the shared expert (gate/up row slices, a
// down_proj column copy). With T = 1 every member is the checkpoint's own view.
struct TpLayer {
  Weight q_b, kv_b, o;
  MlpWeights mlp, shared;
};

class LayerProgram {
 public:
  LayerProgram(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt);
  ~LayerProgram();

  // Model::forward's contract (model.h).
  void forward(const int32_t* ids, int64_t S, int64_t P, float* logits, const Observer* obs, int64_t logits_from);
  int64_t filled() const { return filled_; }
  void set_pins(const Pins* pins) { pins_ = pins; }
  void set_injection(const Injection* inj) { inj_ = inj; }
  float* mla_cache_row(int layer, int64_t pos);
  float* indexer_cache_row(int layer, int64_t pos);
  std::string device_name() const { return ops_->device_name(); }
  const NumericsProfile& numerics() const { return prof_; }

 private:
  // layer_program.cpp
  void reserve(int64_t S, int64_t E);
  void proj(Point pt, const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y, int64_t y_stride);
  void proj(Point pt, const float* x, int64_t M, const Weight& w, float* y) { proj(pt, x, M, w.cols, w, y, w.rows); }
  void round(Point pt, float* x, int64_t n) { round(pt, x, 1, n, n); }
  void round(Point pt, float* x, int64_t rows, int64_t width, int64_t stride);
  bool observed() const { return obs_ && *obs_; }
  // Floats of one position's MLA cache row on this rank: the latent (absorbed) or H_loc·d_qk.
  int64_t mla_row() const { return absorbed_ ? c_.kv_lora_rank + c_.qk_rope_head_dim : hl_ * c_.qk_head_dim(); }
  const void* on_host(const void* p, size_t bytes, std::vector<float>& scratch);
  // Reports a tensor in backend memory (no-op without an observer; copies to the host first where
  // the backend's memory is not the host's).
  void emit(const char* name, int layer, int64_t P, std::initializer_list<int64_t> shape, const void* data,
            DType dt = DType::F32, int64_t pad_to = 0, double pad_value = 0);
  void emit_strided(const char* name, int layer, int64_t P, int64_t rows, int64_t heads, int64_t width,
                    const float* src, int64_t row_stride, int64_t head_stride);
  void emit_residual(int layer, int64_t P, int64_t n);
  void pre_norm(const std::vector<float>& w, const char* name, int layer, int64_t S, int64_t P);
  const std::vector<int32_t>* pinned(const std::vector<std::vector<int32_t>>& by_layer, int layer) const;
  // mla.cpp
  void attention_block(int layer, int64_t S, int64_t P);   // ws.x -> ws.o; writes the cache rows
  void write_cache(int layer, int64_t S, int64_t P);
  // indexer.cpp
  void indexer_select(int layer, int64_t S, int64_t P);    // fills ws.topk, ws.topk_n
  // tensor_parallel.cpp
  void tp_setup();                                          // lay_, h0_, hl_, tp_
  TpLayer tp_layer(const LayerWeights& L);
  Weight cols_copy(const Weight& w, int64_t c0, int64_t n);  // owned in tp_store_
  void tp_reduce(float* y, int64_t n);                      // y = Σ_r partial_r (rank order)
  // A per-head tensor (rows × local heads × width at the strides) with every rank's heads, as a
  // contiguous [rows, H, width] backend buffer (ws.tp_heads); `src` itself when T = 1 and dense.
  const float* tp_gather_heads(const float* src, int64_t rows, int64_t width, int64_t row_stride, int64_t head_stride);
  // ffn.cpp
  void ffn_block(int layer, int64_t S, int64_t P);         // ws.x -> ws.ffn
  void route(int layer, int64_t S, int64_t P);             // router -> ws.rids, ws.rweights

  std::shared_ptr<const ModelWeights> w_;
  const ModelConfig& c_;
  ModelOptions opt_;
  const NumericsProfile& prof_;
  std::unique_ptr<Ops> ops_;
  RankLayout lay_;                  // {1 rank} without --parallel
  int64_t h0_ = 0, hl_ = 0;         // this rank's heads [h0, h0 + hl) (all H when T = 1)
  std::vector<int64_t> tp_heads_;   // heads per TP rank
  std::vector<TpLayer> tp_;         // per layer
  std::vector<std::vector<uint8_t>> tp_store_;  // column copies (o_proj, down_proj slices)
  bool absorbed_, sparse_, bf16_mla_ = false, bf16_indexer_ = false;
  RopeTable rope_;
  std::vector<AbsorbedHeads> heads_;
  std::vector<LayerCache> cache_;
  Workspace ws_;
  // Host scratch (grow-only): emitted tensors, pinned selections, expert ids for the MoE op.
  std::vector<float> host_f_, host_f2_;
  std::vector<int32_t> host_i_, host_i2_, rids_host_;
  int64_t filled_ = 0;
  const Pins* pins_ = nullptr;
  const Injection* inj_ = nullptr;
  const Observer* obs_ = nullptr;
};

}  // namespace dsv32
