// LayerProgram: construction (modes resolved, weights prepared, caches sized), the driver loop,
// emit, pins and the logits tail. Shapes per call: S tokens at absolute positions [P, P+S).
#include "model/layer_program.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/round_bf16.h"
#include "model/model.h"
#include "kernels/error.h"

namespace dsv32 {

namespace {

// Absorbed MLA's per-head weights from kv_b (rows h·(d_n + d_v) + [0, d_n) are W_UK[h], the next
// d_v rows W_UV[h]). W_UKᵀ needs a transposed copy (a per-head transpose of 128×128-block scales
// is not block-aligned in general): H·r_kv·d_n values per layer, 32 MiB fp32 at V3.2 shapes.
//   kF32  W_UKᵀ = code·scale in fp32; W_UV = views of kv_b (dequantized on the fly, never copied)
//   kBf16 both rounded to bf16 once, as the official code's weight_dequant returns them; with
//         power-of-two scales the rounding is exact, so the two rules agree bit for bit there.
// kv_b: this rank's heads (the whole matrix in one process; a row slice under TP), H of them.
AbsorbedHeads absorbed_heads(const Weight& kv_b, int64_t H, const ModelConfig& c, AbsorbedWeights how) {
  const int64_t dn = c.qk_nope_head_dim, dv = c.v_head_dim, rkv = c.kv_lora_rank;
  const bool bf16 = how == AbsorbedWeights::kBf16;
  const int64_t uk_size = rkv * dn, per_head = uk_size + (bf16 ? dv * rkv : 0);
  AbsorbedHeads a;
  if (bf16) a.bf16.resize(size_t(H * per_head));  // per head [W_UKᵀ | W_UV]
  else a.f32.resize(size_t(H * per_head));
  std::vector<float> row(rkv);
  auto store = [&](int64_t i, float v) { bf16 ? void(a.bf16[i] = f32_to_bf16(v)) : void(a.f32[i] = v); };
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t d = 0; d < dn; ++d) {  // W_UKᵀ[h][c][d] = kv_b[h·(d_n+d_v) + d][c]
      kv_b.row_to_f32(h * (dn + dv) + d, 0, rkv, row.data());
      for (int64_t k = 0; k < rkv; ++k) store(h * per_head + k * dn + d, row[k]);
    }
    for (int64_t i = 0; bf16 && i < dv; ++i) {
      kv_b.row_to_f32(h * (dn + dv) + dn + i, 0, rkv, row.data());
      for (int64_t k = 0; k < rkv; ++k) store(h * per_head + uk_size + i * rkv + k, row[k]);
    }
    Weight uk;
    uk.dtype = bf16 ? DType::BF16 : DType::F32;
    uk.rows = rkv, uk.cols = dn;
    uk.data = bf16 ? static_cast<const void*>(&a.bf16[h * per_head]) : &a.f32[h * per_head];
    a.wuk.push_back(uk);
    if (!bf16) {
      a.wuv.push_back(kv_b.rows_slice(h * (dn + dv) + dn, dv));
      continue;
    }
    Weight uv = uk;
    uv.rows = dv, uv.cols = rkv, uv.data = &a.bf16[h * per_head + uk_size];
    a.wuv.push_back(uv);
  }
  return a;
}

// Every matrix this rank reads: t holds its TP share of the attention and MLP weights (the
// checkpoint's own views when T = 1).
template <class F>
// `experts`: the routed experts [first, second) this rank holds (expert parallelism: its block).
void for_each_weight(const LayerWeights& L, const TpLayer& t, bool sparse, std::pair<int64_t, int64_t> experts, F&& f) {
  f(L.q_a), f(t.q_b), f(L.kv_a), f(t.kv_b), f(t.o);
  if (sparse) f(L.indexer.wq_b), f(L.indexer.wk), f(L.indexer.weights_proj);
  auto mlp = [&](const MlpWeights& m) { f(m.gate), f(m.up), f(m.down); };
  if (!L.is_moe) mlp(t.mlp);
  if (L.is_moe) {
    f(L.router);
    for (int64_t e = experts.first; e < experts.second; ++e) mlp(L.experts[size_t(e)]);
    if (L.has_shared) mlp(t.shared);
  }
}

}  // namespace

LayerProgram::LayerProgram(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt)
    : w_(std::move(weights)), c_(w_->config), opt_(opt), prof_(numerics_profile(opt.numerics)),
      absorbed_(opt.mla == MlaMode::kAbsorbed), sparse_(opt.attn == AttnMode::kSparse) {
  if (sparse_ && !c_.has_indexer)
    fail(c_.source + ": architecture " + c_.architecture + " has no lightning indexer; use --attn dense");
  if (opt_.max_ctx < 1) fail("context capacity must be at least 1 position");
  if (prof_.indexer == IndexerKeys::kFp8 && c_.has_indexer && c_.index_head_dim > 128)
    fail(c_.source + ": --numerics " + prof_.name + " needs index_head_dim <= 128 (one FP8 scale per indexer head)");
  tp_setup();
  if (lay_.ep > 1 && lay_.ep > c_.n_routed_experts)
    fail(c_.source + ": n_routed_experts: " + std::to_string(c_.n_routed_experts) + " experts cannot be split over " +
         std::to_string(lay_.ep) + " ranks (--parallel ep needs at most one rank per expert)");
  ops_ = make_ops(opt_.device == Device::kCuda, opt_.threads, opt_.max_ctx, opt_.parallel, opt_.tp, opt_.ep);
  if (const std::string why = ops_->lacks(prof_, c_); !why.empty())
    fail("--numerics " + std::string(prof_.name) + ": " + why);
  // The bf16 cache mirrors are a profile column; they are kept only on a backend that reads them
  // and where its decode kernels take this config's shapes (kernels/cuda/mla_decode.h, indexer.h); otherwise decode
  // reads the fp32 rows.
  const int64_t T = opt_.max_ctx, H = hl_, lat = c_.kv_lora_rank + c_.qk_rope_head_dim;  // H: this rank's heads
  if (prof_.decode_bf16_cache && ops_->bf16_mirrors()) {
    bf16_mla_ = absorbed_ && H % 16 == 0 && c_.kv_lora_rank == 512 &&
                c_.qk_rope_head_dim == 64;
    bf16_indexer_ = sparse_ && c_.index_head_dim % 16 == 0 && c_.index_head_dim <= 256 && c_.index_n_heads <= 64;
  }

  for (size_t l = 0; l < w_->layers.size(); ++l) {
    const LayerWeights& L = w_->layers[l];
    // Under expert parallelism a backend with its own memory (the GPU) uploads only this rank's
    // block of routed experts (model/mpi/nccl_ops.cpp computes only those).
    const int64_t X = int64_t(L.experts.size());
    const auto block = lay_.ep > 1 ? expert_block(X, lay_.ep, lay_.ep_rank) : std::pair<int64_t, int64_t>{0, X};
    for_each_weight(L, tp_[l], sparse_, block, [&](const Weight& x) { ops_->prepare(x); });
    for (const std::vector<float>* v : {&L.attn_norm, &L.q_a_norm, &L.kv_a_norm, &L.ffn_norm})
      ops_->prepare(*v);
    if (sparse_) ops_->prepare(L.indexer.k_norm_w), ops_->prepare(L.indexer.k_norm_b);
    if (L.is_moe && !L.router_bias.empty()) ops_->prepare(L.router_bias);
    if (absorbed_) {
      heads_.push_back(absorbed_heads(tp_[l].kv_b, hl_, c_, prof_.absorbed));
      ops_->prepare_heads(heads_.back().wuk);
      ops_->prepare_heads(heads_.back().wuv);
    }
  }
  ops_->prepare(w_->final_norm);
  ops_->prepare(w_->lm_head);
  rope_ = RopeTable(rope_params(c_), T);
  ops_->prepare_rope(rope_);

  cache_.resize(c_.n_layers);
  for (LayerCache& lc : cache_) {
    ops_->ensure(lc.mla, size_t(T * mla_row()) * 4);
    ops_->zero(lc.mla);
    if (!absorbed_) ops_->ensure(lc.v, size_t(T * H * c_.v_head_dim) * 4), ops_->zero(lc.v);
    if (sparse_) ops_->ensure(lc.indexer, size_t(T * c_.index_head_dim) * 4), ops_->zero(lc.indexer);
    if (sparse_ && prof_.indexer == IndexerKeys::kFp8) ops_->ensure(lc.indexer_scale, size_t(T) * 4);
    if (bf16_mla_) ops_->ensure(lc.mla_bf16, size_t(T * lat) * 2);
    if (bf16_indexer_) ops_->ensure(lc.indexer_bf16, size_t(T * c_.index_head_dim) * 2);
  }
  ops_->finish();  // uploads read host memory that the caller may free
}

LayerProgram::~LayerProgram() {
  auto free_all = [&](std::initializer_list<Buf*> bufs) {
    for (Buf* b : bufs) ops_->release(*b);
  };
  for (LayerCache& lc : cache_)
    free_all({&lc.mla, &lc.v, &lc.indexer, &lc.indexer_scale, &lc.mla_bf16, &lc.indexer_bf16});
  Workspace& ws = ws_;
  free_all({&ws.h, &ws.x, &ws.o, &ws.ffn, &ws.cq, &ws.q, &ws.z, &ws.kvb, &ws.qa, &ws.lat_o, &ws.attn, &ws.qi, &ws.ki,
            &ws.wi, &ws.qi_scale, &ws.iscores, &ws.topk, &ws.topk_n,
            &ws.rlogits, &ws.rselect, &ws.rweights, &ws.rids, &ws.logits, &ws.tp, &ws.tp_heads});
}

// Grows every activation buffer to S tokens and E visible positions (grow-only: decode after
// the first prefill reuses them). Buffers a mode does not use stay empty.
void LayerProgram::reserve(int64_t S, int64_t E) {
  const int64_t D = c_.hidden_size, H = hl_, dqk = c_.qk_head_dim(), dn = c_.qk_nope_head_dim;  // H: this rank's
  const int64_t dv = c_.v_head_dim, rkv = c_.kv_lora_rank, lat = rkv + c_.qk_rope_head_dim;
  const int64_t HI = c_.index_n_heads, dI = c_.index_head_dim, K = c_.index_topk;
  const int64_t ER = c_.n_routed_experts, KX = c_.n_experts_per_tok;
  Workspace& ws = ws_;
  auto f = [&](Buf& b, int64_t n) { ops_->ensure(b, size_t(n) * 4); };
  for (Buf* b : {&ws.h, &ws.x, &ws.o, &ws.ffn}) f(*b, S * D);
  f(ws.cq, S * c_.q_lora_rank), f(ws.q, S * H * dqk), f(ws.z, S * lat), f(ws.attn, S * H * dv);
  if (!absorbed_) f(ws.kvb, S * H * (dn + dv));
  if (absorbed_) f(ws.qa, S * H * lat), f(ws.lat_o, S * H * rkv);
  if (sparse_) {
    f(ws.qi, S * HI * dI), f(ws.ki, S * dI), f(ws.wi, S * HI), f(ws.topk, S * K), f(ws.topk_n, S);
    if (prof_.indexer == IndexerKeys::kFp8) f(ws.qi_scale, S * HI);
    if (observed()) f(ws.iscores, S * E);
  }
  if (c_.n_routed_experts > 0) f(ws.rlogits, S * ER), f(ws.rselect, S * ER), f(ws.rweights, S * KX), f(ws.rids, S * KX);
}

void LayerProgram::proj(Point pt, const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
                        int64_t y_stride) {
  ops_->linear(prof_.rule(pt), x, M, x_stride, w, y, y_stride);
}

void LayerProgram::round(Point pt, float* x, int64_t rows, int64_t width, int64_t stride) {
  if (prof_.stores_bf16(pt)) ops_->round_bf16(x, rows, width, stride);
}

// p (backend memory, `bytes` long) readable on the host: p itself on a host backend, else a copy
// in `scratch`.
const void* LayerProgram::on_host(const void* p, size_t bytes, std::vector<float>& scratch) {
  if (ops_->host_memory()) return p;
  scratch.resize((bytes + 3) / 4);
  ops_->to_host(scratch.data(), p, bytes);
  return scratch.data();
}

void LayerProgram::emit(const char* name, int layer, int64_t P, std::initializer_list<int64_t> shape,
                        const void* data, DType dt, int64_t pad_to, double pad_value) {
  if (!observed()) return;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  notify(*obs_, name, layer, P, shape, on_host(data, size_t(n) * 4, host_f_), dt, pad_to, pad_value);  // F32, I32
}

void LayerProgram::emit_strided(const char* name, int layer, int64_t P, int64_t rows, int64_t heads, int64_t width,
                                const float* src, int64_t row_stride, int64_t head_stride) {
  if (!observed()) return;
  const int64_t span = (rows - 1) * row_stride + (heads - 1) * head_stride + width;
  const float* base = static_cast<const float*>(on_host(src, size_t(span) * 4, host_f_));
  host_f2_.resize(size_t(rows * heads * width));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h)
      std::memcpy(&host_f2_[(r * heads + h) * width], base + r * row_stride + h * head_stride, width * 4);
  if (heads == 1) notify(*obs_, name, layer, P, {rows, width}, host_f2_.data());
  else notify(*obs_, name, layer, P, {rows, heads, width}, host_f2_.data());
}

// The residual stream as the profile stores it: under a bf16 residual point ws.h holds the
// un-rounded sum until the next norm rounds it, so the dump gets a rounded copy.
void LayerProgram::emit_residual(int layer, int64_t P, int64_t S) {
  if (!observed()) return;
  const int64_t n = S * c_.hidden_size;
  const float* h = static_cast<const float*>(on_host(ws_.h.p, size_t(n) * 4, host_f2_));
  if (prof_.stores_bf16(Point::kResidual)) {
    if (h != host_f2_.data()) host_f2_.assign(h, h + n);
    dsv32::round_bf16(host_f2_.data(), n);
    h = host_f2_.data();
  }
  notify(*obs_, "residual", layer, P, {S, c_.hidden_size}, h);
}

const std::vector<int32_t>* LayerProgram::pinned(const std::vector<std::vector<int32_t>>& by_layer, int layer) const {
  return layer < int(by_layer.size()) && !by_layer[layer].empty() ? &by_layer[layer] : nullptr;
}

// x = RMSNorm(h) before a block. A bf16 residual point normalises the un-rounded fp32 sum, then
// stores both the sum and the norm output as bf16 (docs/MODEL.md §4.1).
void LayerProgram::pre_norm(const std::vector<float>& w, const char* name, int layer, int64_t S, int64_t P) {
  const int64_t D = c_.hidden_size;
  float *h = ws_.h.f(), *x = ws_.x.f();
  ops_->rmsnorm(h, S, D, D, w, c_.rms_norm_eps, x, D);
  round(Point::kNormOut, x, S * D);
  round(Point::kResidual, h, S * D);
  emit(name, layer, P, {S, D}, x);
}

void LayerProgram::forward(const int32_t* ids, int64_t S, int64_t P, float* logits, const Observer* obs,
                           int64_t logits_from) {
  const int64_t D = c_.hidden_size, V = c_.vocab_size;
  if (S <= 0) return;
  check_forward_call(c_, opt_, filled_, ids, S, P);
  obs_ = obs;
  reserve(S, P + S);
  Workspace& ws = ws_;
  float *h = ws.h.f(), *x = ws.x.f();
  comm_mark(-1);  // the benchmarks' per-layer time and communication split (model/parallel.h)
  ops_->embed(w_->embed, ids, S, h);
  round(Point::kEmbed, h, S * D);
  emit("embed", -1, P, {S, D}, h);
  for (int l = 0; l < c_.n_layers; ++l) {
    const LayerWeights& L = w_->layers[l];
    comm_mark(l);
    if (inj_ && l < int(inj_->input.size()) && !inj_->input[l].empty()) {
      if (int64_t(inj_->input[l].size()) < (P + S) * D)
        fail(inj_->source + ": layer " + std::to_string(l) + " input has " +
             std::to_string(inj_->input[l].size() / D) + " positions, the run needs " + std::to_string(P + S));
      ops_->to_device(h, inj_->input[l].data() + P * D, size_t(S * D) * 4);
    }
    pre_norm(L.attn_norm, "attn_norm", l, S, P);
    attention_block(l, S, P);
    ops_->add(h, ws.o.f(), S * D);
    pre_norm(L.ffn_norm, "ffn_norm", l, S, P);
    ffn_block(l, S, P);
    ops_->add(h, ws.ffn.f(), S * D);
    emit_residual(l, P, S);
  }
  filled_ = P + S;
  comm_mark(-1);

  ops_->rmsnorm(h, S, D, D, w_->final_norm, c_.rms_norm_eps, x, D);
  round(Point::kNormOut, x, S * D);
  emit("final_norm", -1, P, {S, D}, x);
  const bool dump = observed();
  if (logits || dump) {
    if (logits_from < 0 || logits_from > S) fail("forward: logits_from out of range");
    const int64_t first = dump ? 0 : logits_from;  // dumps record every position
    // On a host backend the requested rows go straight into the caller's array.
    float* out = logits && !dump && ops_->host_memory() ? logits : nullptr;
    if (!out) {
      ops_->ensure(ws.logits, size_t((S - first) * V) * 4);
      out = ws.logits.f();
    }
    proj(Point::kAuxProj, x + first * D, S - first, w_->lm_head, out);
    emit("logits", -1, P, {S, V}, out);
    if (logits && out != logits)
      ops_->to_host(logits, out + (logits_from - first) * V, size_t((S - logits_from) * V) * sizeof(float));
  }
  ops_->finish();  // forward returns when the backend is done (honest host timings)
  comm_mark_end();
  obs_ = nullptr;
}

float* LayerProgram::mla_cache_row(int layer, int64_t pos) {
  if (!ops_->host_memory()) fail("mla_cache_row: the " + device_name() + " backend's cache is not host memory");
  return cache_.at(layer).mla.f() + pos * mla_row();
}

float* LayerProgram::indexer_cache_row(int layer, int64_t pos) {
  if (!ops_->host_memory()) fail("indexer_cache_row: the " + device_name() + " backend's cache is not host memory");
  return cache_.at(layer).indexer.f() + pos * c_.index_head_dim;
}

}  // namespace dsv32
