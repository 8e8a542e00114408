// act_quant: one warp per (row, 128-column block). Each lane owns 4 consecutive columns: it loads
// them, the warp reduces |v| to amax, every lane derives the same scale, and each lane stores its 4
// codes as one 32-bit word (codes rows are K bytes, K % 128 == 0, so the word is aligned).
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <string>

#include "kernels/cuda/act_quant.h"
#include "kernels/cuda/check.cuh"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr float kInv448 = 1.f / 448.f;  // MODEL §3.4: amax·(1/448), not amax/448

// MODEL §3.4 step 2-3 on the block's fp32 amax.
__device__ __forceinline__ float block_scale(float amax, bool ue8m0) {
  const float v = fmaxf(amax, 1e-4f) * kInv448;
  if (!ue8m0) return v;
  const uint32_t bits = __float_as_uint(v);
  // v ≥ 1e-4/448 is normal, so the biased exponent of 2^⌈log2 v⌉ stays in [1, 255].
  const uint32_t biased = ((bits >> 23) & 0xffu) + ((bits & 0x7fffffu) != 0u ? 1u : 0u);
  return __uint_as_float(biased << 23);
}

__device__ __forceinline__ uint32_t e4m3_code(float v, float s) {
  const float q = __fdiv_rn(v, s);
  if (isnan(q)) return 0x7fu;
  return uint32_t(__nv_cvt_float_to_fp8(fminf(fmaxf(q, -448.f), 448.f), __NV_SATFINITE, __NV_E4M3));
}

__global__ void act_quant_kernel(const float* __restrict__ x, int64_t M, int64_t K, int64_t x_stride,
                                 int64_t scale_ld, bool ue8m0, bool bf16_input, uint8_t* __restrict__ codes,
                                 float* __restrict__ scales) {
  const int lane = threadIdx.x & 31;
  const int64_t kb_count = K / kActQuantBlock;
  const int64_t warps = M * kb_count;
  for (int64_t w = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); w < warps;
       w += int64_t(gridDim.x) * kWarpsPerBlock) {
    const int64_t m = w / kb_count, kb = w - m * kb_count;
    const int64_t c0 = kb * kActQuantBlock + lane * 4;
    float v[4];
    float amax = 0.f;
    for (int j = 0; j < 4; ++j) {
      v[j] = x[m * x_stride + c0 + j];
      if (bf16_input) v[j] = __bfloat162float(__float2bfloat16_rn(v[j]));
      amax = fmaxf(amax, fabsf(v[j]));
    }
    amax = detail::warp_max(amax);
    const float s = block_scale(amax, ue8m0);
    uint32_t word = 0;
    for (int j = 0; j < 4; ++j) word |= e4m3_code(v[j], s) << (8 * j);
    *reinterpret_cast<uint32_t*>(codes + m * K + c0) = word;
    if (lane == 0) scales[kb * scale_ld + m] = s;
  }
}

}  // namespace

void act_quant(Context& ctx, const ActQuantParams& p, const float* x, uint8_t* codes, float* scales) {
  const int64_t M = p.rows, K = p.dim, x_stride = p.x_stride ? p.x_stride : K;
  if (K % kActQuantBlock != 0 || p.block != kActQuantBlock)
    fail("gpu::act_quant: K = " + std::to_string(K) + ", block " + std::to_string(p.block) +
         ": needs block 128 and K a multiple of it");
  if (x_stride < K) fail("gpu::act_quant: x_stride " + std::to_string(x_stride) + " < K");
  if (p.scale_ld < M) fail("gpu::act_quant: scale_ld " + std::to_string(p.scale_ld) + " < M");
  if (reinterpret_cast<uintptr_t>(codes) % 4 != 0) fail("gpu::act_quant: codes not 4-byte aligned");
  const int64_t warps = M * (K / kActQuantBlock);
  if (warps == 0) return;
  const unsigned grid = unsigned(std::min<int64_t>(detail::ceil_div(warps, kWarpsPerBlock), int64_t(1) << 20));
  act_quant_kernel<<<grid, kThreads, 0, ctx.stream>>>(x, M, K, x_stride, p.scale_ld, p.pow2_scale, p.bf16_input,
                                                       codes, scales);
  DSV32_CUDA_LAUNCH_CHECK("act_quant");
}

}  // namespace dsv32::gpu
