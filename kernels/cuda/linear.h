// gpu::linear — the CUDA twin of kernels/cpu/linear.h: y[M, N] = x[M, K] · W[N, K]ᵀ, fp32 out,
// fp32 accumulation, through cuBLAS.
//
//   x : fp32 [M, K] device, row stride x_stride floats
//   W : WeightDevice, the CPU Weight's fields with `data`/`scale` in device memory
//       F8: W[n,k] = e4m3(code)·scale[(row0+n)/B, k/B], scale fp32 [ceil(N/B), scale_cols]
//   y : fp32 [M, N] device, row stride y_stride; overwritten
//
//   weight  | path (kernels/cuda/linear.cu)                         | activations seen by the GEMM
//   F32     | cublasGemmEx fp32×fp32, CUBLAS_COMPUTE_32F_PEDANTIC   | x as given (fp32)
//   F16     | dequantize W tile → fp32, then the F32 path           | x as given (fp32)
//   BF16    | cublasGemmEx bf16×bf16 → fp32, CUBLAS_COMPUTE_32F     | bf16(x) (RNE)
//   F8_E4M3 | dequantize W tile → bf16 (exact for power-of-two      | bf16(x) (RNE)
//           | ue8m0 scales, SPEC §3.2/3.3), then the BF16 path      |
//   !! BF16 and F8 weights round x to bf16 (the REF activation dtype): when x is already
//      bf16-representable the result differs from the CPU op only by summation order.
//   !! Summation order is cuBLAS's: it may differ between M = 1 and M > 1 (no batch invariance).
//   Dequantized tiles live in the context's scratch: at most kDequantTileBytes per call.
//
// Not done yet (see kernels/cuda/README.md): the cuBLASLt FP8 path, e4m3 × e4m3 with the weight's
// 128×128 block scales (CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F) and per-row 1×128 activation
// scales from act_quant (CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F) — REF's fp8_gemm (SPEC §3.5).
#pragma once
#include <cstdint>

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

void linear(Context& ctx, const float* x, int64_t M, int64_t x_stride, const WeightDevice& w, float* y,
            int64_t y_stride);
inline void linear(Context& ctx, const float* x, int64_t M, const WeightDevice& w, float* y) {
  linear(ctx, x, M, w.cols, w, y, w.rows);
}

}  // namespace dsv32::gpu
