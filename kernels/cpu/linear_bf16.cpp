// linear_bf16 (kernels/cpu/linear_bf16.h): x rounded to bf16 once, then a blocked GEMM whose
// lane steps are vdpbf16ps (linear_bf16_native.cpp) or their emulation (here).
//
// Layout (the exact GEMM's, kernels/cpu/linear.cpp): threads own contiguous ranges of 4-row
// tiles; a range is walked in blocks of kNB tiles × kMB rows, chunks of 512 columns outermost in
// a block; each (tile, chunk) is decoded once into a bf16 buffer (4 × 512, 4 KiB) and multiplied
// into the block's rows 4 × 4 at a time (16 fp32 accumulators, 32 columns a step); the
// accumulators come back through memory (1 KiB per 4 × 4 × 512 block, ~3 % of its work) and the
// chunk sums go into y by the tree of linear.h (vec::add_sums), the same code for both steps.
#include "kernels/cpu/linear_bf16.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DSV32_HAVE_MXCSR 1
#endif

#include "kernels/cpu/vec.h"
#include "kernels/error.h"
#include "kernels/numeric.h"

namespace dsv32 {
namespace detail {  // linear_bf16_native.cpp
bool linear_bf16_native_compiled();
void bf16_dot_native(int mr, int nr, const uint16_t* x, int64_t x_stride, const uint16_t* wt, int64_t wt_stride,
                     int64_t len, float* acc);
}  // namespace detail

namespace {

using vec::v16;
typedef uint32_t u32x16 __attribute__((vector_size(64)));

constexpr int kNR = 4, kMR = 4;
constexpr int64_t kPair = 32;    // columns per lane step (16 lanes × 2)
constexpr int64_t kChunk = 512;  // columns per chunk (the exact GEMM's)
constexpr int64_t kMB = 128, kNB = 128;

// MXCSR with FTZ (bit 15) and DAZ (bit 6) for the lifetime of the object: the emulated step
// then flushes exactly as vdpbf16ps does (which ignores MXCSR).
struct FtzDaz {
#ifdef DSV32_HAVE_MXCSR
  unsigned saved = _mm_getcsr();
  FtzDaz() { _mm_setcsr(saved | 0x8040u); }
  ~FtzDaz() { _mm_setcsr(saved); }
#endif
};

inline v16 fma16(v16 a, v16 b, v16 c) {
#ifdef __AVX512F__
  __m512 av, bv, cv;
  std::memcpy(&av, &a, 64), std::memcpy(&bv, &b, 64), std::memcpy(&cv, &c, 64);
  cv = _mm512_fmadd_ps(av, bv, cv);
  std::memcpy(&c, &cv, 64);
  return c;
#else
  for (int l = 0; l < 16; ++l) c[l] = std::fma(a[l], b[l], c[l]);
  return c;
#endif
}

inline v16 as_f(u32x16 u) {
  v16 v;
  std::memcpy(&v, &u, 64);
  return v;
}

// The emulated steps, as bf16_dot_native: acc[i][j] over k in [0, len) step 32. Each 32-bit lane
// holds a bf16 pair (even column in the low half); a bf16 is the top half of an fp32, so a mask
// and a shift give both exactly; odd column first, under FTZ|DAZ.
template <int MR, int NR>
void dot_block_emulated(const uint16_t* x, int64_t x_stride, const uint16_t* wt, int64_t len, v16 (&acc)[MR][NR]) {
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = v16{};
  FtzDaz mode;
  asm volatile("" : "+m"(acc));  // keep the lane steps, and only they, inside the FTZ|DAZ scope
  for (int64_t k = 0; k < len; k += kPair) {
    u32x16 wv[NR];
    for (int j = 0; j < NR; ++j) std::memcpy(&wv[j], wt + j * kChunk + k, 64);
    for (int i = 0; i < MR; ++i) {
      u32x16 xv;
      std::memcpy(&xv, x + i * x_stride + k, 64);
      for (int j = 0; j < NR; ++j) {
        v16 a = fma16(as_f(xv & 0xffff0000u), as_f(wv[j] & 0xffff0000u), acc[i][j]);
        acc[i][j] = fma16(as_f(xv << 16), as_f(wv[j] << 16), a);
      }
    }
  }
  asm volatile("" : "+m"(acc));
}

// y[i][j] += the chunk's sums for MR rows of x and NR tile rows.
template <int MR, int NR>
void micro_kernel(bool native, const uint16_t* x, int64_t x_stride, const uint16_t* wt, int64_t len, float* y,
                  int64_t y_stride) {
  alignas(64) v16 acc[MR][NR];
  if (native) detail::bf16_dot_native(MR, NR, x, x_stride, wt, kChunk, len, reinterpret_cast<float*>(acc));
  else dot_block_emulated<MR, NR>(x, x_stride, wt, len, acc);
  vec::add_sums<MR, NR>(acc, y, y_stride);
}

template <int NR>
void tile_rows(bool native, const uint16_t* x, int64_t M, int64_t x_stride, const uint16_t* wt, int64_t len,
               float* y, int64_t y_stride) {
  int64_t m = 0;
  for (; m + kMR <= M; m += kMR)
    micro_kernel<kMR, NR>(native, x + m * x_stride, x_stride, wt, len, y + m * y_stride, y_stride);
  for (; m < M; ++m) micro_kernel<1, NR>(native, x + m * x_stride, x_stride, wt, len, y + m * y_stride, y_stride);
}

// Tile rows [n0, n0+nr) × columns [k0, k0+len) of W as bf16, zero past K (len % 32 == 0).
void decode_tile(const Weight& w, int64_t n0, int nr, int64_t k0, int64_t len, uint16_t* wt, float* tmp) {
  const int64_t valid = std::max<int64_t>(0, std::min(len, w.cols - k0));
  for (int j = 0; j < nr; ++j) {
    uint16_t* out = wt + j * kChunk;
    if (w.dtype == DType::BF16) {
      std::memcpy(out, static_cast<const uint16_t*>(w.data) + (n0 + j) * w.cols + k0, valid * 2);
    } else {
      w.row_to_f32(n0 + j, k0, valid, tmp);
      for (int64_t i = 0; i < valid; ++i) out[i] = f32_to_bf16(tmp[i]);
    }
    std::fill(out + valid, out + len, uint16_t(0));
  }
}

// x: bf16 [M, Kp] (Kp = K rounded up to 32, zero-padded); the tiles [t0, t1) of one thread.
void run_tiles(bool native, const uint16_t* x, int64_t M, int64_t Kp, const Weight& w, float* y, int64_t y_stride,
               int64_t t0, int64_t t1) {
  alignas(64) uint16_t wt[kNR * kChunk];
  alignas(64) float tmp[kChunk];
  const int64_t N = w.rows;
  for (int64_t b0 = t0; b0 < t1; b0 += kNB) {
    const int64_t b1 = std::min(t1, b0 + kNB);
    const int64_t bn0 = b0 * kNR, bn1 = std::min(N, b1 * kNR);
    for (int64_t m0 = 0; m0 < M; m0 += kMB) {
      const int64_t mb = std::min(kMB, M - m0);
      float* yb = y + m0 * y_stride;
      for (int64_t m = 0; m < mb; ++m) std::fill(yb + m * y_stride + bn0, yb + m * y_stride + bn1, 0.f);
      for (int64_t k0 = 0; k0 < Kp; k0 += kChunk) {
        const int64_t len = std::min(kChunk, Kp - k0);
        const uint16_t* xk = x + m0 * Kp + k0;
        for (int64_t t = b0; t < b1; ++t) {
          const int64_t n0 = t * kNR;
          const int nr = int(std::min<int64_t>(kNR, N - n0));
          decode_tile(w, n0, nr, k0, len, wt, tmp);
          float* yt = yb + n0;
          switch (nr) {
            case 4: tile_rows<4>(native, xk, mb, Kp, wt, len, yt, y_stride); break;
            case 3: tile_rows<3>(native, xk, mb, Kp, wt, len, yt, y_stride); break;
            case 2: tile_rows<2>(native, xk, mb, Kp, wt, len, yt, y_stride); break;
            default: tile_rows<1>(native, xk, mb, Kp, wt, len, yt, y_stride); break;
          }
        }
      }
    }
  }
}

bool cpu_reports_bf16_dot() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

bool env_forces_emulated() {
  const char* e = std::getenv("DSV32_BF16_DOT");
  return e && std::string(e) == "emulated";
}

Bf16Dot resolve(Bf16Dot d) {
  if (d != Bf16Dot::kAuto) return d;
  static const Bf16Dot automatic =
      bf16_dot_native_available() && !env_forces_emulated() ? Bf16Dot::kNative : Bf16Dot::kEmulated;
  return automatic;
}

}  // namespace

bool bf16_dot_native_available() {
  static const bool ok = detail::linear_bf16_native_compiled() && cpu_reports_bf16_dot();
  return ok;
}

const char* bf16_dot_name(Bf16Dot d) { return resolve(d) == Bf16Dot::kNative ? "native" : "emulated"; }

void linear_bf16(ThreadPool& pool, const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
                 int64_t y_stride, Bf16Dot dot) {
  if (w.dtype != DType::BF16 && w.dtype != DType::F8_E4M3)
    fail(std::string("linear_bf16: weight dtype ") + dtype_name(w.dtype) + " (BF16 or F8_E4M3 expected)");
  const Bf16Dot d = resolve(dot);
  if (d == Bf16Dot::kNative && !bf16_dot_native_available())
    fail("linear_bf16: the native vdpbf16ps path is not available on this CPU or build");
  const int64_t N = w.rows, K = w.cols;
  if (M <= 0 || N <= 0) return;
  const int64_t Kp = (K + kPair - 1) / kPair * kPair;
  // bf16(x), zero-padded: grow-only per calling thread, so decode allocates nothing after warm-up.
  thread_local std::vector<uint16_t> xb;
  if (xb.size() < size_t(M * Kp)) xb.resize(size_t(M * Kp));
  uint16_t* xp = xb.data();
  pool.parallel_for(M, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      for (int64_t k = 0; k < K; ++k) xp[m * Kp + k] = f32_to_bf16(x[m * x_stride + k]);
      std::fill(xp + m * Kp + K, xp + (m + 1) * Kp, uint16_t(0));
    }
  });
  const bool native = d == Bf16Dot::kNative;
  pool.parallel_for((N + kNR - 1) / kNR, [&](int64_t t0, int64_t t1) {
    run_tiles(native, xp, M, Kp, w, y, y_stride, t0, t1);
  });
}

void linear_bf16_reference(const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
                           int64_t y_stride) {
  std::vector<float> row(w.cols);
  for (int64_t n = 0; n < w.rows; ++n) {
    w.row_to_f32(n, 0, w.cols, row.data());
    for (int64_t m = 0; m < M; ++m) {
      double s = 0;
      for (int64_t k = 0; k < w.cols; ++k)
        s += double(bf16_to_f32(f32_to_bf16(x[m * x_stride + k]))) * double(bf16_to_f32(f32_to_bf16(row[k])));
      y[m * y_stride + n] = float(s);
    }
  }
}

}  // namespace dsv32
