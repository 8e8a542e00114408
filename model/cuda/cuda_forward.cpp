// CudaForward: construction (weight upload), the workspace, the observer, and the driver loop.
// Shapes per call: S tokens at absolute positions [P, P+S), as in model.cpp.
#include "model/cuda/cuda_forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/mla_decode.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/numeric.h"
#include "model/error.h"

namespace dsv32 {
namespace {

gpu::GemmPrecision to_precision(GpuGemm g) {
  switch (g) {
    case GpuGemm::kFp32: return gpu::GemmPrecision::kFp32;
    case GpuGemm::kBf16: return gpu::GemmPrecision::kBf16;
    case GpuGemm::kFp8: return gpu::GemmPrecision::kFp8;
  }
  return gpu::GemmPrecision::kFp32;
}

}  // namespace

std::unique_ptr<Backend> make_cuda_forward(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt) {
  return std::make_unique<CudaForward>(std::move(weights), opt);
}

CudaForward::CudaForward(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt)
    : w_(std::move(weights)), c_(w_->config), opt_(opt), prec_(to_precision(opt.gpu_gemm)),
      ctx_(nullptr, gpu::context_destroy) {
  if (opt_.numerics != Numerics::kExact)
    fail("--numerics ref1: not available with --device cuda (the CUDA path computes the exact profile; "
         "--gpu-gemm bf16|fp8 chooses its GEMM precision)");
  if (opt_.attn == AttnMode::kSparse && !c_.has_indexer)
    fail(c_.source + ": architecture " + c_.architecture + " has no lightning indexer; use --attn dense");
  if (opt_.max_ctx < 1) fail("context capacity must be at least 1 position");
  if (opt_.max_ctx >= (int64_t(1) << 31)) fail("--ctx: the CUDA path indexes positions with int32");
  std::string why;
  if (!gpu::device_available(&why)) fail("--device cuda: no CUDA device: " + why);
  ctx_.reset(gpu::context_create(0));
  gpu::Context& ctx = *ctx_;

  const int64_t T = opt_.max_ctx, H = c_.n_heads, dn = c_.qk_nope_head_dim, dv = c_.v_head_dim;
  const int64_t rkv = c_.kv_lora_rank, lat = rkv + c_.qk_rope_head_dim;
  const bool absorbed = opt_.mla == MlaMode::kAbsorbed, sparse = opt_.attn == AttnMode::kSparse;
  const bool fast = prec_ != gpu::GemmPrecision::kFp32;  // see the header: fast decode
  fast_mla_ = fast && absorbed && H % 16 == 0 && rkv == gpu::kMlaLatentDim && c_.qk_rope_head_dim == gpu::kMlaRopeDim;
  fast_indexer_ = fast && sparse && c_.index_head_dim % 16 == 0 && c_.index_head_dim <= 256 && c_.index_n_heads <= 64;
  layers_.resize(c_.n_layers);
  for (int l = 0; l < c_.n_layers; ++l) {
    const LayerWeights& L = w_->layers[l];
    LayerDevice& d = layers_[l];
    d.attn_norm = upload(L.attn_norm);
    d.q_a = upload(L.q_a);
    d.q_a_norm = upload(L.q_a_norm);
    d.q_b = upload(L.q_b);
    d.kv_a = upload(L.kv_a);
    d.kv_a_norm = upload(L.kv_a_norm);
    d.kv_b = upload(L.kv_b);
    d.o = upload(L.o);
    if (absorbed) {
      // The per-head products of absorbed MLA as two contiguous [H, ·, ·] arrays, for one
      // strided-batched GEMM each (gpu::linear_batched_heads): W_UKᵀ [H, r_kv, d_n] from
      // LayerWeights::wuk_t, and W_UV [H, d_v, r_kv] dequantized once here from kv_b's rows
      // h·(d_n + d_v) + d_n + i. fp32 under --gpu-gemm fp32 (the exact profile), bf16 otherwise.
      // Memory at V3.2 shapes (H 128, r_kv 512, d_n = d_v = 128): 8.4 M elements each per layer,
      // so 2 × 33.5 MB fp32 = 67 MB per layer, 4.1 GB for 61 layers (bf16: 2.0 GB); W_UV
      // duplicates the half of kv_b (which stays uploaded for the prefill) that it came from.
      if (L.wuk_cols != dn || int64_t(L.wuk_t.size()) != H * rkv * dn)
        fail("layer " + std::to_string(l) + ": W_UKᵀ is not [H, r_kv, d_n]");
      std::vector<float> wuv(size_t(H * dv * rkv));
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < dv; ++i)
          L.kv_b.row_to_f32(h * (dn + dv) + dn + i, 0, rkv, &wuv[size_t((h * dv + i) * rkv)]);
      d.wuk_t = upload_heads(L.wuk_t, H * rkv, dn);
      d.wuv = upload_heads(wuv, H * dv, rkv);
    }
    if (sparse) {
      d.iq_b = upload(L.indexer.wq_b);
      d.ik = upload(L.indexer.wk);
      d.iw = upload(L.indexer.weights_proj);
      d.ik_norm_w = upload(L.indexer.k_norm_w);
      d.ik_norm_b = upload(L.indexer.k_norm_b);
    }
    d.ffn_norm = upload(L.ffn_norm);
    if (!L.is_moe) {
      d.mlp = upload(L.mlp);
    } else {
      d.router = upload(L.router);
      d.router_bias = L.router_bias.empty() ? nullptr : upload(L.router_bias);
      for (const MlpWeights& e : L.experts) d.experts.push_back(upload(e));
      if (L.has_shared) d.shared = upload(L.shared);
    }
  }
  final_norm_ = upload(w_->final_norm);
  lm_head_ = upload(w_->lm_head);

  rope_ = RopeTable(rope_params(c_), T);
  rope_dev_ = std::make_unique<gpu::RopeTableDevice>(ctx, rope_);
  std::vector<int32_t> arange1(T);
  for (int64_t t = 0; t < T; ++t) arange1[t] = int32_t(t + 1);
  arange1_ = gpu::DeviceArray<int32_t>(ctx, arange1);

  cache_.resize(c_.n_layers);
  for (auto& lc : cache_) {
    if (absorbed) {
      lc.mla = gpu::DeviceArray<float>(size_t(T * lat));
    } else {
      lc.mla = gpu::DeviceArray<float>(size_t(T * H * c_.qk_head_dim()));
      lc.v = gpu::DeviceArray<float>(size_t(T * H * dv));
    }
    if (sparse) lc.indexer = gpu::DeviceArray<float>(size_t(T * c_.index_head_dim));
    if (fast_mla_) lc.mla_bf16 = gpu::DeviceArray<uint16_t>(size_t(T * lat));
    if (fast_indexer_) lc.indexer_bf16 = gpu::DeviceArray<uint16_t>(size_t(T * c_.index_head_dim));
  }
  gpu::synchronize(ctx);  // the host vectors above (arange1) must outlive their uploads
}

CudaForward::~CudaForward() = default;

gpu::WeightDevice CudaForward::upload(const Weight& w) { return weight_uploads_.emplace_back(*ctx_, w).view(); }

const float* CudaForward::upload(const std::vector<float>& v) {
  gpu::DeviceArray<float>& d = vector_uploads_.emplace_back(v.size());
  d.upload(*ctx_, v);
  return d.get();
}

// A [rows, cols] fp32 host matrix as F32, or as BF16 (RNE) when the GEMMs are not fp32. Waits for
// the copy: `v` (and the bf16 copy) are host memory that the caller frees.
gpu::WeightDevice CudaForward::upload_heads(const std::vector<float>& v, int64_t rows, int64_t cols) {
  Weight w;
  w.rows = rows;
  w.cols = cols;
  std::vector<uint16_t> bf16;
  if (prec_ == gpu::GemmPrecision::kFp32) {
    w.dtype = DType::F32;
    w.data = v.data();
  } else {
    bf16.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) bf16[i] = f32_to_bf16(v[i]);
    w.dtype = DType::BF16;
    w.data = bf16.data();
  }
  const gpu::WeightDevice d = upload(w);
  gpu::synchronize(*ctx_);
  return d;
}

MlpDevice CudaForward::upload(const MlpWeights& m) { return {upload(m.gate), upload(m.up), upload(m.down)}; }

std::string CudaForward::device_name() const { return gpu::device_name(*ctx_); }

float* CudaForward::mla_cache_row(int, int64_t) {
  fail("mla_cache_row: with --device cuda the KV cache lives in device memory (no host pointer)");
}
float* CudaForward::indexer_cache_row(int, int64_t) {
  fail("indexer_cache_row: with --device cuda the indexer cache lives in device memory (no host pointer)");
}

void CudaForward::linear(const float* x, int64_t M, int64_t x_stride, const gpu::WeightDevice& w, float* y,
                         int64_t y_stride) {
  gpu::linear(*ctx_, x, M, x_stride, w, y, y_stride, prec_);
}

// Grows every device buffer to hold S tokens (never shrinks: after the longest call, including
// the first prefill, decode reuses the same memory). Buffers a mode does not use stay empty.
void CudaForward::reserve(int64_t S) {
  if (S <= ws_.rows) return;
  const int64_t D = c_.hidden_size, H = c_.n_heads, dqk = c_.qk_head_dim(), dn = c_.qk_nope_head_dim;
  const int64_t dv = c_.v_head_dim, rkv = c_.kv_lora_rank, lat = rkv + c_.qk_rope_head_dim;
  const int64_t HI = c_.index_n_heads, dI = c_.index_head_dim, K = c_.index_topk;
  const int64_t E = c_.n_routed_experts, KX = c_.n_experts_per_tok, V = c_.vocab_size, T = opt_.max_ctx;
  const bool absorbed = opt_.mla == MlaMode::kAbsorbed, sparse = opt_.attn == AttnMode::kSparse;
  int64_t I = 0;  // the widest dense MLP (MoE layers use moe_ws_, sized by gpu::moe_experts)
  bool moe = false;
  for (const LayerWeights& L : w_->layers) {
    if (!L.is_moe) I = std::max(I, L.mlp.gate.rows);
    moe |= L.is_moe;
  }
  auto f = [](int64_t n) { return gpu::DeviceArray<float>(size_t(n)); };
  auto i32 = [](int64_t n) { return gpu::DeviceArray<int32_t>(size_t(n)); };
  WorkspaceDevice& ws = ws_;
  ws = WorkspaceDevice{};  // free the old buffers first (cudaFree waits for work that uses them)
  ws.h = f(S * D), ws.x = f(S * D), ws.o = f(S * D), ws.ffn = f(S * D);
  ws.cq = f(S * c_.q_lora_rank), ws.q = f(S * H * dqk), ws.z = f(S * lat), ws.ckv = f(S * rkv);
  ws.attn = f(S * H * dv);
  if (!absorbed) ws.kvb = f(S * H * (dn + dv));
  if (absorbed) ws.qa = f(S * H * lat), ws.lat_o = f(S * H * rkv);
  if (fast_mla_) ws.qa_bf16 = gpu::DeviceArray<uint16_t>(size_t(std::min(S, kFastDecodeMaxTokens) * H * lat));
  if (sparse) {
    ws.qi = f(S * HI * dI), ws.wi = f(S * HI), ws.iscores = f(S * T);
    ws.topk = i32(S * K), ws.topk_n = i32(S);
  }
  ws.g = f(S * I), ws.u = f(S * I);
  if (moe) {
    ws.rlogits = f(S * E), ws.rselect = f(S * E), ws.rweights = f(S * KX);
    ws.rids = i32(S * KX);
  }
  ws.logits = f(S * V);
  ws.rows = S;
}

void CudaForward::emit(const char* name, int layer, int64_t P, std::initializer_list<int64_t> shape,
                       const void* data, DType dt, int64_t pad_to, double pad_value) {
  if (!observed()) return;
  notify(*obs_, name, layer, P, shape, data, dt, pad_to, pad_value);
}

void CudaForward::emit_device(const char* name, int layer, int64_t P, std::initializer_list<int64_t> shape,
                              const void* dev, DType dt) {
  if (!observed()) return;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (dt == DType::I32) {
    host_.emit_i.resize(n);
    gpu::copy_to_host(*ctx_, host_.emit_i.data(), dev, size_t(n) * 4);
    emit(name, layer, P, shape, host_.emit_i.data(), dt);
  } else {
    host_.emit.resize(n);
    gpu::copy_to_host(*ctx_, host_.emit.data(), dev, size_t(n) * 4);
    emit(name, layer, P, shape, host_.emit.data(), dt);
  }
}

void CudaForward::emit_strided(const char* name, int layer, int64_t P, int64_t rows, int64_t heads,
                               int64_t width, const float* src, int64_t row_stride, int64_t head_stride) {
  if (!observed()) return;
  // Download the span the view covers, then pack it as the CPU's emit_strided does.
  const int64_t span = (rows - 1) * row_stride + (heads - 1) * head_stride + width;
  host_.repack.resize(span);
  gpu::copy_to_host(*ctx_, host_.repack.data(), src, size_t(span) * 4);
  host_.emit.resize(rows * heads * width);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h)
      std::memcpy(&host_.emit[(r * heads + h) * width], &host_.repack[r * row_stride + h * head_stride], width * 4);
  if (heads == 1) emit(name, layer, P, {rows, width}, host_.emit.data());
  else emit(name, layer, P, {rows, heads, width}, host_.emit.data());
}

void CudaForward::forward(const int32_t* ids, int64_t S, int64_t P, float* logits, const Observer* obs,
                          int64_t logits_from) {
  const int64_t D = c_.hidden_size, V = c_.vocab_size;
  if (S <= 0) return;
  check_forward_call(c_, opt_, filled_, ids, S, P);
  gpu::Context& ctx = *ctx_;
  obs_ = obs;
  reserve(S);
  WorkspaceDevice& ws = ws_;
  const NormParams np{S, D, c_.rms_norm_eps};

  // Embedding rows gathered on the host, one upload (see the header for why).
  host_.embed.resize(S * D);
  for (int64_t s = 0; s < S; ++s) w_->embed.row_to_f32(ids[s], 0, D, &host_.embed[s * D]);
  gpu::copy_to_device(ctx, ws.h.get(), host_.embed.data(), size_t(S * D) * 4);
  emit("embed", -1, P, {S, D}, host_.embed.data());

  for (int l = 0; l < c_.n_layers; ++l) {
    const LayerDevice& L = layers_[l];
    gpu::rmsnorm(ctx, np, ws.h.get(), L.attn_norm, ws.x.get());
    emit_device("attn_norm", l, P, {S, D}, ws.x.get());
    attention_block(l, S, P);
    gpu::add_inplace(ctx, ws.h.get(), ws.o.get(), S * D);
    gpu::rmsnorm(ctx, np, ws.h.get(), L.ffn_norm, ws.x.get());
    emit_device("ffn_norm", l, P, {S, D}, ws.x.get());
    ffn_block(l, S, P);
    gpu::add_inplace(ctx, ws.h.get(), ws.ffn.get(), S * D);
    emit_device("residual", l, P, {S, D}, ws.h.get());
  }
  filled_ = P + S;

  gpu::rmsnorm(ctx, np, ws.h.get(), final_norm_, ws.x.get());
  emit_device("final_norm", -1, P, {S, D}, ws.x.get());
  const bool dump = observed();
  if ((logits || dump) && (logits_from < 0 || logits_from > S)) fail("forward: logits_from out of range");
  if (logits || dump) {
    const int64_t first = dump ? 0 : logits_from;  // dumps record every position
    linear(ws.x.get() + first * D, S - first, lm_head_, ws.logits.get());
    if (dump) {
      host_.emit.resize(S * V);
      gpu::copy_to_host(ctx, host_.emit.data(), ws.logits.get(), size_t(S * V) * 4);
      emit("logits", -1, P, {S, V}, host_.emit.data());
      if (logits)
        std::memcpy(logits, host_.emit.data() + logits_from * V, size_t((S - logits_from) * V) * sizeof(float));
    } else {
      gpu::copy_to_host(ctx, logits, ws.logits.get(), size_t((S - logits_from) * V) * sizeof(float));
    }
  }
  gpu::synchronize(ctx);  // forward returns when the device is done (honest host timings)
  obs_ = nullptr;
}

}  // namespace dsv32
