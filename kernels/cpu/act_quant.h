// act_quant: per-block FP8 e4m3 quantization of activations (MODEL §3.4, REF `kernel.py`), the
// first step of every REF-1 fp8_gemm and of the indexer's q/k quantization (§7.3).
//
//   x : fp32 [rows, dim], row stride x_stride (0 = dim)        (bf16-valued in the REF-1 profile)
//   per row and per block b of `block` columns (the last block may be narrower: harness shapes
//   such as the tiny preset's r_kv = 64 are not multiples of 128; V3.2's all are):
//     amax = max(max |x| over the block, 1e-4)                                   fp32
//     s    = pow2_scale ? 2^ceil(log2(amax · fp32(1/448)))   (ue8m0, from the fp32 bits:
//                                                             exponent, +1 if any mantissa bit)
//                       : amax · fp32(1/448)
//     q    = e4m3_rne(clamp(x / s, −448, 448))                (true division; round to nearest even)
//   q : fp32 [rows, dim] (row stride q_stride, 0 = dim): the e4m3 VALUES (exact in fp32), not codes
//   s : fp32 [rows, n_blocks], n_blocks = ceil(dim / block) (or column-major, scale_ld)
//   !! with ue8m0 scales amax/s lies in (224, 448], so the block maximum's code is ≥ 224; a block
//      whose maximum is exactly 448·2^k gets s = 2^k and codes ±448 (fp32(1/448) rounds up, but
//      448·2^k·fp32(1/448) rounds back to 2^k).
//   act_quant_roundtrip: x ← q·s in place (REF-1's FP8 simulation of the MLA latent c_KV, §6.1).
#pragma once
#include <cstdint>

namespace dsv32 {

// The one contract of act_quant for both backends (gpu::act_quant, kernels/cuda/act_quant.h,
// reads the same struct; it writes e4m3 codes where the CPU writes their values).
struct ActQuantParams {
  int64_t rows = 0, dim = 0;
  int64_t block = 128;
  bool pow2_scale = true;  // scale_fmt "ue8m0" (the shipped config); false: amax/448 as is
  int64_t x_stride = 0, q_stride = 0;  // 0: dim
  // 0: s row-major [rows, n_blocks]; > 0 (≥ rows): column-major s[b·scale_ld + r], the layout
  // cuBLASLt's VEC128 scales want (the GPU requires it).
  int64_t scale_ld = 0;
  bool bf16_input = false;  // round x to bf16 first, as REF's activations are bf16
};

constexpr float kE4m3Max = 448.f;
constexpr float kActQuantAmaxFloor = 1e-4f;

inline int64_t act_quant_blocks(const ActQuantParams& p) { return (p.dim + p.block - 1) / p.block; }

// The e4m3 value nearest to v (ties to even), for |v| ≤ 448 (the caller clamps). Exact.
float e4m3_round(float v);
// The ue8m0 scale for a block maximum (amax already floored).
float act_quant_scale(float amax, bool pow2_scale);

void act_quant(const ActQuantParams& p, const float* x, float* q, float* s);
void act_quant_roundtrip(const ActQuantParams& p, float* x);

}  // namespace dsv32
