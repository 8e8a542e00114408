// moe_experts: group (token, slot) pairs by expert on the device, gather, expert GEMMs, fused
// SwiGLU, expert GEMMs, weighted combine. Variants of the GEMM steps (see moe_experts.h):
//   grouped     one cublasGemmGroupedBatchedEx for all gate+up products and one for all down
//               products (F32 weights, or BF16 weights under kBf16); tried first, and abandoned for
//               the process if cuBLAS refuses the type combination
//   per_expert  gpu::linear on each non-empty expert's rows (every other case, and the fallback)
// Kernels here: count_kernel / fill_kernel (stable counting sort, block per expert). The gather,
// SwiGLU, bf16 conversion and weighted combine are the public ops (rows.h, elementwise.h), so the
// expert math is the same code as the dense MLP's and the combine the same as rows.h documents.
#include <algorithm>
#include <atomic>
#include <string>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/moe_experts.h"
#include "kernels/cuda/rows.h"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 256;

std::atomic<int64_t> g_grouped_calls{0}, g_per_expert_calls{0};
std::atomic<bool> g_grouped_refused[2] = {false, false};  // [0] fp32, [1] bf16

// counts[e] = #{i < P : ids[i] == e}; block e. counts = offsets + E + 1.
__global__ void count_kernel(const int32_t* __restrict__ ids, int64_t P, int32_t* __restrict__ counts) {
  const int e = blockIdx.x;
  int64_t total = 0;
  for (int64_t base = 0; base < P; base += blockDim.x) {
    const int64_t i = base + threadIdx.x;
    total += __syncthreads_count(i < P && ids[i] == e);
  }
  if (threadIdx.x == 0) counts[e] = int32_t(total);
}

// Block e writes offsets[e] (and offsets[E] from the last block), then places its pairs in
// ascending i at order[offsets[e] + rank] and records pos[i]. Ranks come from warp ballots and the
// per-warp totals of each chunk of blockDim.x pairs.
__global__ void fill_kernel(const int32_t* __restrict__ ids, int64_t P, int E, int32_t* __restrict__ offsets,
                            int32_t* __restrict__ order, int32_t* __restrict__ pos) {
  __shared__ int32_t warp_total[32];
  __shared__ int32_t start;
  const int e = blockIdx.x;
  const int32_t* counts = offsets + E + 1;
  if (threadIdx.x == 0) {
    int32_t s = 0;
    for (int j = 0; j < e; ++j) s += counts[j];
    start = s;
    offsets[e] = s;
    if (e == E - 1) offsets[E] = s + counts[e];
  }
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  int32_t run = start;
  for (int64_t base = 0; base < P; base += blockDim.x) {
    const int64_t i = base + threadIdx.x;
    const bool hit = i < P && ids[i] == e;
    const unsigned ballot = __ballot_sync(0xffffffffu, hit);
    if (lane == 0) warp_total[warp] = __popc(ballot);
    __syncthreads();
    int32_t before = 0, chunk = 0;
    for (int w = 0; w < warps; ++w) {
      const int32_t t = warp_total[w];
      before += w < warp ? t : 0;
      chunk += t;
    }
    if (hit) {
      const int32_t r = run + before + __popc(ballot & ((1u << lane) - 1u));
      order[r] = int32_t(i);
      pos[i] = r;
    }
    run += chunk;
    __syncthreads();  // warp_total is rewritten by the next chunk
  }
}

template <class T>
void grow(Context& ctx, DeviceArray<T>& a, int64_t n) {
  if (int64_t(a.size()) >= n) return;
  synchronize(ctx);  // the old buffer may still be read by enqueued work
  a = DeviceArray<T>(size_t(n));
}

// One GEMM of the column-major mapping in linear.cu: C[m, n] = A[k, m]ᵀ·B[k, n], lda = ldb = k, ldc = m.
struct GemmProblem {
  const void* a;
  const void* b;
  void* c;
  int64_t m, n, k;
};

// All problems in one cublasGemmGroupedBatchedEx (each its own group of one). Returns false, having
// enqueued nothing, when cuBLAS refuses the type combination (remembered for the process).
bool grouped_gemm(Context& ctx, MoeWorkspace& ws, bool bf16, const std::vector<GemmProblem>& probs) {
  if (probs.empty()) return true;
  if (g_grouped_refused[bf16]) return false;
  const int G = int(probs.size());
  std::vector<void*> ptrs(size_t(3 * G));  // device pointers; cuBLAS only reads A and B
  std::vector<int> m(G), n(G), k(G), one(G, 1);
  std::vector<float> alpha(G, 1.f), beta(G, 0.f);
  std::vector<cublasOperation_t> ta(G, CUBLAS_OP_T), tb(G, CUBLAS_OP_N);
  for (int i = 0; i < G; ++i) {
    ptrs[size_t(i)] = const_cast<void*>(probs[size_t(i)].a);
    ptrs[size_t(G + i)] = const_cast<void*>(probs[size_t(i)].b);
    ptrs[size_t(2 * G + i)] = probs[size_t(i)].c;
    m[i] = int(probs[size_t(i)].m), n[i] = int(probs[size_t(i)].n), k[i] = int(probs[size_t(i)].k);
  }
  grow(ctx, ws.ptrs, 3 * G);
  copy_to_device(ctx, ws.ptrs.get(), ptrs.data(), ptrs.size() * sizeof(void*));
  void* const* dp = ws.ptrs.get();
  const cudaDataType_t ab = bf16 ? CUDA_R_16BF : CUDA_R_32F;
  const cublasStatus_t st = cublasGemmGroupedBatchedEx(
      ctx.blas, ta.data(), tb.data(), m.data(), n.data(), k.data(), alpha.data(), const_cast<const void* const*>(dp), ab, k.data(),
      const_cast<const void* const*>(dp + G), ab,
      k.data(), beta.data(), dp + 2 * G, CUDA_R_32F, m.data(), G, one.data(),
      bf16 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_PEDANTIC);  // fp32: no TF32, as gpu::linear
  if (st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE) {
    g_grouped_refused[bf16] = true;
    return false;
  }
  DSV32_CUBLAS_CHECK(st);
  ++g_grouped_calls;
  return true;
}

void check_shapes(const MoeExpertsParams& p, const MoeExpertWeights* experts, const MoeExpertWeights* shared) {
  const auto bad = [](const std::string& what) { fail("gpu::moe_experts: " + what); };
  if (p.tokens < 0 || p.hidden <= 0 || p.top_k <= 0 || p.n_experts <= 0) bad("empty or negative shape");
  const int64_t lo = p.expert_hi < 0 ? 0 : p.expert_lo, hi = p.expert_hi < 0 ? p.n_experts : p.expert_hi;
  if (lo < 0 || hi > p.n_experts || lo >= hi) bad("expert block out of range");
  const int64_t D = p.hidden, I = experts[lo].gate.rows;
  for (int64_t e = lo; e < hi; ++e) {
    const auto& x = experts[e];
    if (x.gate.rows != I || x.up.rows != I || x.gate.cols != D || x.up.cols != D || x.down.rows != D ||
        x.down.cols != I)
      bad("expert " + std::to_string(e) + " weights are not gate/up [" + std::to_string(I) + ", " +
          std::to_string(D) + "], down [" + std::to_string(D) + ", " + std::to_string(I) + "]");
  }
  if (shared && (shared->gate.cols != D || shared->up.cols != D || shared->up.rows != shared->gate.rows ||
                 shared->down.rows != D || shared->down.cols != shared->gate.rows))
    bad("shared expert weights do not match hidden " + std::to_string(D));
}

}  // namespace

MoeExpertsStats moe_experts_stats() { return {g_grouped_calls.load(), g_per_expert_calls.load()}; }
void moe_experts_stats_reset() {
  g_grouped_calls = 0;
  g_per_expert_calls = 0;
}

void moe_experts(Context& ctx, const MoeExpertsParams& p, MoeWorkspace& ws, const float* x, const int32_t* ids,
                 const int32_t* ids_host, const float* weights, const MoeExpertWeights* experts,
                 const MoeExpertWeights* shared, float* y, const MoeExchange* exchange) {
  check_shapes(p, experts, shared);
  const int64_t S = p.tokens, D = p.hidden, K = p.top_k, E = p.n_experts, P = S * K;
  const int64_t lo = p.expert_hi < 0 ? 0 : p.expert_lo, hi = p.expert_hi < 0 ? E : p.expert_hi;
  if (p.expert_hi >= 0 && !exchange) fail("gpu::moe_experts: an expert block needs an exchange");
  const int64_t I = experts[lo].gate.rows, Is = shared ? shared->gate.rows : 0;
  if (S == 0) return;
  if (P >= (int64_t(1) << 31)) fail("gpu::moe_experts: tokens·top_k exceeds int32");

  // Which GEMM variant: grouped needs every expert weight natively in the GEMM's input type.
  const DType wt = experts[lo].gate.dtype;
  bool same = true;
  for (int64_t e = lo; e < hi; ++e)
    for (const WeightDevice* w : {&experts[e].gate, &experts[e].up, &experts[e].down}) same = same && w->dtype == wt;
  const bool grouped_f32 = same && wt == DType::F32 && p.prec != GemmPrecision::kFp8;
  const bool grouped_bf16 = same && wt == DType::BF16 && p.prec == GemmPrecision::kBf16;
  const bool try_grouped = (grouped_f32 || grouped_bf16) && !g_grouped_refused[grouped_bf16];

  grow(ctx, ws.order, P);
  grow(ctx, ws.pos, P);
  grow(ctx, ws.offsets, 2 * E + 1);
  grow(ctx, ws.xg, P * D);
  grow(ctx, ws.yg, P * D);
  grow(ctx, ws.g, std::max(P * I, S * Is));
  grow(ctx, ws.u, std::max(P * I, S * Is));
  if (try_grouped && grouped_bf16) {
    grow(ctx, ws.xb, P * D);
    grow(ctx, ws.mb, P * I);
  }

  // 1. Group on the device; the row counts come from ids_host or from the device.
  count_kernel<<<unsigned(E), kThreads, 0, ctx.stream>>>(ids, P, ws.offsets.get() + E + 1);
  DSV32_CUDA_LAUNCH_CHECK("moe_experts/count");
  fill_kernel<<<unsigned(E), kThreads, 0, ctx.stream>>>(ids, P, int(E), ws.offsets.get(), ws.order.get(), ws.pos.get());
  DSV32_CUDA_LAUNCH_CHECK("moe_experts/fill");
  auto& off = ws.offsets_host;
  off.assign(size_t(E + 1), 0);
  if (ids_host) {
    for (int64_t i = 0; i < P; ++i) {
      const int32_t e = ids_host[i];
      if (e < 0 || e >= E) fail("gpu::moe_experts: expert id " + std::to_string(e) + " out of range [0, " +
                                std::to_string(E) + ") at token " + std::to_string(i / K));
      ++off[size_t(e + 1)];
    }
    for (int64_t e = 0; e < E; ++e) off[size_t(e + 1)] += off[size_t(e)];
  } else {
    copy_to_host(ctx, off.data(), ws.offsets.get(), size_t(E + 1) * 4);
    if (off[size_t(E)] != P) fail("gpu::moe_experts: expert ids out of range [0, " + std::to_string(E) + ")");
  }

  // Shared expert first, straight into y (the routed sum is added to it at the end).
  if (shared) {
    linear(ctx, x, S, shared->gate, ws.g.get(), p.prec);
    linear(ctx, x, S, shared->up, ws.u.get(), p.prec);
    swiglu_inplace(ctx, ws.g.get(), ws.u.get(), S * Is);
    linear(ctx, ws.g.get(), S, shared->down, y, p.prec);
  }

  // 2. Gather: xg[r] = x[order[r] / K] (order[r] = s·K + slot); for the grouped bf16 GEMMs also
  // its bf16 rounding xb.
  uint16_t* xb = try_grouped && grouped_bf16 ? ws.xb.get() : nullptr;
  uint16_t* mb = try_grouped && grouped_bf16 ? ws.mb.get() : nullptr;
  gather_rows(ctx, x, D, ws.order.get(), K, P, D, ws.xg.get());
  if (xb) convert_to_bf16(ctx, ws.xg.get(), P, D, D, xb, D);

  // 3-5. gate/up, SwiGLU, down.
  std::vector<GemmProblem> gate_up, down;
  for (int64_t e = lo; e < hi; ++e) {
    const int64_t r0 = off[size_t(e)], n = off[size_t(e + 1)] - r0;
    if (n == 0) continue;
    const void* xin = xb ? static_cast<const void*>(xb + r0 * D) : static_cast<const void*>(ws.xg.get() + r0 * D);
    const void* min = mb ? static_cast<const void*>(mb + r0 * I) : static_cast<const void*>(ws.g.get() + r0 * I);
    gate_up.push_back({experts[e].gate.data, xin, ws.g.get() + r0 * I, I, n, D});
    gate_up.push_back({experts[e].up.data, xin, ws.u.get() + r0 * I, I, n, D});
    down.push_back({experts[e].down.data, min, ws.yg.get() + r0 * D, D, n, I});
  }
  const auto per_expert = [&](int which) {  // 0: gate and up, 1: down
    for (int64_t e = lo; e < hi; ++e) {
      const int64_t r0 = off[size_t(e)], n = off[size_t(e + 1)] - r0;
      if (n == 0) continue;
      if (which == 0) {
        linear(ctx, ws.xg.get() + r0 * D, n, D, experts[e].gate, ws.g.get() + r0 * I, I, p.prec);
        linear(ctx, ws.xg.get() + r0 * D, n, D, experts[e].up, ws.u.get() + r0 * I, I, p.prec);
        g_per_expert_calls += 2;
      } else {
        linear(ctx, ws.g.get() + r0 * I, n, I, experts[e].down, ws.yg.get() + r0 * D, D, p.prec);
        ++g_per_expert_calls;
      }
    }
  };
  const bool grouped = try_grouped && grouped_gemm(ctx, ws, grouped_bf16, gate_up);
  if (!grouped) per_expert(0);
  // SwiGLU over the block's rows [r0, r1) (all rows without a block).
  const int64_t r0 = off[size_t(lo)], r1 = off[size_t(hi)];
  swiglu_inplace(ctx, ws.g.get() + r0 * I, ws.u.get() + r0 * I, (r1 - r0) * I);
  if (grouped && mb && r1 > r0) convert_to_bf16(ctx, ws.g.get() + r0 * I, r1 - r0, I, I, mb + r0 * I, I);
  if (!(grouped && grouped_gemm(ctx, ws, grouped_bf16, down))) per_expert(1);
  if (exchange) (*exchange)(ws.yg.get(), off);  // the other blocks' rows, from their ranks

  // 6. Combine: y = shared (or 0) + Σ_k w·yg[pos[s·K + k]], the routed sum formed from 0 in slot
  // order (0 + sum is exact, so the no-shared case equals the sum itself).
  if (!shared) fill(ctx, y, S * D, 0.f);
  moe_combine(ctx, ws.yg.get(), weights, S, K, D, y, ws.pos.get());
}

}  // namespace dsv32::gpu
