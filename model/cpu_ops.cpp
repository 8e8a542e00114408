// CpuOps: the CPU backend of the layer program (model/ops.h) over kernels/cpu. Buffers are host
// memory; work is split over a ThreadPool so that every output element is computed the same way
// whatever the thread count (results are bit-identical across thread counts).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/attention_ref1.h"
#include "kernels/cpu/fp8_gemm.h"
#include "kernels/cpu/hadamard.h"
#include "kernels/cpu/indexer.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/linear_bf16.h"
#include "kernels/cpu/moe_experts.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/round_bf16.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/error.h"
#include "model/ops.h"

namespace dsv32 {
namespace {

// Heads per attend_mqa / attend_rows call (bounds the per-thread probability scratch).
constexpr int64_t kHeadBlock = kAttendMaxRows;

// Zig-zag order for causal work: item i of [0, n) maps to rows 0, n-1, 1, n-2, ... so that the
// static contiguous ranges of ThreadPool get equal shares of short and long rows.
inline int64_t zigzag(int64_t i, int64_t n) { return (i & 1) ? n - 1 - i / 2 : i / 2; }

class CpuOps final : public Ops {
 public:
  CpuOps(int threads, int64_t max_ctx) : pool_(threads) {
    const int64_t T = std::max<int64_t>(max_ctx, 1);
    scratch_.resize(pool_.size());
    for (Scratch& s : scratch_) {
      s.probs.resize(kHeadBlock * (T + 1));  // attend_mqa: [heads, n + 1]; attend_rows: [rows, n]
      s.order.resize(T);
      probs_.push_back(s.probs.data());
    }
    probs_floats_ = kHeadBlock * (T + 1);
    // Decode-time indexer scores [S < 2·threads, E ≤ T]: sized once so decode never reallocates.
    iscores_.reserve(2 * pool_.size() * T);
  }

  std::string device_name() const override { return "cpu"; }
  bool host_memory() const override { return true; }
  std::string lacks(const NumericsProfile& p, const ModelConfig&) const override {
    // f32, bf16 (kernels/cpu/linear_bf16.h) and REF-1's fp8_gemm; bf16 rounding points; the
    // REF-1 core and FP8 indexer.
    static constexpr BackendCaps kCaps{"CPU", {true, true, true, false}, true, true, true};
    return numerics_lacks(p, kCaps);
  }
  // Decode reads the fp32 cache rows in every profile (no bf16 attention / indexer kernels).
  bool bf16_mirrors() const override { return false; }

  void ensure(Buf& b, size_t bytes) override {
    if (bytes <= b.bytes) return;
    std::free(b.p);
    const size_t rounded = (bytes + 63) / 64 * 64;
    b.p = std::aligned_alloc(64, rounded);
    if (!b.p) fail("out of memory: " + std::to_string(bytes) + " bytes for an activation or cache buffer");
    b.bytes = bytes;
  }
  void release(Buf& b) override {
    std::free(b.p);
    b = Buf{};
  }
  void zero(Buf& b) override {
    if (b.p) std::memset(b.p, 0, b.bytes);
  }
  void to_host(void* dst, const void* src, size_t bytes) override {
    if (dst != src) std::memcpy(dst, src, bytes);
  }
  void to_device(void* dst, const void* src, size_t bytes) override {
    if (dst != src) std::memcpy(dst, src, bytes);
  }
  void copy(const Strided& c, const float* src, float* dst) override {
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t h = 0; h < c.heads; ++h)
        std::memcpy(dst + r * c.dst_row + h * c.dst_head, src + r * c.src_row + h * c.src_head, c.width * 4);
  }
  void to_bf16(const float* src, int64_t rows, int64_t cols, int64_t src_stride, uint16_t* dst) override {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < cols; ++i) dst[r * cols + i] = f32_to_bf16(src[r * src_stride + i]);
  }
  void finish() override {}

  // Weights are read in place from the memory-mapped checkpoint.
  void prepare(const Weight&) override {}
  void prepare(const std::vector<float>&) override {}
  void prepare_heads(const std::vector<Weight>&) override {}
  void prepare_rope(const RopeTable&) override {}

  void embed(const Weight& table, const int32_t* ids, int64_t S, float* out) override {
    const int64_t D = table.cols;
    for (int64_t s = 0; s < S; ++s) table.row_to_f32(ids[s], 0, D, out + s * D);
  }

  void linear(const Rule& r, const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
              int64_t y_stride) override {
    const Gemm g = r.gemm_for(w.dtype == DType::F8_E4M3);
    if (g == Gemm::kFp8Ref && w.dtype == DType::F8_E4M3) {
      Fp8GemmParams p;  // output already bf16-valued
      p.m = M, p.x_stride = x_stride, p.y_stride = y_stride, p.block = w.block;
      fp8_gemm(pool_, p, x, w, y);
      return;
    }
    gemm(g, x, M, x_stride, w, y, y_stride);
    if (r.out == Store::kBf16) round_bf16_rows(y, M, w.rows, y_stride);
  }

  void linear_heads(const Rule& r, const std::vector<Weight>& heads, const float* x, int64_t S, int64_t x_row,
                    int64_t x_head, float* y, int64_t y_row, int64_t y_head) override {
    const int64_t H = int64_t(heads.size());
    for (int64_t h = 0; h < H; ++h) {
      const Weight& w = heads[h];
      gemm(r.gemm_for(w.dtype == DType::F8_E4M3), x + h * x_head, S, x_row, w, y + h * y_head, y_row);
    }
    if (r.out != Store::kBf16) return;
    const int64_t n = heads.empty() ? 0 : heads[0].rows;
    if (y_row == H * y_head) round_bf16_rows(y, S * H, n, y_head);
    else
      for (int64_t s = 0; s < S; ++s) round_bf16_rows(y + s * y_row, H, n, y_head);
  }

  void round_bf16(float* x, int64_t rows, int64_t width, int64_t stride) override {
    if (rows == 1 || width == stride) dsv32::round_bf16(x, rows * width);
    else round_bf16_rows(x, rows, width, stride);
  }

  void rmsnorm(const float* x, int64_t rows, int64_t dim, int64_t x_stride, const std::vector<float>& w, double eps,
               float* y, int64_t y_stride) override {
    if (x_stride == dim && y_stride == dim) {
      dsv32::rmsnorm({rows, dim, eps}, x, w.data(), y);
      return;
    }
    for (int64_t r = 0; r < rows; ++r) dsv32::rmsnorm({1, dim, eps}, x + r * x_stride, w.data(), y + r * y_stride);
  }
  void layernorm(const float* x, int64_t rows, int64_t dim, const std::vector<float>& w, const std::vector<float>& b,
                 double eps, float* y) override {
    dsv32::layernorm({rows, dim, eps}, x, w.data(), b.data(), y);
  }
  void rope(const RopeTable& t, RopeLayout layout, float* x, int64_t rows, int64_t x_stride, int64_t heads,
            int64_t head_stride, int64_t pos0) override {
    rope_apply(t, layout, x, rows, x_stride, heads, head_stride, pos0);
  }
  void hadamard(float* x, int64_t count, int64_t n) override { hadamard_rotate(x, count, n); }
  void act_quant(const float* x, int64_t rows, int64_t dim, float* q, float* s) override {
    dsv32::act_quant({rows, dim, 128, true}, x, q, s);
  }
  void act_quant_roundtrip(float* x, int64_t rows, int64_t dim, int64_t x_stride) override {
    dsv32::act_quant_roundtrip({rows, dim, 128, true, x_stride}, x);
  }
  void add(float* y, const float* x, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
  }
  void mul(float* y, const float* x, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) y[i] *= x[i];
  }
  void scale(float* x, int64_t n, float s) override {
    for (int64_t i = 0; i < n; ++i) x[i] *= s;
  }

  // y[rows, D] = down(silu(gate x) ⊙ up x); intermediates in g_/u_.
  void mlp(const MlpRules& r, const MlpWeights& m, const float* x, int64_t rows, float* y) override {
    const int64_t I = m.gate.rows;
    if (g_.size() < size_t(rows * I)) g_.resize(size_t(rows * I)), u_.resize(size_t(rows * I));
    linear(r.proj, x, rows, m.gate.cols, m.gate, g_.data(), I);
    linear(r.proj, x, rows, m.up.cols, m.up, u_.data(), I);
    for (int64_t i = 0; i < rows * I; ++i) {
      const float g = g_[i];
      g_[i] = g / (1.f + std::exp(-g)) * u_[i];
    }
    if (r.mid == Store::kBf16) dsv32::round_bf16(g_.data(), rows * I);
    linear(r.proj, g_.data(), rows, m.down.cols, m.down, y, m.down.rows);
  }

  void indexer_select(const IndexerCall& c, const float* q, const float* w, const float* keys, int64_t S, int64_t P,
                      const int32_t* pinned, const int32_t* pinned_count, int32_t* topk, int32_t* count,
                      float* scores) override;
  void attend(const AttendCall& a, const float* q, const float* keys, const float* values, const int32_t* index,
              const int32_t* count, int64_t index_stride, int64_t S, int64_t P, float* out) override;

  void moe_route(const MoeRouteParams& p, int64_t S, const float* logits, const std::vector<float>& bias,
                 int32_t* ids, float* weights, float* select) override {
    const float* b = bias.empty() ? nullptr : bias.data();
    for (int64_t s = 0; s < S; ++s)
      dsv32::moe_route(p, logits + s * p.n_experts, b, ids + s * p.top_k, weights + s * p.top_k,
                       select + s * p.n_experts);
  }

  void moe_experts(const MoeCall& m, const float* x, const int32_t* ids, const int32_t*, const float* weights,
                   float* y) override {
    const int64_t S = m.tokens, D = m.hidden;
    if (m.expert_hi >= 0) fail("CpuOps::moe_experts: an expert block (the CPU's EpOps exchanges itself)");
    if (m.shared) mlp(m.rules, *m.shared, x, S, y);
    else std::fill(y, y + S * D, 0.f);
    const ExpertFn expert = [&](int64_t e, const float* xg, int64_t n, float* yg) {
      mlp(m.rules, m.experts[e], xg, n, yg);
    };
    dsv32::moe_experts({S, D, m.top_k, m.n_experts}, moe_, x, ids, weights, expert, y);
    if (m.sum == Store::kBf16) dsv32::round_bf16(y, S * D);
  }

 private:
  // kBf16 on BF16 / F8 weights: the bf16 GEMM (kernels/cpu/linear_bf16.h); every other case —
  // kF32, and kBf16 on F32 / F16 weights, as the CUDA backend does — the exact fp32 GEMM.
  void gemm(Gemm g, const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y, int64_t y_stride) {
    if (g == Gemm::kBf16 && (w.dtype == DType::BF16 || w.dtype == DType::F8_E4M3))
      linear_bf16(pool_, x, M, x_stride, w, y, y_stride);
    else
      dsv32::linear(pool_, x, M, x_stride, w, y, y_stride);
  }

  struct Scratch {
    std::vector<float> probs;     // attention probabilities; the indexer's scores of a token block
    std::vector<int32_t> order;   // indexer_topk's scratch
  };
  ThreadPool pool_;
  std::vector<Scratch> scratch_;  // per thread, sized by max_ctx
  std::vector<float*> probs_;     // scratch_[t].probs.data(), for attend_queries
  int64_t probs_floats_ = 0;
  std::vector<float> iscores_, g_, u_;
  MoeScratch moe_;
};

// Few queries (decode): each query's keys are split over the threads first, into iscores_ [S, E];
// otherwise one thread takes whole blocks of queries. Every score has indexer_scores' arithmetic
// and order whatever the split (indexer_scores_rows keeps it), so both paths give the same bits.
void CpuOps::indexer_select(const IndexerCall& c, const float* q, const float* w, const float* keys, int64_t S,
                            int64_t P, const int32_t* pinned, const int32_t* pinned_count, int32_t* topk,
                            int32_t* count, float* scores) {
  const int64_t HI = c.p.n_heads, dI = c.p.head_dim, K = c.p.topk, E = P + S;
  const float* ks = c.key_scale;
  // Scores of query s against keys [u0, u0 + n); fp8 keys multiply each by its key's scale.
  auto score_keys = [&](int64_t s, int64_t u0, int64_t n, float* out) {
    indexer_scores(c.p, q + s * HI * dI, w + s * HI, keys + u0 * dI, n, out);
    if (ks)
      for (int64_t u = 0; u < n; ++u) out[u] *= ks[u0 + u];
  };
  const bool need_scores = !pinned || scores;
  const bool key_parallel = need_scores && S < 2 * pool_.size();
  if (key_parallel) {
    constexpr int64_t kKeys = 256;
    const int64_t nb = (E + kKeys - 1) / kKeys;
    iscores_.resize(S * E);
    pool_.parallel_for(S * nb, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t s = i / nb, u0 = (i % nb) * kKeys, n = P + s + 1;
        if (u0 < n) score_keys(s, u0, std::min(kKeys, n - u0), &iscores_[s * E + u0]);
      }
    });
  }
  // Otherwise blocks of kIndexerRows consecutive tokens per item: their scores over the block's
  // longest prefix in one indexer_scores_rows call (each key block read once for the whole block;
  // bit-identical to indexer_scores per token), into the thread's probs scratch [rows, E].
  constexpr int64_t kIndexerRows = 8;
  static_assert(kIndexerRows <= kHeadBlock, "the block's scores live in the attend scratch");
  const int64_t nblocks = (S + kIndexerRows - 1) / kIndexerRows;
  pool_.parallel_for(nblocks, [&](int64_t i0, int64_t i1, int t) {
    Scratch& sc = scratch_[t];
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t s0 = zigzag(i, nblocks) * kIndexerRows, rows = std::min(kIndexerRows, S - s0);
      float* block = sc.probs.data();
      if (need_scores && !key_parallel)
        indexer_scores_rows(c.p, rows, q + s0 * HI * dI, HI * dI, w + s0 * HI, HI, keys, P + s0 + rows, block, E);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t s = s0 + r, n = P + s + 1;  // visible positions 0..P+s
        float* row = block + r * E;
        int32_t* out = topk + s * K;
        if (need_scores) {
          if (key_parallel) std::memcpy(row, &iscores_[s * E], n * 4);
          else if (ks)
            for (int64_t u = 0; u < n; ++u) row[u] *= ks[u];
          if (scores) {
            std::memcpy(scores + s * E, row, n * 4);
            std::fill(scores + s * E + n, scores + (s + 1) * E, -INFINITY);
          }
        }
        if (pinned) {
          std::memcpy(out, pinned + s * K, K * 4);
          count[s] = pinned_count[s];
        } else {
          count[s] = int32_t(indexer_topk(row, n, K, sc.order.data(), out));
        }
      }
    }
  });
}

void CpuOps::attend(const AttendCall& a, const float* q, const float* keys, const float* values,
                    const int32_t* index, const int32_t* count, int64_t index_stride, int64_t S, int64_t P,
                    float* out) {
  const int64_t H = a.heads, dk = a.p.d_k, dv = a.p.d_v;
  const AttendParams& ap = a.p;
  if (a.core != AttnCore::kRef1) {  // exact core: the blocked kernel (kernels/cpu/attention.h)
    AttendBatch b;
    b.p = ap, b.heads = H, b.mqa = a.mqa, b.key_head = a.key_head, b.value_head = a.value_head;
    b.S = S, b.P = P, b.index = index, b.count = count, b.index_stride = index_stride;
    attend_queries(pool_, b, q, keys, values, probs_.data(), probs_floats_, out);
    return;
  }
  // REF-1 core: query by query (attend_ref1).
  if (!a.mqa) {
    pool_.parallel_for(S * H, [&](int64_t i0, int64_t i1, int t) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t s = zigzag(i / H, S), h = i % H;
        const int32_t* idx = index ? index + s * index_stride : nullptr;
        const int64_t n = index ? count[s] : P + s + 1;
        const float* qh = q + (s * H + h) * dk;
        float* o = out + (s * H + h) * dv;
        attend_ref1(ap, 1, qh, dk, keys + h * a.key_head, values + h * a.value_head, idx, n,
                    scratch_[t].probs.data(), o, dv);
      }
    });
    return;
  }
  // MQA: each thread takes a run of (query, head) items and reads the cache once per block of up
  // to kHeadBlock heads of the same query.
  pool_.parallel_for(S * H, [&](int64_t i0, int64_t i1, int t) {
    for (int64_t i = i0; i < i1;) {
      const int64_t s = zigzag(i / H, S), h0 = i % H;
      const int64_t h1 = std::min({H, h0 + (i1 - i), h0 + kHeadBlock});
      const int32_t* idx = index ? index + s * index_stride : nullptr;
      const int64_t n = index ? count[s] : P + s + 1;
      attend_ref1(ap, h1 - h0, q + (s * H + h0) * dk, dk, keys, values, idx, n, scratch_[t].probs.data(),
                  out + (s * H + h0) * dv, dv);
      i += h1 - h0;
    }
  });
}

}  // namespace

std::unique_ptr<Ops> make_cpu_ops(int threads, int64_t max_ctx) { return std::make_unique<CpuOps>(threads, max_ctx); }

}  // namespace dsv32
