// gpu::linear — the CUDA twin of kernels/cpu/linear.h: y[M, N] = x[M, K] · W[N, K]ᵀ, fp32 out,
// fp32 accumulation, through cuBLAS / cuBLASLt.
//
//   x : fp32 [M, K] device, row stride x_stride floats
//   W : WeightDevice, the CPU Weight's fields with `data`/`scale` in device memory
//       F8: W[n,k] = e4m3(code)·scale[(row0+n)/B, k/B], scale fp32 [ceil(N/B), scale_cols]
//   y : fp32 [M, N] device, row stride y_stride; overwritten
//
// The GemmPrecision argument (below) picks what the GEMM multiplies. kBf16 (the default):
//   weight  | path (kernels/cuda/linear.cu)                         | activations seen by the GEMM
//   F32     | cublasGemmEx fp32×fp32, CUBLAS_COMPUTE_32F_PEDANTIC   | x as given (fp32)
//   F16     | dequantize W tile → fp32, then the F32 path           | x as given (fp32)
//   BF16    | cublasGemmEx bf16×bf16 → fp32, CUBLAS_COMPUTE_32F     | bf16(x) (RNE)
//   F8_E4M3 | dequantize W tile → bf16 (exact for power-of-two      | bf16(x) (RNE)
//           | ue8m0 scales, MODEL §3.2/3.3), then the BF16 path      |
// kFp32: every dtype dequantized to fp32 tiles (F32 used in place), x as given, the F32 path.
// kFp8 on F8 weights: REF's fp8_gemm (MODEL §3.5) in cuBLASLt —
//   (x_q, s_x) = act_quant(x) (kernels/cuda/act_quant.h: bf16(x) first, ue8m0 scales), then
//   e4m3 W (A, op T, K-major) × e4m3 x_q (B, op N) with A_SCALE_MODE = BLK128x128_32F (the
//   checkpoint's weight_scale_inv grid) and B_SCALE_MODE = VEC128_32F (s_x), fp32 accumulation
//   promoted per 128-wide K block, D fp32 (bf16 D, widened, only where the heuristic offers no
//   fp32 D: linear_fp8_path() says which). Fast accumulation stays off.
//   !! Falls back to the kBf16 path (and counts it, linear_fp8_stats()) for non-F8 weights and
//      for what the FP8 path cannot take: K % 128 != 0, block != 128, a view whose row0 is not a
//      multiple of 128 (its blocks straddle the checkpoint's), or a shape the cuBLASLt heuristic
//      rejects (e.g. N % 4 != 0). M is padded to a multiple of 4 internally (M = 1 decode works).
//   !! BF16 and F8 weights round x to bf16 (the REF activation dtype): when x is already
//      bf16-representable the kBf16 result differs from the CPU op only by summation order.
//   !! Summation order is cuBLAS's: it may differ between M = 1 and M > 1 (no batch invariance).
//   Dequantized tiles live in the context's scratch: at most kDequantTileBytes per call.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/cpu/linear.h"
#include "kernels/cuda/context.h"

namespace dsv32::gpu {

struct WeightDevice {
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;    // [N, K]
  const void* data = nullptr;    // device, row-major
  const float* scale = nullptr;  // device, F8 only
  int64_t scale_cols = 0;
  int64_t block = 128;
  int64_t row0 = 0;
};

// Owning device copy of a host Weight (data and, for F8, the rows of the scale grid it uses).
class WeightUpload {
 public:
  WeightUpload(Context& ctx, const Weight& w);
  const WeightDevice& view() const { return view_; }

 private:
  DeviceArray<uint8_t> data_;
  DeviceArray<float> scale_;
  WeightDevice view_;
};

constexpr int64_t kDequantTileBytes = int64_t(64) << 20;

// What the GEMM multiplies (the weight's storage dtype only says how it is dequantized):
//   kFp32 : every weight dtype dequantized to fp32 tiles, x as given, fp32 GEMM with TF32 off
//           (CUBLAS_COMPUTE_32F_PEDANTIC): the CPU exact profile up to summation order.
//   kBf16 : the table above (F32 weights stay on the fp32 pedantic path).
//   kFp8  : F8 weights: act_quant(x) → e4m3 × e4m3 in cuBLASLt with block scales (MODEL §3.5).
//           !! Non-F8 weights, and shapes the cuBLASLt heuristic rejects, take the kBf16 path.
enum class GemmPrecision { kFp32, kBf16, kFp8 };

void linear(Context& ctx, const float* x, int64_t M, int64_t x_stride, const WeightDevice& w, float* y,
            int64_t y_stride, GemmPrecision prec = GemmPrecision::kBf16);
inline void linear(Context& ctx, const float* x, int64_t M, const WeightDevice& w, float* y,
                   GemmPrecision prec = GemmPrecision::kBf16) {
  linear(ctx, x, M, w.cols, w, y, w.rows, prec);
}

// gpu::linear_batched_heads — one small linear per attention head in ONE strided-batched cuBLAS
// call (cublasGemmStridedBatchedEx), for absorbed MLA's per-head products (W_UKᵀ for q̃, W_UV for
// the output; MODEL §6.4):
//   y[s, h, :N] = W_h · x[s, h, :K]          s < rows, h < heads
//   x : fp32 device, element (s, h, k) at x[s·x_row_stride + h·x_head_stride + k]
//   w : [heads·N, K] row-major, head h = rows [h·N, (h+1)·N) (w.rows = heads·N, w.cols = K);
//       dtype F32 or BF16 only (the caller dequantizes once at upload)
//   y : fp32 device, (s, h, n) at y[s·y_row_stride + h·y_head_stride + n]; overwritten
//   F32 w : fp32 × fp32, CUBLAS_COMPUTE_32F_PEDANTIC — per head exactly linear's kFp32 path
//   BF16 w: x rounded to bf16 (RNE) into the context's scratch as packed [rows, heads, K], then
//           bf16 × bf16 → fp32, CUBLAS_COMPUTE_32F — per head linear's BF16 row; needs
//           x_row_stride == heads·x_head_stride (one conversion pass; true of both MLA uses)
//   Throws dsv32::Error for another dtype, a shape mismatch, or strides that overlap rows.
struct BatchedHeadsParams {
  int64_t heads = 0, rows = 0;  // H, S
  int64_t n = 0, k = 0;         // outputs and inputs per head
  int64_t x_row_stride = 0, x_head_stride = 0;
  int64_t y_row_stride = 0, y_head_stride = 0;
};
void linear_batched_heads(Context& ctx, const BatchedHeadsParams& p, const float* x, const WeightDevice& w,
                          float* y);

// Whether linear(ctx, x, M, w, y, kFp8) with a packed, 16-byte aligned y takes the cuBLASLt FP8
// path; `why` names the reason when it does not. Runs (and caches) the heuristic query.
struct Fp8PathInfo {
  bool fp8 = false;     // false: the call falls back to kBf16
  bool d_bf16 = false;  // the GEMM writes bf16 D (then widened): one extra bf16 rounding of y
  std::string why;
};
Fp8PathInfo linear_fp8_path(Context& ctx, int64_t M, const WeightDevice& w);

// Process-wide counts of kFp8 calls and of those that fell back to kBf16 (tests and benchmarks
// report them; reset between measurements).
struct LinearFp8Stats {
  int64_t calls = 0, fallbacks = 0;
};
LinearFp8Stats linear_fp8_stats();
void linear_fp8_stats_reset();

}  // namespace dsv32::gpu
