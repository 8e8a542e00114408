// fp8_gemm: emulation of REF-1's FP8 linear layer (MODEL §3.5) — what every FP8 projection listed
// in §3.6 computes in the REF-1 numerics profile.
//
//   x : fp32 [M, K], row stride x_stride (0 = K)           (bf16-valued activations)
//   W : F8 e4m3 [N, K] with fp32 block scales S_w [ceil(N/B), ceil(K/B)], B = 128 (linear.h Weight)
//   y : fp32 [M, N], row stride y_stride (0 = N); every value is bf16-representable
//
//   (x_q, s_x) = act_quant(x)                                  per row, per 128-column block of K
//   for each K-block kb:  partial[m,n] = Σ_{k∈kb} x_q[m,k] · W_q[n,k]       fp32 (e4m3 values)
//                         acc[m,n]   += partial · (s_x[m,kb] · S_w[n/B, kb])  fp32, "promoted"
//   y = bf16(acc)
//   !! W_q are the raw e4m3 values (the scale is NOT folded in); products of two e4m3 values are
//      exact in fp32, so the only fp32 roundings are the partial sums and the promoted adds.
//   !! fixed summation order per output (16 fp32 lanes per block, fixed lane tree, blocks in K
//      order), independent of M and of the thread count: a token's row is bit-identical whether
//      computed alone (decode) or in a batch (prefill).
//   Non-F8 weights are an error (REF-1 runs those through a bf16 GEMM: linear() + round_bf16).
#pragma once
#include <cstdint>

#include "kernels/cpu/linear.h"
#include "kernels/cpu/threadpool.h"

namespace dsv32 {

struct Fp8GemmParams {
  int64_t m = 0;                        // rows of x and y
  int64_t x_stride = 0, y_stride = 0;   // 0: K, N
  int64_t block = 128;                  // activation quant block = weight scale block
  bool pow2_scale = true;               // ue8m0 activation scales
};

void fp8_gemm(ThreadPool& pool, const Fp8GemmParams& p, const float* x, const Weight& w, float* y);

}  // namespace dsv32
