// Internal state of Model shared by model.cpp (driver, MLA, indexer) and ffn.cpp (dense MLP, MoE).
// Not part of the public interface.
#pragma once
#include <initializer_list>
#include <vector>

#include "kernels/cpu/rope.h"
#include "kernels/cpu/threadpool.h"
#include "model/model.h"

namespace dsv32 {

// Activations of one forward call (S tokens), resized only when a call is longer than any
// before, so the decode loop (S = 1) never allocates.
struct Workspace {
  std::vector<float> h, x, cq, q, z, kvb, qa, lat_o, attn, o;   // MLA
  std::vector<float> qi, ki, wi, iscores, scores_dump;          // indexer
  std::vector<float> qi_scale;                                  // REF-1: act_quant scales of qi [S, H_I]
  std::vector<int32_t> topk;                                    // [S, index_topk]
  std::vector<int64_t> topk_n;                                  // [S]
  std::vector<float> g, u, ffn;                                 // MLP
  std::vector<float> rlogits, rselect, rweights;                // router
  std::vector<int32_t> rids;                                    // [S, K]
  std::vector<int32_t> expert_rows;                             // tokens per expert, flattened
  std::vector<int32_t> expert_count, expert_offset;             // [E]
  std::vector<float> xg, yg, slot_out;                          // gathered rows, [S, K, D] outputs
  std::vector<float> logits, emit;                              // observer scratch
};

// Per-thread scratch sized by max_ctx at construction.
struct ThreadScratch {
  std::vector<float> probs, scores;
  std::vector<int32_t> order;
};

struct LayerCache {
  std::vector<float> mla;      // absorbed: [T, r_kv + d_r]; naive: [T, H, d_qk] (K)
  std::vector<float> v;        // naive: [T, H, d_v]
  std::vector<float> indexer;  // sparse: [T, d_I]; REF-1: e4m3 values of the quantized key
  std::vector<float> indexer_scale;  // REF-1 sparse: [T] the key's ue8m0 scale k_s
};

struct Model::Impl {
  std::shared_ptr<const ModelWeights> w;
  const ModelConfig& c;
  ModelOptions opt;
  ThreadPool pool;
  RopeTable rope;
  std::vector<LayerCache> cache;
  std::vector<ThreadScratch> scratch;
  Workspace ws;
  int64_t filled = 0;
  const Pins* pins = nullptr;
  const Observer* obs = nullptr;

  Impl(std::shared_ptr<const ModelWeights> weights, const ModelOptions& o);
  void forward(const int32_t* ids, int64_t S, int64_t P, float* logits, int64_t logits_from);
  void attention_block(int layer, int64_t S, int64_t P);   // x -> ws.o   (model.cpp)
  void indexer_select(int layer, int64_t S, int64_t P);    // fills ws.topk (model.cpp)
  void ffn_block(int layer, int64_t S, int64_t P);         // x -> ws.ffn  (ffn.cpp)
  void swiglu(const MlpWeights& m, const float* x, int64_t rows, float* y);  // ffn.cpp

  // Precision points (ref1.cpp; the table of REF-1 points is there). `ref1` is fixed at
  // construction, so every branch on it is per call, never per element.
  bool ref1 = false;
  // y = x·Wᵀ: exact → linear(); REF-1 → fp8_gemm (act_quant, block-promoted fp32, bf16 out) for an
  // F8 weight, linear() then bf16 for any other (REF's bf16 GEMM).
  void proj(const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y, int64_t y_stride);
  void proj(const float* x, int64_t M, const Weight& w, float* y) { proj(x, M, w.cols, w, y, w.rows); }
  // A bf16 rounding point: rounds in place under REF-1, does nothing in the exact profile.
  void round(float* x, int64_t n);
  void round(float* x, int64_t rows, int64_t width, int64_t stride);
  // The residual stream [n] as REF stores it, for the dump: ws.h, or under REF-1 (where ws.h holds
  // the un-rounded sum until the next norm) a bf16 copy when an observer is listening.
  const float* stored_residual(int64_t n);

  // Reports a tensor to the observer (no-op without one). data: [rows, ...shape tail].
  // The shape is an initializer_list so that a call without an observer allocates nothing.
  void emit(const char* name, int layer, int64_t P, std::initializer_list<int64_t> shape, const void* data,
            DType dt = DType::F32, int64_t pad_to = 0, double pad_value = 0);
  // Same for a strided view: rows x heads x width taken from `src` with the given strides.
  void emit_strided(const char* name, int layer, int64_t P, int64_t rows, int64_t heads,
                    int64_t width, const float* src, int64_t row_stride, int64_t head_stride);
};

// Heads per attend_mqa call in absorbed MLA (bounds the per-thread probability scratch).
constexpr int64_t kHeadBlock = 16;

// Zig-zag order for causal work: item i of [0, n) maps to rows 0, n-1, 1, n-2, ... so that the
// static contiguous ranges of ThreadPool get equal shares of short and long rows.
inline int64_t zigzag(int64_t i, int64_t n) { return (i & 1) ? n - 1 - i / 2 : i / 2; }

}  // namespace dsv32
