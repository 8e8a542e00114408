// gpu::act_quant — REF's activation quantization (MODEL §3.4): per row and per 128-column block,
// e4m3 codes and one fp32 scale, in the layouts cuBLASLt's block-scaled FP8 GEMM reads.
//
// The params are the CPU op's (kernels/cpu/act_quant.h ActQuantParams): M = rows, K = dim,
// block must be 128; q_stride is unused (codes are packed).
//   x      : fp32 [M, K] device, row stride x_stride floats (0: K); K % 128 == 0
//   codes  : uint8 e4m3fn [M, K] device, row stride K (packed); overwritten
//   scales : fp32 [K/128, scale_ld] device, scales[kb·scale_ld + m]; overwritten for m < M
//            !! "outer-dim major": M is the fastest dimension. This is the layout cuBLASLt's
//               CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F wants for the B operand x (op N, K×M
//               column-major): one fp32 per 128 K-elements, consecutive rows adjacent (PyTorch's
//               _scaled_mm checks the same: scale [M, K/128] with strides (1, M)). scale_ld ≥ M;
//               gpu::linear pads M to a multiple of 4 so that every scale column is 16-byte aligned.
//
// Per (row m, block kb), exactly MODEL §3.4:
//   1. v = bf16(x) when bf16_input (REF's activations are bf16; a no-op for bf16-representable x)
//   2. amax = max(max|v| over the block, 1e-4)                                  (fp32)
//   3. ue8m0: s = 2^⌈log2(amax·(1/448))⌉, the ceil taken from the fp32 bits of amax·(1/448)
//      (exponent − 127, +1 if any mantissa bit is set); otherwise s = amax·(1/448)
//   4. code = e4m3(clamp(v / s, −448, 448)), true fp32 division, round to nearest even
//   Dequantized: x̂ = e4m3_to_f32(code)·s.
#pragma once
#include <cstdint>

#include "kernels/cpu/act_quant.h"
#include "kernels/cuda/context.h"

namespace dsv32::gpu {

constexpr int64_t kActQuantBlock = 128;

// Throws dsv32::Error on K % 128 != 0, block != 128, x_stride < K or scale_ld < M.
void act_quant(Context& ctx, const ActQuantParams& p, const float* x, uint8_t* codes, float* scales);

}  // namespace dsv32::gpu
