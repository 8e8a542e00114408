// linear_bf16: y[M, N] = bf16(x)[M, K] · bf16(W)[N, K]ᵀ with fp32 accumulation — the kBf16 GEMM of
// the numerics table (model/numerics.h, docs/MODEL.md §13.2) on the CPU.
//
//   x : fp32 [M, K] at x_stride; rounded to bf16 (RNE, f32_to_bf16) before the products
//   W : BF16 (used as stored) or F8_E4M3 (code·scale in fp32 as Weight::row_to_f32, then RNE to
//       bf16 — exact for the checkpoints' power-of-two ue8m0 scales, MODEL §3.3); any other dtype
//       is the caller's to send to linear() (the CUDA kBf16 path keeps F32/F16 in fp32 as well)
//   y : fp32 [M, N] at y_stride; overwritten
//   !! Summation order per output, fixed (independent of M, threads and the path below): the
//      columns are zero-padded to K' = ceil(K/32)·32 and cut into chunks of 512; in a chunk, fp32
//      lane l (0..15) accumulates the column pairs (32c + 2l, 32c + 2l + 1) for c ascending as
//          acc_l = fma(x_even, w_even, fma(x_odd, w_odd, acc_l))       (odd column first)
//      with subnormal inputs and results flushed to zero (FTZ/DAZ); the lanes then reduce by the
//      tree of linear.h (t[i] += t[i+w], w = 8, 4, 2, 1; normal fp32 rounding, no flushing) and
//      the chunk sums add into y from +0 in column order. That lane step is exactly AVX512-BF16's
//      vdpbf16ps (measured on AMD Zen: bit-identical to two FMAs, odd pair first, under MXCSR
//      FTZ|DAZ, subnormal operands included); products of two bf16 are exact in fp32, so each FMA
//      rounds once.
//   Paths (Bf16Dot): kNative, vdpbf16ps (kernels/cpu/linear_bf16_native.cpp, compiled with the
//   AVX512-BF16 target whatever -march says, run only where cpuid reports avx512_bf16); kEmulated,
//   two FMAs per pair under MXCSR FTZ|DAZ (AVX-512F where compiled in, else scalar std::fma).
//   They give identical bits (tests/kernels/test_linear_bf16.cpp). kAuto takes kNative where the
//   CPU has it, unless DSV32_BF16_DOT=emulated is set in the environment.
//   !! Off x86 there is no MXCSR: the scalar path does not flush subnormals there (untested).
#pragma once
#include <cstdint>

#include "kernels/cpu/linear.h"
#include "kernels/cpu/threadpool.h"

namespace dsv32 {

enum class Bf16Dot { kAuto, kNative, kEmulated };

// The CPU reports avx512f, avx512bw and avx512_bf16, and this build has the native kernel.
bool bf16_dot_native_available();
// What kAuto resolves to in this process ("native" or "emulated").
const char* bf16_dot_name(Bf16Dot d = Bf16Dot::kAuto);

// w.dtype must be BF16 or F8_E4M3 (Error otherwise). kNative where unavailable: Error.
void linear_bf16(ThreadPool& pool, const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
                 int64_t y_stride, Bf16Dot dot = Bf16Dot::kAuto);

// Float64 reference of the same products: Σ_k double(bf16(x[m,k])) · double(bf16(W[n,k])).
void linear_bf16_reference(const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
                           int64_t y_stride);

}  // namespace dsv32
