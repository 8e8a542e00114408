// CudaOps: the GPU backend of the layer program (model/ops.h) over kernels/cuda, one device.
//
// What lives where:
//   device  every matrix (uploaded once by prepare(), in its checkpoint dtype), norm vectors and
//           biases, absorbed MLA's per-head W_UKᵀ / W_UV as contiguous [H, ·, ·] arrays for one
//           strided-batched GEMM each (fp32 when the heads are fp32 or F8 views, bf16 when the
//           profile rounds them: 2 × 33.5 MB fp32 per layer at V3.2 shapes), the caches and the
//           activations (ensure()).
//   host    the embedding table: the ids' rows are dequantized on the host from the memory-mapped
//           checkpoint and uploaded, S·D floats per call (uploading the table would cost V·D·2
//           bytes of device memory, 1.85 GB at V3.2 shapes, for a gather of a few rows).
// Host ↔ device traffic per forward call without an observer: the embedded rows up, per MoE
// layer the expert ids down (S·K int32: moe_experts sizes each expert's GEMMs from them), the
// requested logits down. finish() synchronizes, so host timings are honest.
//
// Numerics: the profile's GEMM kinds map onto gpu::GemmPrecision (kernels/cuda/linear.h); the
// elementwise ops are the CPU's fp32 definitions. lacks() names what this backend cannot do yet:
// bf16 storage rounding points, REF-1's fp8_gemm emulation, the REF-1 attention core, FP8
// indexer keys and the c_KV simulation — i.e. the ref1 profile.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/hadamard.h"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/layernorm.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/mla_decode.h"
#include "kernels/cuda/moe_experts.h"
#include "kernels/cuda/moe_route.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/rope.h"
#include "kernels/cuda/rows.h"
#include "kernels/cuda/topk.h"
#include "kernels/numeric.h"
#include "kernels/error.h"
#include "model/ops.h"

namespace dsv32 {
namespace {

// gpu::attend keeps one probability row per query in the context's scratch: [queries, n]. Prefill
// is cut into token chunks so that this stays under 2^28 floats (1 GiB); decode is one chunk.
constexpr int64_t kAttendScratchFloats = int64_t(1) << 28;
constexpr int64_t kFastDecodeMaxTokens = 4;  // gpu::mla_decode's query limit

gpu::GemmPrecision precision(Gemm g) {
  switch (g) {
    case Gemm::kBf16: return gpu::GemmPrecision::kBf16;
    case Gemm::kFp8: return gpu::GemmPrecision::kFp8;
    default: return gpu::GemmPrecision::kFp32;
  }
}

class CudaOps final : public Ops {
 public:
  CudaOps(int64_t max_ctx, int device) : ctx_(nullptr, gpu::context_destroy) {
    if (max_ctx >= (int64_t(1) << 31)) fail("--ctx: the CUDA path indexes positions with int32");
    std::string why;
    if (!gpu::device_available(&why)) fail("--device cuda: no CUDA device: " + why);
    ctx_.reset(gpu::context_create(device));
    std::vector<int32_t> arange1(static_cast<size_t>(max_ctx));
    for (int64_t t = 0; t < max_ctx; ++t) arange1[t] = int32_t(t + 1);
    arange1_ = gpu::DeviceArray<int32_t>(*ctx_, arange1);
    gpu::synchronize(*ctx_);
  }
  ~CudaOps() override { gpu::synchronize(*ctx_); }

  std::string device_name() const override { return gpu::device_name(*ctx_); }
  bool host_memory() const override { return false; }
  std::string lacks(const NumericsProfile& p, const ModelConfig&) const override {
    // f32, bf16 and cuBLASLt fp8 GEMMs and bf16 decode mirrors; none of REF-1's emulation points.
    static constexpr BackendCaps kCaps{"CUDA", {true, true, false, true}, false, false, false};
    return numerics_lacks(p, kCaps);
  }
  bool bf16_mirrors() const override { return true; }

  void ensure(Buf& b, size_t bytes) override {
    if (bytes <= b.bytes) return;
    gpu::device_free(b.p);  // waits for work that uses it
    b.p = gpu::device_alloc(bytes);
    b.bytes = bytes;
  }
  void release(Buf& b) override {
    gpu::device_free(b.p);
    b = Buf{};
  }
  void zero(Buf& b) override {
    if (b.p) gpu::fill(*ctx_, b.f(), int64_t(b.bytes / 4), 0.f);
  }
  void to_host(void* dst, const void* src, size_t bytes) override { gpu::copy_to_host(*ctx_, dst, src, bytes); }
  void to_device(void* dst, const void* src, size_t bytes) override { gpu::copy_to_device(*ctx_, dst, src, bytes); }
  void copy(const Strided& c, const float* src, float* dst) override {
    gpu::StridedCopy s;
    s.rows = c.rows, s.heads = c.heads, s.width = c.width;
    s.dst_row_stride = c.dst_row, s.dst_head_stride = c.dst_head, s.src_row_stride = c.src_row,
    s.src_head_stride = c.src_head;
    gpu::copy_strided(*ctx_, s, src, dst);
  }
  void to_bf16(const float* src, int64_t rows, int64_t cols, int64_t src_stride, uint16_t* dst) override {
    gpu::convert_to_bf16(*ctx_, src, rows, cols, src_stride, dst, cols);
  }
  void finish() override { gpu::synchronize(*ctx_); }

  void prepare(const Weight& w) override {
    if (!weights_.count(&w)) weights_.emplace(&w, gpu::WeightUpload(*ctx_, w));
  }
  void prepare(const std::vector<float>& v) override {
    if (v.empty() || vectors_.count(v.data())) return;
    vectors_.emplace(v.data(), gpu::DeviceArray<float>(*ctx_, v));
  }
  // The heads as one [H·n, k] array (bf16 when they are bf16, else dequantized to fp32).
  void prepare_heads(const std::vector<Weight>& heads) override {
    if (heads.empty() || heads_.count(heads.data())) return;
    const int64_t H = int64_t(heads.size()), n = heads[0].rows, k = heads[0].cols;
    std::vector<float> f(size_t(H * n * k));
    for (int64_t h = 0; h < H; ++h)
      for (int64_t r = 0; r < n; ++r) heads[h].row_to_f32(r, 0, k, &f[(h * n + r) * k]);
    Weight w;
    w.rows = H * n, w.cols = k;
    std::vector<uint16_t> b;
    if (heads[0].dtype == DType::BF16) {
      b.resize(f.size());
      for (size_t i = 0; i < f.size(); ++i) b[i] = f32_to_bf16(f[i]);  // exact: the values are bf16
      w.dtype = DType::BF16, w.data = b.data();
    } else {
      w.dtype = DType::F32, w.data = f.data();
    }
    heads_.emplace(heads.data(), gpu::WeightUpload(*ctx_, w));
    gpu::synchronize(*ctx_);  // f and b are freed on return
  }
  void prepare_rope(const RopeTable& t) override { rope_ = std::make_unique<gpu::RopeTableDevice>(*ctx_, t); }

  void embed(const Weight& table, const int32_t* ids, int64_t S, float* out) override {
    const int64_t D = table.cols;
    embed_.resize(size_t(S * D));
    for (int64_t s = 0; s < S; ++s) table.row_to_f32(ids[s], 0, D, &embed_[s * D]);
    gpu::copy_to_device(*ctx_, out, embed_.data(), size_t(S * D) * 4);
  }

  void linear(const Rule& r, const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
              int64_t y_stride) override {
    gpu::linear(*ctx_, x, M, x_stride, dev(w), y, y_stride, precision(r.gemm_for(w.dtype == DType::F8_E4M3)));
  }
  void linear_heads(const Rule&, const std::vector<Weight>& heads, const float* x, int64_t S, int64_t x_row,
                    int64_t x_head, float* y, int64_t y_row, int64_t y_head) override {
    auto it = heads_.find(heads.data());
    if (it == heads_.end()) fail("CudaOps: per-head weights used before prepare_heads");
    gpu::BatchedHeadsParams p;
    p.heads = int64_t(heads.size()), p.rows = S, p.n = heads[0].rows, p.k = heads[0].cols;
    p.x_row_stride = x_row, p.x_head_stride = x_head, p.y_row_stride = y_row, p.y_head_stride = y_head;
    gpu::linear_batched_heads(*ctx_, p, x, it->second.view(), y);
  }
  void round_bf16(float*, int64_t, int64_t, int64_t) override { fail("CudaOps: no bf16 rounding point (lacks())"); }

  // gpu::rmsnorm takes contiguous rows: a strided view goes through a packed copy.
  void rmsnorm(const float* x, int64_t rows, int64_t dim, int64_t x_stride, const std::vector<float>& w, double eps,
               float* y, int64_t y_stride) override {
    if (x_stride == dim && y_stride == dim) {
      gpu::rmsnorm(*ctx_, {rows, dim, eps}, x, vec(w), y);
      return;
    }
    ensure(norm_, size_t(rows * dim) * 4);
    copy({rows, 1, dim, dim, 0, x_stride, 0}, x, norm_.f());
    gpu::rmsnorm(*ctx_, {rows, dim, eps}, norm_.f(), vec(w), norm_.f());
    copy({rows, 1, dim, y_stride, 0, dim, 0}, norm_.f(), y);
  }
  void layernorm(const float* x, int64_t rows, int64_t dim, const std::vector<float>& w, const std::vector<float>& b,
                 double eps, float* y) override {
    gpu::layernorm(*ctx_, {rows, dim, eps}, x, vec(w), vec(b), y);
  }
  void rope(const RopeTable&, RopeLayout layout, float* x, int64_t rows, int64_t x_stride, int64_t heads,
            int64_t head_stride, int64_t pos0) override {
    gpu::rope_apply(*ctx_, *rope_, layout, x, rows, x_stride, heads, head_stride, pos0);
  }
  void hadamard(float* x, int64_t count, int64_t n) override { gpu::hadamard_rotate(*ctx_, x, count, n); }
  void act_quant(const float*, int64_t, int64_t, float*, float*) override {
    fail("CudaOps: no FP8 indexer keys (lacks())");
  }
  void act_quant_roundtrip(float*, int64_t, int64_t, int64_t) override { fail("CudaOps: no c_KV simulation (lacks())"); }
  void add(float* y, const float* x, int64_t n) override { gpu::add_inplace(*ctx_, y, x, n); }
  void mul(float*, const float*, int64_t) override { fail("CudaOps: no elementwise product (only FP8 indexer keys use it)"); }
  void scale(float* x, int64_t n, float s) override { gpu::scale_inplace(*ctx_, x, n, s); }

  void mlp(const MlpRules& r, const MlpWeights& m, const float* x, int64_t rows, float* y) override {
    const int64_t I = m.gate.rows;
    ensure(g_, size_t(rows * I) * 4);
    ensure(u_, size_t(rows * I) * 4);
    linear(r.proj, x, rows, m.gate.cols, m.gate, g_.f(), I);
    linear(r.proj, x, rows, m.up.cols, m.up, u_.f(), I);
    gpu::swiglu_inplace(*ctx_, g_.f(), u_.f(), rows * I);
    linear(r.proj, g_.f(), rows, m.down.cols, m.down, y, m.down.rows);
  }

  void indexer_select(const IndexerCall& c, const float* q, const float* w, const float* keys, int64_t S, int64_t P,
                      const int32_t* pinned, const int32_t* pinned_count, int32_t* topk, int32_t* count,
                      float* scores) override;
  void attend(const AttendCall& a, const float* q, const float* keys, const float* values, const int32_t* index,
              const int32_t* count, int64_t index_stride, int64_t S, int64_t P, float* out) override;

  void moe_route(const MoeRouteParams& p, int64_t S, const float* logits, const std::vector<float>& bias,
                 int32_t* ids, float* weights, float* select) override {
    gpu::moe_route(*ctx_, p, S, logits, bias.empty() ? nullptr : vec(bias), ids, weights, select);
  }
  void moe_experts(const MoeCall& m, const float* x, const int32_t* ids, const int32_t* ids_host,
                   const float* weights, float* y) override {
    // With an expert block (MoeCall::expert_hi ≥ 0) only the block was prepared (uploaded); the
    // other entries stay empty and are never read.
    const int64_t lo = m.expert_hi < 0 ? 0 : m.expert_lo, hi = m.expert_hi < 0 ? m.n_experts : m.expert_hi;
    std::vector<gpu::MoeExpertWeights>& e = experts_[m.experts];
    if (e.empty()) {
      e.resize(size_t(m.n_experts));
      for (int64_t i = lo; i < hi; ++i) e[size_t(i)] = dev(m.experts[i]);
    }
    gpu::MoeExpertWeights shared;
    if (m.shared) shared = dev(*m.shared);
    gpu::MoeExpertsParams p;
    p.tokens = m.tokens, p.hidden = m.hidden, p.top_k = m.top_k, p.n_experts = m.n_experts;
    p.expert_lo = m.expert_lo, p.expert_hi = m.expert_hi;
    p.prec = precision(m.rules.proj.gemm_for(m.n_experts > 0 && m.experts[lo].gate.dtype == DType::F8_E4M3));
    const gpu::MoeExchange exchange = m.exchange;
    gpu::moe_experts(*ctx_, p, moe_ws_, x, ids, ids_host, weights, e.data(), m.shared ? &shared : nullptr, y,
                     m.expert_hi >= 0 ? &exchange : nullptr);
  }

 private:
  const gpu::WeightDevice& dev(const Weight& w) const {
    auto it = weights_.find(&w);
    if (it == weights_.end()) fail("CudaOps: weight used before prepare()");
    return it->second.view();
  }
  gpu::MoeExpertWeights dev(const MlpWeights& m) const { return {dev(m.gate), dev(m.up), dev(m.down)}; }
  const float* vec(const std::vector<float>& v) const {
    auto it = vectors_.find(v.data());
    if (it == vectors_.end()) fail("CudaOps: vector used before prepare()");
    return it->second.get();
  }

  std::unique_ptr<gpu::Context, void (*)(gpu::Context*)> ctx_;
  std::unordered_map<const Weight*, gpu::WeightUpload> weights_;
  std::unordered_map<const float*, gpu::DeviceArray<float>> vectors_;
  std::unordered_map<const Weight*, gpu::WeightUpload> heads_;
  std::unordered_map<const MlpWeights*, std::vector<gpu::MoeExpertWeights>> experts_;
  std::unique_ptr<gpu::RopeTableDevice> rope_;
  gpu::DeviceArray<int32_t> arange1_;  // [max_ctx]: t + 1 (causal lengths: arange1_ + P + s)
  gpu::MoeWorkspace moe_ws_;           // gpu::moe_experts' grouped rows and intermediates (grow-only)
  Buf norm_, g_, u_, iscores_, qa_bf16_;
  std::vector<float> embed_;
};

// Scores [S, E] of every query against every key (query s only sees u ≤ P + s: topk reads the
// first P + s + 1 of its row, and the dump copy masks the rest); decode over a bf16 key mirror
// runs on tensor cores (q rounded to bf16 there too).
void CudaOps::indexer_select(const IndexerCall& c, const float* q, const float* w, const float* keys, int64_t S,
                             int64_t P, const int32_t* pinned, const int32_t* pinned_count, int32_t* topk,
                             int32_t* count, float* scores) {
  const int64_t E = P + S, K = c.p.topk;
  if (!pinned || scores) {
    float* sc = scores;
    if (!sc) ensure(iscores_, size_t(S * E) * 4), sc = iscores_.f();
    if (c.keys_bf16 && S <= kFastDecodeMaxTokens)
      gpu::indexer_scores_bf16(*ctx_, c.p, q, w, c.keys_bf16, E, sc, S, E);
    else
      gpu::indexer_scores(*ctx_, c.p, q, w, keys, E, sc, S, E);
    if (!pinned) {
      gpu::TopkParams tp;
      tp.rows = S, tp.n = E, tp.k = K, tp.scores_stride = E, tp.out_stride = K;
      gpu::topk(*ctx_, tp, sc, arange1_.get() + P, topk, count);
    }
    if (scores)  // dump path only: -inf past each query's visible prefix
      for (int64_t s = 0; s + 1 < S; ++s) gpu::fill(*ctx_, scores + s * E + P + s + 1, S - s - 1, -INFINITY);
  }
  if (pinned) {
    to_device(topk, pinned, size_t(S * K) * 4);
    to_device(count, pinned_count, size_t(S) * 4);
  }
}

// Attention of this call's queries over the cache. Query i of a chunk is token i / H, head i % H;
// a token's positions are the causal prefix (dense) or its top-k row (sparse). Decode over a bf16
// latent mirror (MQA, S ≤ 4) takes the tensor-core gpu::mla_decode.
void CudaOps::attend(const AttendCall& a, const float* q, const float* keys, const float* values,
                     const int32_t* index, const int32_t* count, int64_t index_stride, int64_t S, int64_t P,
                     float* out) {
  const int64_t H = a.heads, K = index_stride, dk = a.p.d_k;
  if (a.mqa && a.cache_bf16 && S <= kFastDecodeMaxTokens) {
    ensure(qa_bf16_, size_t(S * H * dk) * 2);
    gpu::convert_to_bf16(*ctx_, q, S * H, dk, dk, qa_bf16_.u16(), dk);
    gpu::MlaDecodeParams mp;
    mp.heads = H, mp.n_queries = S, mp.n = index ? std::min(K, P + S) : P + S;
    mp.index_stride = index ? K : 0, mp.cache_stride = a.p.key_stride, mp.scale = a.p.scale;
    gpu::mla_decode(*ctx_, mp, qa_bf16_.u16(), a.cache_bf16, index, index ? count : arange1_.get() + P, out);
    return;
  }
  gpu::AttendBatchParams p =
      a.mqa ? gpu::mqa_params(H, dk, a.p.d_v, a.p.scale) : gpu::mha_params(H, dk, a.p.d_v, a.p.scale);
  p.index_stride = K;
  const int64_t chunk = std::max<int64_t>(1, kAttendScratchFloats / (H * (P + S)));
  for (int64_t s0 = 0; s0 < S; s0 += chunk) {
    const int64_t s1 = std::min(S, s0 + chunk);
    p.n_queries = (s1 - s0) * H;
    const int32_t* idx = index ? index + s0 * K : nullptr;
    const int32_t* lengths = index ? count + s0 : arange1_.get() + P + s0;
    const int64_t n = index ? std::min(K, P + s1) : P + s1;  // the longest row of the chunk
    gpu::attend(*ctx_, p, q + s0 * H * p.q_stride, keys, values, idx, lengths, n, out + s0 * H * p.out_stride);
  }
}

}  // namespace

std::unique_ptr<Ops> make_cuda_ops(int64_t max_ctx, int device) { return std::make_unique<CudaOps>(max_ctx, device); }

}  // namespace dsv32
