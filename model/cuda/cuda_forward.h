// CudaForward: the forward pass on one GPU (ModelOptions::device = kCuda), plain C++ over the
// gpu:: ops of kernels/cuda. It mirrors the CPU driver (model.cpp, ffn.cpp) step for step: the
// same layer order, the same observer names, shapes and padding, the same pins semantics.
//
// What lives where:
//   device   every matrix (one gpu::WeightUpload each, uploaded once at construction, in its
//            checkpoint dtype), norm vectors and biases, W_UKᵀ [H, r_kv, d_n] and W_UV
//            [H, d_v, r_kv] as contiguous arrays for absorbed MLA (fp32 under --gpu-gemm fp32,
//            bf16 otherwise; cuda_forward.cpp gives the memory cost), the KV caches for max_ctx
//            positions, and a workspace that grows only when a call has more tokens than any
//            before (so decode, S = 1, never allocates)
//   host     the embedding table: the ids' rows are dequantized on the host (Weight::row_to_f32
//            from the memory-mapped checkpoint) and uploaded, S·D floats per call. Uploading the
//            table instead would cost V·D·2 bytes of device memory (1.85 GB at V3.2 shapes) for
//            a gather of a few rows.
// Host ↔ device traffic per forward call: the embedded rows up; per MoE layer the expert ids
// down (S·K int32: gpu::moe_experts sizes each expert's GEMMs from the host copy; the grouping
// itself happens on the device); the requested logits rows down. With an observer, every emitted tensor
// is also downloaded (only then). Pinned selections are uploaded from the host per call.
// forward() returns after the device finished (it synchronizes), so host timings are honest.
//
// Numerics: fp32 activations, fp32 attention and softmax, the CPU's fp32 op definitions; the
// GEMMs at ModelOptions::gpu_gemm (kFp32 = the exact profile up to summation order).
// Fast decode, only when gpu_gemm ≠ fp32 (bf16/fp8 are judged by the bf16 verify profile, which
// already models a bf16 rounding at every stored value): calls of S ≤ kFastDecodeMaxTokens tokens
//   - absorbed MLA with H % 16 == 0, r_kv = 512, d_r = 64: gpu::mla_decode (tensor cores) over a
//     bf16 mirror of the latent cache (c_KV and k_rope rounded to bf16; q̃ and the softmax
//     weights rounded to bf16 inside), dense (causal lengths) or over the top-k lists;
//   - sparse attention with d_I % 16 == 0, d_I ≤ 256, H_I ≤ 64: gpu::indexer_scores_bf16 over a
//     bf16 mirror of the indexer key cache.
// Prefill keeps the fp32 kernels over the fp32 caches (gpu::attend / indexer_scores take fp32
// only). Keeping both copies is the simple correct choice: each written row goes to both (one
// convert_to_bf16 per call), so the mirrors cost +50 % of the cache memory — at V3.2 shapes
// 1152 B (latent) + 256 B (indexer) per position per layer on top of 2304 + 512 B fp32. A bf16
// prefill kernel would let the fp32 caches go.
#pragma once
#include <deque>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/rope.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/moe_experts.h"
#include "kernels/cuda/rope.h"
#include "model/backend.h"

namespace dsv32 {

// gate, up [I, D], down [D, I]: the dense MLP, the shared expert and each routed expert (the
// type gpu::moe_experts takes).
using MlpDevice = gpu::MoeExpertWeights;

struct LayerDevice {
  const float *attn_norm = nullptr, *q_a_norm = nullptr, *kv_a_norm = nullptr, *ffn_norm = nullptr;
  gpu::WeightDevice q_a, q_b, kv_a, kv_b, o;
  gpu::WeightDevice wuk_t;               // [H·r_kv, d_n] = W_UKᵀ per head (absorbed; F32 or BF16)
  gpu::WeightDevice wuv;                 // [H·d_v, r_kv] = W_UV per head, from kv_b (absorbed; F32 or BF16)
  gpu::WeightDevice iq_b, ik, iw;        // indexer wq_b, wk, weights_proj (sparse)
  const float *ik_norm_w = nullptr, *ik_norm_b = nullptr;
  MlpDevice mlp, shared;
  std::vector<MlpDevice> experts;
  gpu::WeightDevice router;
  const float* router_bias = nullptr;  // nullptr when the checkpoint has none
};

struct LayerCacheDevice {
  gpu::DeviceArray<float> mla;      // absorbed: [T, r_kv + d_r]; naive: [T, H, d_qk] (K)
  gpu::DeviceArray<float> v;        // naive: [T, H, d_v]
  gpu::DeviceArray<float> indexer;  // sparse: [T, d_I]
  // Fast decode (CudaForward::fast_mla_ / fast_indexer_): bf16 mirrors of the rows above, written
  // with them; decode reads these, prefill the fp32 rows.
  gpu::DeviceArray<uint16_t> mla_bf16;      // [T, 576]
  gpu::DeviceArray<uint16_t> indexer_bf16;  // [T, d_I]
};

// Device activations for up to `rows` tokens per call (see CudaForward::reserve for the sizes).
struct WorkspaceDevice {
  int64_t rows = 0;
  gpu::DeviceArray<float> h, x, o, ffn;                    // [S, D]
  gpu::DeviceArray<float> cq, q, z, ckv, kvb, qa, lat_o, attn;  // MLA
  gpu::DeviceArray<float> qi, wi, iscores;                 // indexer; iscores [S, max_ctx]
  gpu::DeviceArray<int32_t> topk, topk_n;                  // [S, index_topk], [S]
  gpu::DeviceArray<float> g, u;                            // MLP intermediates [S, I_max]
  gpu::DeviceArray<float> rlogits, rselect, rweights;      // router [S, E], [S, E], [S, K]
  gpu::DeviceArray<int32_t> rids;                          // [S, K]
  gpu::DeviceArray<float> logits;                          // [S, V]
  gpu::DeviceArray<uint16_t> qa_bf16;                      // fast MLA decode: [≤ 4, H, 576]
};

// Host buffers, grow-only (reused every call).
struct HostScratch {
  std::vector<float> embed;            // [S, D] gathered embedding rows
  std::vector<float> emit, repack;     // observer downloads
  std::vector<int32_t> emit_i, rids, topk, topk_n;
  std::vector<float> rlogits, rweights;
};

class CudaForward final : public Backend {
 public:
  CudaForward(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt);
  ~CudaForward() override;

  void forward(const int32_t* ids, int64_t n, int64_t pos, float* logits, const Observer* obs,
               int64_t logits_from) override;
  int64_t filled() const override { return filled_; }
  void set_pins(const Pins* pins) override { pins_ = pins; }
  float* mla_cache_row(int layer, int64_t pos) override;
  float* indexer_cache_row(int layer, int64_t pos) override;
  std::string device_name() const override;

 private:
  // cuda_forward.cpp
  gpu::WeightDevice upload(const Weight& w);
  const float* upload(const std::vector<float>& v);
  MlpDevice upload(const MlpWeights& m);
  gpu::WeightDevice upload_heads(const std::vector<float>& v, int64_t rows, int64_t cols);
  void reserve(int64_t S);
  void linear(const float* x, int64_t M, int64_t x_stride, const gpu::WeightDevice& w, float* y, int64_t y_stride);
  void linear(const float* x, int64_t M, const gpu::WeightDevice& w, float* y) {
    linear(x, M, w.cols, w, y, w.rows);
  }
  bool observed() const { return obs_ && *obs_; }
  // Observer: `data` is host memory. emit_device downloads first (F32 or I32).
  void emit(const char* name, int layer, int64_t P, std::initializer_list<int64_t> shape, const void* data,
            DType dt = DType::F32, int64_t pad_to = 0, double pad_value = 0);
  void emit_device(const char* name, int layer, int64_t P, std::initializer_list<int64_t> shape,
                   const void* dev, DType dt = DType::F32);
  // rows × heads × width taken from the device array `src` with the given strides (floats).
  void emit_strided(const char* name, int layer, int64_t P, int64_t rows, int64_t heads, int64_t width,
                    const float* src, int64_t row_stride, int64_t head_stride);
  // cuda_attention.cpp
  void attention_block(int layer, int64_t S, int64_t P);  // ws.x -> ws.o
  void indexer_select(int layer, int64_t S, int64_t P);   // fills ws.topk, ws.topk_n
  void attend(int layer, int64_t S, int64_t P);           // q (naive) / qa (absorbed) -> attn / lat_o
  bool fast_decode(int64_t S) const { return prec_ != gpu::GemmPrecision::kFp32 && S <= kFastDecodeMaxTokens; }
  // cuda_ffn.cpp
  void ffn_block(int layer, int64_t S, int64_t P);        // ws.x -> ws.ffn
  void swiglu(const MlpDevice& m, const float* x, int64_t rows, float* y);
  void route(int layer, int64_t S, int64_t P);            // router -> ws.rids, rweights (+ host copy)

  std::shared_ptr<const ModelWeights> w_;
  const ModelConfig& c_;
  ModelOptions opt_;
  gpu::GemmPrecision prec_;
  static constexpr int64_t kFastDecodeMaxTokens = 4;  // gpu::mla_decode's query limit
  bool fast_mla_ = false;      // bf16 latent mirror + gpu::mla_decode for decode calls
  bool fast_indexer_ = false;  // bf16 indexer key mirror + gpu::indexer_scores_bf16 for decode calls
  std::unique_ptr<gpu::Context, void (*)(gpu::Context*)> ctx_;
  std::deque<gpu::WeightUpload> weight_uploads_;
  std::deque<gpu::DeviceArray<float>> vector_uploads_;
  std::vector<LayerDevice> layers_;
  const float* final_norm_ = nullptr;
  gpu::WeightDevice lm_head_;
  RopeTable rope_;
  std::unique_ptr<gpu::RopeTableDevice> rope_dev_;
  gpu::DeviceArray<int32_t> arange1_;  // [max_ctx]: t + 1 (causal lengths: arange1_ + P + s)
  std::vector<LayerCacheDevice> cache_;
  WorkspaceDevice ws_;
  gpu::MoeWorkspace moe_ws_;  // gpu::moe_experts' grouped rows and intermediates (grow-only)
  HostScratch host_;
  int64_t filled_ = 0;
  const Pins* pins_ = nullptr;
  const Observer* obs_ = nullptr;
};

}  // namespace dsv32
