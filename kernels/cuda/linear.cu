// linear through cuBLAS / cuBLASLt. Paths (see linear.h for the table):
//   fp32     cublasGemmEx(fp32, fp32 → fp32), compute 32F pedantic; non-F32 weights first go through
//            dequant_tile_kernel → fp32 tiles (F16 always, every dtype under kFp32)
//   bf16     x → bf16 (gpu::convert_to_bf16), cublasGemmEx(bf16, bf16 → fp32), compute 32F; F8 weights
//            through dequant_tile_kernel → bf16 tiles
//   fp8      act_quant → cublasLtMatmul(e4m3 × e4m3, BLK128x128_32F × VEC128_32F scales) (kFp8)
// Row-major y[M,N] = x[M,K]·W[N,K]ᵀ is column-major yᵀ[N,M] = Wᵀ·xᵀ: cuBLAS sees A = W (op T,
// lda = K), B = x (op N, ldb = x_stride), C = y (ldc = y_stride), m = N, n = M, k = K.
// Dequantized tiles are [rows_per_tile, K] with rows_per_tile chosen so a tile fits
// kDequantTileBytes; the GEMM of tile i and the dequant of tile i+1 are stream-ordered.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "kernels/cuda/act_quant.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/linear.h"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float e4m3_to_f32(uint8_t code) {
  __half_raw h = __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t(code), __NV_E4M3);
  return __half2float(__half(h));
}

// Rows [n0, n0+nr) of W (F16, BF16 or F8_E4M3) → packed tile [nr, K] of OutT (float or bf16).
template <class OutT>
__global__ void dequant_tile_kernel(const void* __restrict__ data, DType dtype, const float* __restrict__ scale,
                                    int64_t scale_cols, int64_t block, int64_t row0, int64_t K, int64_t n0,
                                    int64_t nr, OutT* __restrict__ tile) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < nr * K;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = n0 + i / K, c = i % K;
    float v;
    if (dtype == DType::F8_E4M3) {
      const uint8_t code = static_cast<const uint8_t*>(data)[r * K + c];
      v = e4m3_to_f32(code) * scale[((row0 + r) / block) * scale_cols + c / block];
    } else if (dtype == DType::BF16) {
      v = __bfloat162float(static_cast<const __nv_bfloat16*>(data)[r * K + c]);
    } else {  // F16
      v = __half2float(static_cast<const __half*>(data)[r * K + c]);
    }
    if constexpr (std::is_same_v<OutT, float>) tile[i] = v;
    else tile[i] = __float2bfloat16_rn(v);
  }
}

// The weight's scale rows [g0, g0 + nb) → [nb, ld] with the K-block index fastest and columns
// [kb_count, ld) zero: cuBLASLt's BLK128x128_32F layout for A (op T) wants each row of the grid
// padded to a multiple of 4 floats (PyTorch's _scaled_mm checks the same stride).
__global__ void repack_scale_kernel(const float* __restrict__ scale, int64_t scale_cols, int64_t g0, int64_t nb,
                                    int64_t kb_count, int64_t ld, float* __restrict__ out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < nb * ld;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / ld, kb = i - r * ld;
    out[i] = kb < kb_count ? scale[(g0 + r) * scale_cols + kb] : 0.f;
  }
}

// D scratch [rows ≥ M, N] (packed, DT = float or bf16) → y [M, N] with row stride y_stride.
template <class DT>
__global__ void store_rows_kernel(const DT* __restrict__ d, int64_t M, int64_t N, float* __restrict__ y,
                                  int64_t y_stride) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < M * N;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t m = i / N, n = i - m * N;
    if constexpr (std::is_same_v<DT, float>) y[m * y_stride + n] = d[i];
    else y[m * y_stride + n] = __bfloat162float(d[i]);
  }
}

unsigned grid_for(int64_t n) { return unsigned(std::min<int64_t>(detail::ceil_div(n, kThreads), 65535 * 8)); }
int64_t round_up(int64_t a, int64_t b) { return detail::ceil_div(a, b) * b; }
size_t aligned256(size_t bytes) { return (bytes + 255) & ~size_t(255); }
bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// C[N-slice] = A·B with the column-major mapping above. A: [n, K] rows of W (type a_type), B: x.
void gemm(Context& ctx, cudaDataType_t ab_type, cublasComputeType_t compute, const void* a, int64_t n,
          int64_t K, const void* b, int64_t ldb, int64_t M, float* c, int64_t ldc) {
  const float alpha = 1.f, beta = 0.f;
  DSV32_CUBLAS_CHECK(cublasGemmEx(ctx.blas, CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(M), int(K), &alpha, a,
                                  ab_type, int(K), b, ab_type, int(ldb), &beta, c, CUDA_R_32F, int(ldc),
                                  compute, CUBLAS_GEMM_DEFAULT));
}

// Every weight dtype → fp32 (F32 in place, others through fp32 tiles) → fp32 pedantic GEMM.
void linear_fp32(Context& ctx, const float* x, int64_t M, int64_t x_stride, const WeightDevice& w, float* y,
                 int64_t y_stride) {
  const int64_t N = w.rows, K = w.cols;
  if (w.dtype == DType::F32) {
    gemm(ctx, CUDA_R_32F, CUBLAS_COMPUTE_32F_PEDANTIC, w.data, N, K, x, x_stride, M, y, y_stride);
    return;
  }
  const int64_t tile_rows = std::clamp<int64_t>(kDequantTileBytes / (K * 4), 1, N);
  float* tile = static_cast<float*>(scratch(ctx, size_t(tile_rows * K) * 4));
  for (int64_t n0 = 0; n0 < N; n0 += tile_rows) {
    const int64_t nr = std::min(tile_rows, N - n0);
    dequant_tile_kernel<float><<<grid_for(nr * K), kThreads, 0, ctx.stream>>>(
        w.data, w.dtype, w.scale, w.scale_cols, w.block, w.row0, K, n0, nr, tile);
    DSV32_CUDA_LAUNCH_CHECK("linear/dequant_fp32");
    gemm(ctx, CUDA_R_32F, CUBLAS_COMPUTE_32F_PEDANTIC, tile, nr, K, x, x_stride, M, y + n0, y_stride);
  }
}

// BF16 weights in place, F8 weights through bf16 tiles; x rounded to bf16.
void linear_bf16(Context& ctx, const float* x, int64_t M, int64_t x_stride, const WeightDevice& w, float* y,
                 int64_t y_stride) {
  const int64_t N = w.rows, K = w.cols;
  const bool f8 = w.dtype == DType::F8_E4M3;
  const int64_t tile_rows = f8 ? std::clamp<int64_t>(kDequantTileBytes / (K * 2), 1, N) : 0;
  const size_t x_bytes = aligned256(size_t(M * K) * 2);
  char* base = static_cast<char*>(scratch(ctx, x_bytes + size_t(tile_rows * K) * 2));
  auto* xb = reinterpret_cast<__nv_bfloat16*>(base);
  convert_to_bf16(ctx, x, M, K, x_stride, reinterpret_cast<uint16_t*>(xb), K);
  if (!f8) {
    gemm(ctx, CUDA_R_16BF, CUBLAS_COMPUTE_32F, w.data, N, K, xb, K, M, y, y_stride);
    return;
  }
  auto* tile = reinterpret_cast<__nv_bfloat16*>(base + x_bytes);
  for (int64_t n0 = 0; n0 < N; n0 += tile_rows) {
    const int64_t nr = std::min(tile_rows, N - n0);
    dequant_tile_kernel<__nv_bfloat16><<<grid_for(nr * K), kThreads, 0, ctx.stream>>>(
        w.data, DType::F8_E4M3, w.scale, w.scale_cols, w.block, w.row0, K, n0, nr, tile);
    DSV32_CUDA_LAUNCH_CHECK("linear/dequant_bf16");
    gemm(ctx, CUDA_R_16BF, CUBLAS_COMPUTE_32F, tile, nr, K, xb, K, M, y + n0, y_stride);
  }
}

// ---------------------------------------------------------------------------------------------
// kFp8: cuBLASLt block-scaled e4m3 GEMM. m = N, n = M4 (M padded to a multiple of 4), k = K.

std::atomic<int64_t> g_fp8_calls{0}, g_fp8_fallbacks{0};

// Descriptors of one cublasLtMatmul call; destroyed with the object.
struct LtCall {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  LtCall(int64_t N, int64_t M4, int64_t K, int64_t ldd, bool d_bf16, const void* a_scale, const void* b_scale) {
    DSV32_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const int32_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const int32_t a_mode = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F, b_mode = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
    set(CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    set(CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    set(CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &a_mode, sizeof a_mode);
    set(CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &b_mode, sizeof b_mode);
    set(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scale, sizeof a_scale);
    set(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scale, sizeof b_scale);
    DSV32_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a, CUDA_R_8F_E4M3, uint64_t(K), uint64_t(N), K));
    DSV32_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b, CUDA_R_8F_E4M3, uint64_t(K), uint64_t(M4), K));
    DSV32_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&d, d_bf16 ? CUDA_R_16BF : CUDA_R_32F, uint64_t(N), uint64_t(M4), ldd));
  }
  ~LtCall() {
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
  LtCall(const LtCall&) = delete;
  LtCall& operator=(const LtCall&) = delete;
  void set(cublasLtMatmulDescAttributes_t attr, const void* v, size_t n) {
    DSV32_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, attr, v, n));
  }
};

struct Fp8Plan {
  bool ok = false;
  bool d_bf16 = false;
  cublasLtMatmulAlgo_t algo{};
  std::string why;
};

// Heuristic results per (device, M4, N, K, ldd), process-wide: an algo depends on the device and
// the problem, not on the handle or the pointers (the query runs with placeholder scale pointers).
std::mutex g_plan_mutex;
std::map<std::tuple<int, int64_t, int64_t, int64_t, int64_t>, Fp8Plan> g_plans;

Fp8Plan plan_for(Context& ctx, int64_t M4, int64_t N, int64_t K, int64_t ldd) {
  const auto key = std::make_tuple(ctx.device, M4, N, K, ldd);
  std::lock_guard<std::mutex> lock(g_plan_mutex);
  if (auto it = g_plans.find(key); it != g_plans.end()) return it->second;
  Fp8Plan plan;
  cublasLtMatmulPreference_t pref = nullptr;
  DSV32_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws = ctx.blas_workspace_bytes;
  DSV32_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  std::string tried;
  for (bool d_bf16 : {false, true}) {  // fp32 D first: no extra rounding of y
    if (ldd % (d_bf16 ? 8 : 4) != 0) continue;  // ldd·sizeof(D) must be a multiple of 16 bytes
    LtCall call(N, M4, K, ldd, d_bf16, ctx.blas_workspace, ctx.blas_workspace);
    cublasLtMatmulHeuristicResult_t res{};
    int found = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(ctx.blas_lt, call.op, call.a, call.b, call.d, call.d, pref, 1, &res, &found);
    if (st == CUBLAS_STATUS_SUCCESS && found > 0 && res.state == CUBLAS_STATUS_SUCCESS) {
      plan.ok = true;
      plan.d_bf16 = d_bf16;
      plan.algo = res.algo;
      break;
    }
    // NOT_SUPPORTED (or 0 results) means "no algo for this combination": try the next D type.
    tried += std::string(tried.empty() ? "" : ", ") + (d_bf16 ? "bf16 D: " : "fp32 D: ") +
             (st != CUBLAS_STATUS_SUCCESS ? cublasGetStatusName(st) : "0 algos");
  }
  cublasLtMatmulPreferenceDestroy(pref);
  if (!plan.ok)
    plan.why = "cuBLASLt heuristic found no block-scaled FP8 algo for N=" + std::to_string(N) + " M4=" +
               std::to_string(M4) + " K=" + std::to_string(K) + " ldd=" + std::to_string(ldd) + " (" +
               (tried.empty() ? std::string("ldd not 16-byte aligned for fp32 or bf16 D") : tried) + ")";
  g_plans.emplace(key, plan);
  return plan;
}

// Why (w, M) cannot take the FP8 path regardless of the heuristic, or "" if it can.
std::string fp8_static_reject(int64_t M, const WeightDevice& w) {
  if (w.dtype != DType::F8_E4M3) return std::string("weight dtype ") + dtype_name(w.dtype) + " is not F8_E4M3";
  if (w.block != 128) return "weight block " + std::to_string(w.block) + " != 128";
  if (w.cols % 128 != 0) return "K = " + std::to_string(w.cols) + " is not a multiple of 128";
  if (w.row0 % 128 != 0) return "view row0 = " + std::to_string(w.row0) + " is not a multiple of 128";
  if (!aligned16(w.data)) return "weight data not 16-byte aligned";
  if (M > (int64_t(1) << 30) || w.rows > (int64_t(1) << 30)) return "M or N too large";
  if (w.scale_cols < w.cols / 128)
    fail("gpu::linear: F8 weight scale_cols " + std::to_string(w.scale_cols) + " < K/128");
  return "";
}

// Returns false (nothing enqueued) when the FP8 path cannot run this call.
bool linear_fp8(Context& ctx, const float* x, int64_t M, int64_t x_stride, const WeightDevice& w, float* y,
                int64_t y_stride) {
  if (!fp8_static_reject(M, w).empty()) return false;
  const int64_t N = w.rows, K = w.cols, M4 = round_up(M, 4);
  const int64_t kb_count = K / 128, ld_scale = round_up(kb_count, 4), nb = detail::ceil_div(N, 128);
  const int64_t g0 = w.row0 / 128;
  const bool d_direct = M4 == M && y_stride % 4 == 0 && aligned16(y);
  Fp8Plan plan = plan_for(ctx, M4, N, K, d_direct ? y_stride : N);
  // bf16 D always goes via scratch: re-plan for the scratch layout (ldd = N), and keep using the
  // scratch even if the re-plan offers fp32 D, since that algo was chosen for ldd = N, not y_stride.
  const bool first_bf16 = plan.ok && plan.d_bf16;
  if (first_bf16) plan = plan_for(ctx, M4, N, K, N);
  if (!plan.ok) return false;
  const bool d_scratch = !d_direct || first_bf16 || plan.d_bf16;
  const float* w_scale = w.scale + g0 * w.scale_cols;
  const bool repack = w.scale_cols != ld_scale || !aligned16(w_scale);

  // One scratch block: codes [M4, K] | x scales [K/128, M4] | weight scales [nb, ld] | D [M4, N].
  const size_t codes_bytes = aligned256(size_t(M4 * K));
  const size_t xs_bytes = aligned256(size_t(kb_count * M4) * 4);
  const size_t ws_bytes = repack ? aligned256(size_t(nb * ld_scale) * 4) : 0;
  const size_t d_bytes = d_scratch ? size_t(M4 * N) * (plan.d_bf16 ? 2 : 4) : 0;
  char* base = static_cast<char*>(scratch(ctx, codes_bytes + xs_bytes + ws_bytes + d_bytes));
  auto* codes = reinterpret_cast<uint8_t*>(base);
  auto* xs = reinterpret_cast<float*>(base + codes_bytes);
  auto* wsc = reinterpret_cast<float*>(base + codes_bytes + xs_bytes);
  void* d = d_scratch ? static_cast<void*>(base + codes_bytes + xs_bytes + ws_bytes) : static_cast<void*>(y);

  if (M4 != M) {  // padded rows: zero codes and scales (their D columns are never read)
    DSV32_CUDA_CHECK(cudaMemsetAsync(codes + M * K, 0, size_t((M4 - M) * K), ctx.stream));
    DSV32_CUDA_CHECK(cudaMemsetAsync(xs, 0, size_t(kb_count * M4) * 4, ctx.stream));
  }
  ActQuantParams aq;
  aq.rows = M, aq.dim = K, aq.x_stride = x_stride, aq.scale_ld = M4, aq.bf16_input = true;
  act_quant(ctx, aq, x, codes, xs);
  if (repack) {
    repack_scale_kernel<<<grid_for(nb * ld_scale), kThreads, 0, ctx.stream>>>(w.scale, w.scale_cols, g0, nb,
                                                                             kb_count, ld_scale, wsc);
    DSV32_CUDA_LAUNCH_CHECK("linear/repack_scale");
  }
  LtCall call(N, M4, K, d_scratch ? N : y_stride, plan.d_bf16, repack ? wsc : w_scale, xs);
  const float alpha = 1.f, beta = 0.f;
  const cublasStatus_t st =
      cublasLtMatmul(ctx.blas_lt, call.op, &alpha, w.data, call.a, codes, call.b, &beta, d, call.d, d, call.d,
                     &plan.algo, ctx.blas_workspace, ctx.blas_workspace_bytes, ctx.stream);
  if (st != CUBLAS_STATUS_SUCCESS)
    fail(std::string("gpu::linear kFp8: cublasLtMatmul returned ") + cublasGetStatusName(st) + " for N=" +
         std::to_string(N) + " M4=" + std::to_string(M4) + " K=" + std::to_string(K));
  if (d_scratch) {
    if (plan.d_bf16)
      store_rows_kernel<__nv_bfloat16><<<grid_for(M * N), kThreads, 0, ctx.stream>>>(
          static_cast<const __nv_bfloat16*>(d), M, N, y, y_stride);
    else
      store_rows_kernel<float><<<grid_for(M * N), kThreads, 0, ctx.stream>>>(static_cast<const float*>(d), M, N,
                                                                             y, y_stride);
    DSV32_CUDA_LAUNCH_CHECK("linear/store_rows");
  }
  return true;
}

}  // namespace

WeightUpload::WeightUpload(Context& ctx, const Weight& w)
    : data_(size_t(w.rows * w.cols * dtype_size(w.dtype))) {
  copy_to_device(ctx, data_.get(), w.data, data_.size());
  view_ = WeightDevice{w.dtype, w.rows, w.cols, data_.get(), nullptr, w.scale_cols, w.block, w.row0};
  if (w.dtype == DType::F8_E4M3 && w.rows > 0) {
    // Only the scale-grid rows this view touches; the device view restarts at grid row 0.
    const int64_t g0 = w.row0 / w.block, g1 = (w.row0 + w.rows - 1) / w.block;
    scale_ = DeviceArray<float>(size_t((g1 - g0 + 1) * w.scale_cols));
    copy_to_device(ctx, scale_.get(), w.scale + g0 * w.scale_cols, scale_.size() * sizeof(float));
    view_.scale = scale_.get();
    view_.row0 = w.row0 - g0 * w.block;
  }
}

void linear_batched_heads(Context& ctx, const BatchedHeadsParams& p, const float* x, const WeightDevice& w,
                          float* y) {
  const auto bad = [](const std::string& what) { fail("gpu::linear_batched_heads: " + what); };
  if (p.heads <= 0 || p.n <= 0 || p.k <= 0 || p.rows < 0) bad("empty or negative shape");
  if (w.rows != p.heads * p.n || w.cols != p.k)
    bad("weight is [" + std::to_string(w.rows) + ", " + std::to_string(w.cols) + "], expected [heads·n = " +
        std::to_string(p.heads * p.n) + ", k = " + std::to_string(p.k) + "]");
  if (w.dtype != DType::F32 && w.dtype != DType::BF16)
    bad(std::string("weight dtype ") + dtype_name(w.dtype) + " (F32 or BF16 only)");
  if (p.x_row_stride < p.k || p.y_row_stride < p.n || p.x_head_stride < 0 || p.y_head_stride < p.n)
    bad("a stride is smaller than its row");
  if (p.rows == 0) return;
  const int64_t limit = int64_t(1) << 31;
  if (p.rows >= limit || p.n >= limit || p.k >= limit || p.heads >= limit || p.x_row_stride >= limit ||
      p.y_row_stride >= limit || p.heads * p.k >= limit)
    bad("a dimension exceeds int32 (cuBLAS)");
  const float alpha = 1.f, beta = 0.f;
  // Per head, the column-major mapping of linear: C_h[n, s] = W_hᵀ(op T, lda = K)·B_h[k, s].
  const long long stride_a = (long long)(p.n * p.k);
  if (w.dtype == DType::F32) {
    DSV32_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        ctx.blas, CUBLAS_OP_T, CUBLAS_OP_N, int(p.n), int(p.rows), int(p.k), &alpha, w.data, CUDA_R_32F,
        int(p.k), stride_a, x, CUDA_R_32F, int(p.x_row_stride), (long long)p.x_head_stride, &beta, y,
        CUDA_R_32F, int(p.y_row_stride), (long long)p.y_head_stride, int(p.heads), CUBLAS_COMPUTE_32F_PEDANTIC,
        CUBLAS_GEMM_DEFAULT));
    return;
  }
  if (p.x_row_stride != p.heads * p.x_head_stride || p.x_head_stride < p.k)
    bad("BF16 weights need x rows of heads contiguous head slices (x_row_stride == heads·x_head_stride)");
  auto* xb = static_cast<uint16_t*>(scratch(ctx, size_t(p.rows * p.heads * p.k) * 2));
  convert_to_bf16(ctx, x, p.rows * p.heads, p.k, p.x_head_stride, xb, p.k);
  DSV32_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      ctx.blas, CUBLAS_OP_T, CUBLAS_OP_N, int(p.n), int(p.rows), int(p.k), &alpha, w.data, CUDA_R_16BF, int(p.k),
      stride_a, xb, CUDA_R_16BF, int(p.heads * p.k), (long long)p.k, &beta, y, CUDA_R_32F, int(p.y_row_stride),
      (long long)p.y_head_stride, int(p.heads), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

Fp8PathInfo linear_fp8_path(Context& ctx, int64_t M, const WeightDevice& w) {
  Fp8PathInfo info;
  info.why = fp8_static_reject(M, w);
  if (!info.why.empty() || M <= 0 || w.rows <= 0) return info;
  const Fp8Plan plan = plan_for(ctx, round_up(M, 4), w.rows, w.cols, w.rows);
  info.fp8 = plan.ok;
  info.d_bf16 = plan.d_bf16;
  info.why = plan.why;
  return info;
}

LinearFp8Stats linear_fp8_stats() { return {g_fp8_calls.load(), g_fp8_fallbacks.load()}; }
void linear_fp8_stats_reset() {
  g_fp8_calls = 0;
  g_fp8_fallbacks = 0;
}

void linear(Context& ctx, const float* x, int64_t M, int64_t x_stride, const WeightDevice& w, float* y,
            int64_t y_stride, GemmPrecision prec) {
  const int64_t N = w.rows, K = w.cols;
  if (M <= 0 || N <= 0) return;
  if (K == 0) {
    DSV32_CUDA_CHECK(cudaMemset2DAsync(y, size_t(y_stride) * 4, 0, size_t(N) * 4, size_t(M), ctx.stream));
    return;
  }
  if (prec == GemmPrecision::kFp8) {
    ++g_fp8_calls;
    if (linear_fp8(ctx, x, M, x_stride, w, y, y_stride)) return;
    ++g_fp8_fallbacks;
  }
  switch (w.dtype) {
    case DType::F32:
    case DType::F16:
      linear_fp32(ctx, x, M, x_stride, w, y, y_stride);
      return;
    case DType::BF16:
    case DType::F8_E4M3:
      if (prec == GemmPrecision::kFp32) linear_fp32(ctx, x, M, x_stride, w, y, y_stride);
      else linear_bf16(ctx, x, M, x_stride, w, y, y_stride);
      return;
    default:
      fail(std::string("gpu::linear: unsupported weight dtype ") + dtype_name(w.dtype));
  }
}

}  // namespace dsv32::gpu
