// CPU fp8_gemm emulation. Layout of the work: x is quantized once per call into thread-local
// buffers (x_q [M, K] as e4m3 values, s_x [M, K/B]); threads split N into tiles of kNR weight rows;
// for each tile and K-block the tile's codes are decoded (values only, no scale) into a small
// buffer and every row of x_q is dotted with them, the partial sum promoted into y with its two
// scales. y is rounded to bf16 once the tile's last block is in.
#include "kernels/cpu/fp8_gemm.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/round_bf16.h"
#include "kernels/cpu/vec.h"
#include "kernels/error.h"

namespace dsv32 {

namespace {
constexpr int64_t kNR = 4;  // weight rows per tile
}

void fp8_gemm(ThreadPool& pool, const Fp8GemmParams& p, const float* x, const Weight& w, float* y) {
  const int64_t M = p.m, N = w.rows, K = w.cols, B = p.block;
  const int64_t xs = p.x_stride ? p.x_stride : K, ys = p.y_stride ? p.y_stride : N;
  if (w.dtype != DType::F8_E4M3)
    fail(std::string("fp8_gemm: weight is ") + dtype_name(w.dtype) + ", expected F8_E4M3 with block scales");
  if (w.block != B)
    fail("fp8_gemm: weight scale block " + std::to_string(w.block) + " differs from the activation block " +
         std::to_string(B));
  if (M <= 0 || N <= 0) return;
  const int64_t nb = (K + B - 1) / B;

  // Grow-only scratch: after the first call of a given size the decode loop allocates nothing.
  thread_local std::vector<float> xq, sx;
  if (int64_t(xq.size()) < M * K) xq.resize(M * K);
  if (int64_t(sx.size()) < M * nb) sx.resize(M * nb);
  float* const xqp = xq.data();
  float* const sxp = sx.data();
  pool.parallel_for(M, [&](int64_t m0, int64_t m1) {
    act_quant({m1 - m0, K, B, p.pow2_scale, xs, K}, x + m0 * xs, xqp + m0 * K, sxp + m0 * nb);
  });

  const uint8_t* codes = static_cast<const uint8_t*>(w.data);
  const int64_t n_tiles = (N + kNR - 1) / kNR;
  pool.parallel_for(n_tiles, [&](int64_t t0, int64_t t1) {
    alignas(64) float wt[kNR * 128];
    std::vector<float> wt_big;  // only for a block wider than 128 (no DeepSeek checkpoint has one)
    float* wtp = wt;
    if (B > 128) { wt_big.resize(kNR * B); wtp = wt_big.data(); }
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n0 = t * kNR, nr = std::min(kNR, N - n0);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t j = 0; j < nr; ++j) y[m * ys + n0 + j] = 0.f;
      for (int64_t kb = 0; kb < nb; ++kb) {
        const int64_t k0 = kb * B, len = std::min(B, K - k0);
        float sw[kNR];
        for (int64_t j = 0; j < nr; ++j) {
          const uint8_t* c = codes + (n0 + j) * K + k0;
          for (int64_t k = 0; k < len; ++k) wtp[j * B + k] = kF8E4M3ToF32[c[k]];
          sw[j] = w.scale[((w.row0 + n0 + j) / w.block) * w.scale_cols + kb];
        }
        for (int64_t m = 0; m < M; ++m) {
          const float* xr = xqp + m * K + k0;
          const float s = sxp[m * nb + kb];
          float* yr = y + m * ys + n0;
          for (int64_t j = 0; j < nr; ++j) yr[j] += vec::dot(xr, wtp + j * B, len) * (s * sw[j]);
        }
      }
      for (int64_t m = 0; m < M; ++m) round_bf16(y + m * ys + n0, nr);
    }
  });
}

}  // namespace dsv32
