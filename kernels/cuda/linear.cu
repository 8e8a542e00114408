// linear through cuBLAS. Variants by weight dtype (see linear.h for the table):
//   kF32     cublasGemmEx(fp32, fp32 → fp32), compute 32F pedantic
//   kF16     dequant_tile_kernel → fp32 tile, then kF32 per tile
//   kBF16    x → bf16 (to_bf16_kernel), cublasGemmEx(bf16, bf16 → fp32), compute 32F
//   kF8      dequant_tile_kernel → bf16 tile (e4m3 · block scale), then kBF16 per tile
// Row-major y[M,N] = x[M,K]·W[N,K]ᵀ is column-major yᵀ[N,M] = Wᵀ·xᵀ: cuBLAS sees A = W (op T,
// lda = K), B = x (op N, ldb = x_stride), C = y (ldc = y_stride), m = N, n = M, k = K.
// Dequantized tiles are [rows_per_tile, K] with rows_per_tile chosen so a tile fits
// kDequantTileBytes; the GEMM of tile i and the dequant of tile i+1 are stream-ordered.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/linear.h"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float e4m3_to_f32(uint8_t code) {
  __half_raw h = __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t(code), __NV_E4M3);
  return __half2float(__half(h));
}

// x [M, K] (row stride x_stride) → packed bf16 [M, K], round to nearest even.
__global__ void to_bf16_kernel(const float* __restrict__ x, int64_t M, int64_t K, int64_t x_stride,
                               __nv_bfloat16* __restrict__ out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < M * K;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t m = i / K, k = i - m * K;
    out[i] = __float2bfloat16_rn(x[m * x_stride + k]);
  }
}

// Rows [n0, n0+nr) of W → packed tile [nr, K] of OutT (float or bf16).
template <class OutT>
__global__ void dequant_tile_kernel(const void* __restrict__ data, bool is_f8, const float* __restrict__ scale,
                                    int64_t scale_cols, int64_t block, int64_t row0, int64_t K, int64_t n0,
                                    int64_t nr, OutT* __restrict__ tile) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < nr * K;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = n0 + i / K, c = i % K;
    float v;
    if (is_f8) {
      const uint8_t code = static_cast<const uint8_t*>(data)[r * K + c];
      v = e4m3_to_f32(code) * scale[((row0 + r) / block) * scale_cols + c / block];
    } else {  // F16
      v = __half2float(static_cast<const __half*>(data)[r * K + c]);
    }
    if constexpr (std::is_same_v<OutT, float>) tile[i] = v;
    else tile[i] = __float2bfloat16_rn(v);
  }
}

unsigned grid_for(int64_t n) { return unsigned(std::min<int64_t>(detail::ceil_div(n, kThreads), 65535 * 8)); }

// C[N-slice] = A·B with the column-major mapping above. A: [n, K] rows of W (type a_type), B: x.
void gemm(Context& ctx, cudaDataType_t ab_type, cublasComputeType_t compute, const void* a, int64_t n,
          int64_t K, const void* b, int64_t ldb, int64_t M, float* c, int64_t ldc) {
  const float alpha = 1.f, beta = 0.f;
  DSV32_CUBLAS_CHECK(cublasGemmEx(ctx.blas, CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(M), int(K), &alpha, a,
                                  ab_type, int(K), b, ab_type, int(ldb), &beta, c, CUDA_R_32F, int(ldc),
                                  compute, CUBLAS_GEMM_DEFAULT));
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

void linear(Context& ctx, const float* x, int64_t M, int64_t x_stride, const WeightDevice& w, float* y,
            int64_t y_stride) {
  const int64_t N = w.rows, K = w.cols;
  if (M <= 0 || N <= 0) return;
  if (K == 0) {
    DSV32_CUDA_CHECK(cudaMemset2DAsync(y, size_t(y_stride) * 4, 0, size_t(N) * 4, size_t(M), ctx.stream));
    return;
  }
  switch (w.dtype) {
    case DType::F32:
      gemm(ctx, CUDA_R_32F, CUBLAS_COMPUTE_32F_PEDANTIC, w.data, N, K, x, x_stride, M, y, y_stride);
      return;
    case DType::F16: {
      const int64_t tile_rows = std::clamp<int64_t>(kDequantTileBytes / (K * 4), 1, N);
      float* tile = static_cast<float*>(scratch(ctx, size_t(tile_rows * K) * 4));
      for (int64_t n0 = 0; n0 < N; n0 += tile_rows) {
        const int64_t nr = std::min(tile_rows, N - n0);
        dequant_tile_kernel<float><<<grid_for(nr * K), kThreads, 0, ctx.stream>>>(
            w.data, false, nullptr, 0, 1, 0, K, n0, nr, tile);
        DSV32_CUDA_LAUNCH_CHECK("linear/dequant_f16");
        gemm(ctx, CUDA_R_32F, CUBLAS_COMPUTE_32F_PEDANTIC, tile, nr, K, x, x_stride, M, y + n0, y_stride);
      }
      return;
    }
    case DType::BF16:
    case DType::F8_E4M3: {
      const bool f8 = w.dtype == DType::F8_E4M3;
      const int64_t tile_rows = f8 ? std::clamp<int64_t>(kDequantTileBytes / (K * 2), 1, N) : 0;
      const size_t x_bytes = (size_t(M * K) * 2 + 255) & ~size_t(255);
      char* base = static_cast<char*>(scratch(ctx, x_bytes + size_t(tile_rows * K) * 2));
      auto* xb = reinterpret_cast<__nv_bfloat16*>(base);
      to_bf16_kernel<<<grid_for(M * K), kThreads, 0, ctx.stream>>>(x, M, K, x_stride, xb);
      DSV32_CUDA_LAUNCH_CHECK("linear/to_bf16");
      if (!f8) {
        gemm(ctx, CUDA_R_16BF, CUBLAS_COMPUTE_32F, w.data, N, K, xb, K, M, y, y_stride);
        return;
      }
      auto* tile = reinterpret_cast<__nv_bfloat16*>(base + x_bytes);
      for (int64_t n0 = 0; n0 < N; n0 += tile_rows) {
        const int64_t nr = std::min(tile_rows, N - n0);
        dequant_tile_kernel<__nv_bfloat16><<<grid_for(nr * K), kThreads, 0, ctx.stream>>>(
            w.data, true, w.scale, w.scale_cols, w.block, w.row0, K, n0, nr, tile);
        DSV32_CUDA_LAUNCH_CHECK("linear/dequant_f8");
        gemm(ctx, CUDA_R_16BF, CUBLAS_COMPUTE_32F, tile, nr, K, xb, K, M, y + n0, y_stride);
      }
      return;
    }
    default:
      fail(std::string("gpu::linear: unsupported weight dtype ") + dtype_name(w.dtype));
  }
}

}  // namespace dsv32::gpu
