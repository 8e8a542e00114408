// The vdpbf16ps lane steps of linear_bf16 (kernels/cpu/linear_bf16.h). CMake compiles this file
// with -mavx512f -mavx512bw -mavx512bf16 where the compiler takes them (DSV32_BF16_NATIVE),
// whatever -march says; linear_bf16.cpp calls it only where cpuid reports the instructions.
// !! Self-contained on purpose: only intrinsics and functions of internal linkage, no inline
//    function or template shared with other files, so nothing compiled here with the AVX-512
//    flags can be picked by the linker for code that runs on a CPU without them.
#include <cstdint>

namespace dsv32::detail {
bool linear_bf16_native_compiled();
void bf16_dot_native(int mr, int nr, const uint16_t* x, int64_t x_stride, const uint16_t* wt, int64_t wt_stride,
                     int64_t len, float* acc);
}  // namespace dsv32::detail

#if defined(DSV32_BF16_NATIVE) && defined(__AVX512BF16__) && defined(__AVX512BW__)
#include <immintrin.h>

namespace dsv32::detail {
namespace {

// acc[i·NR + j] (16 fp32 lanes each) = Σ over k in [0, len) step 32 of vdpbf16ps(x row i, wt row j):
// per lane, += x_odd·w_odd then += x_even·w_even, DAZ/FTZ/RNE (the instruction ignores MXCSR).
template <int MR, int NR>
void dot_block(const uint16_t* x, int64_t x_stride, const uint16_t* wt, int64_t wt_stride, int64_t len,
               float* acc_out) {
  __m512 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < len; k += 32) {
    __m512bh wv[NR];
    for (int j = 0; j < NR; ++j) wv[j] = (__m512bh)_mm512_loadu_si512(wt + j * wt_stride + k);
    for (int i = 0; i < MR; ++i) {
      const __m512bh xv = (__m512bh)_mm512_loadu_si512(x + i * x_stride + k);
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv, wv[j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) _mm512_storeu_ps(acc_out + (i * NR + j) * 16, acc[i][j]);
}

template <int MR>
void dot_rows(int nr, const uint16_t* x, int64_t xs, const uint16_t* wt, int64_t ws, int64_t len, float* acc) {
  switch (nr) {
    case 4: dot_block<MR, 4>(x, xs, wt, ws, len, acc); break;
    case 3: dot_block<MR, 3>(x, xs, wt, ws, len, acc); break;
    case 2: dot_block<MR, 2>(x, xs, wt, ws, len, acc); break;
    default: dot_block<MR, 1>(x, xs, wt, ws, len, acc); break;
  }
}

}  // namespace

bool linear_bf16_native_compiled() { return true; }

void bf16_dot_native(int mr, int nr, const uint16_t* x, int64_t x_stride, const uint16_t* wt, int64_t wt_stride,
                     int64_t len, float* acc) {
  if (mr == 4) dot_rows<4>(nr, x, x_stride, wt, wt_stride, len, acc);
  else dot_rows<1>(nr, x, x_stride, wt, wt_stride, len, acc);
}

}  // namespace dsv32::detail

#else
namespace dsv32::detail {
bool linear_bf16_native_compiled() { return false; }
void bf16_dot_native(int, int, const uint16_t*, int64_t, const uint16_t*, int64_t, int64_t, float*) {}
}  // namespace dsv32::detail
#endif
