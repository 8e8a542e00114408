// CPU linear layer. Layout of the work:
//   threads split N into contiguous ranges; each thread walks its range in tiles of kNR weight
//   rows; for each tile and each chunk of kChunk columns it dequantizes the tile into a small fp32
//   buffer (L1-resident) and runs an MR x NR register-blocked micro-kernel over all M rows of x,
//   adding each chunk's sum into y. Prefill (large M) reuses each dequantized tile M times;
//   decode (M = 1) is a GEMV bound by reading the weight once.
#include "kernels/cpu/linear.h"

#include <algorithm>
#include <cmath>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <cstring>
#include <vector>

namespace dsv32 {

namespace {

constexpr int kLanes = 16;
constexpr int kNR = 4;          // weight rows per tile
constexpr int kMR = 4;          // x rows per micro-kernel call
constexpr int64_t kChunk = 512; // columns per dequantized tile (multiple of 16 and of 128)
typedef float v16 __attribute__((vector_size(kLanes * sizeof(float))));

inline v16 load16(const float* p) { v16 v; std::memcpy(&v, p, sizeof v); return v; }

// Fixed reduction tree over the 16 lanes.
inline float hsum(v16 v) {
  float t[kLanes];
  std::memcpy(t, &v, sizeof t);
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) t[i] += t[i + w];
  return t[0];
}

// y[m][n] += Σ_{k<len} x[m][k]·wt[n][k] for MR rows of x and NR rows of the tile; len % 16 == 0.
template <int MR, int NR>
inline void micro_kernel(const float* x, int64_t x_stride, const float* wt, int64_t len, float* y,
                         int64_t y_stride) {
  v16 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = v16{};
  for (int64_t k = 0; k < len; k += kLanes) {
    v16 wv[NR];
    for (int j = 0; j < NR; ++j) wv[j] = load16(wt + j * kChunk + k);
    for (int i = 0; i < MR; ++i) {
      v16 xv = load16(x + i * x_stride + k);
      for (int j = 0; j < NR; ++j) acc[i][j] += xv * wv[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) y[i * y_stride + j] += hsum(acc[i][j]);
}

template <int NR>
void tile_rows(const float* x, int64_t M, int64_t x_stride, const float* wt, int64_t len, float* y,
               int64_t y_stride) {
  int64_t m = 0;
  for (; m + kMR <= M; m += kMR)
    micro_kernel<kMR, NR>(x + m * x_stride, x_stride, wt, len, y + m * y_stride, y_stride);
  for (; m < M; ++m) micro_kernel<1, NR>(x + m * x_stride, x_stride, wt, len, y + m * y_stride, y_stride);
}

// Scalar path for K not a multiple of 16 (no DeepSeek shape needs it); same per-output order
// for every M.
void linear_scalar(const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
                   int64_t y_stride, int64_t n0, int64_t n1) {
  std::vector<float> row(w.cols);
  for (int64_t n = n0; n < n1; ++n) {
    w.row_to_f32(n, 0, w.cols, row.data());
    for (int64_t m = 0; m < M; ++m) {
      float s = 0;
      for (int64_t k = 0; k < w.cols; ++k) s += x[m * x_stride + k] * row[k];
      y[m * y_stride + n] = s;
    }
  }
}

// Decodes p[i, end) times s into out[i, end); returns end.
//
// Fast path, 16 codes at a time: an e4m3 code's low 7 bits shifted left by 20 are the bits of an
// fp32 equal to the code's magnitude times 2^-120 — exactly, subnormal codes included (they land
// on fp32 subnormals). Multiplying by s·2^120 (exact: a power-of-two scaling) then rounds once, so
// the result is bit-identical to the table lookup times s. Codes 0x7f/0xff (NaN) stay NaN.
// Falls back to the table when s·2^120 is not finite or would lose bits (|s| outside 2^-100..2^7).
int64_t f8_block_to_f32(const uint8_t* p, int64_t i, int64_t end, float s, float* out) {
  const float s120 = s * 0x1p120f;
  const float as = std::fabs(s);
  if (as >= 0x1p-100f && as < 0x1p7f) {
    typedef uint32_t u32x16 __attribute__((vector_size(64)));
    for (; i + kLanes <= end; i += kLanes) {
      u32x16 c;
#ifdef __AVX512F__
      // GCC 12 scalarises __builtin_convertvector(u8 -> u32); say vpmovzxbd directly (zero-masked
      // form: the unmasked intrinsic trips a -Wmaybe-uninitialized false positive in GCC 12).
      __m512i z = _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
      std::memcpy(&c, &z, sizeof c);
#else
      uint32_t t[kLanes];
      for (int k = 0; k < kLanes; ++k) t[k] = p[i + k];
      std::memcpy(&c, t, sizeof c);
#endif
      u32x16 mag = c & 0x7fu;
      u32x16 bits = (mag << 20) | ((c & 0x80u) << 24);
      bits = mag == 0x7fu ? u32x16{} + 0x7fc00000u : bits;
      v16 v;
      std::memcpy(&v, &bits, sizeof v);
      v *= s120;
      std::memcpy(out + i, &v, sizeof v);
    }
  }
  for (; i < end; ++i) out[i] = kF8E4M3ToF32[p[i]] * s;
  return end;
}

}  // namespace

float Weight::at(int64_t r, int64_t c) const {
  float v = load_as_f32(dtype, data, r * cols + c);
  if (dtype == DType::F8_E4M3) v *= scale[((row0 + r) / block) * scale_cols + c / block];
  return v;
}

void Weight::row_to_f32(int64_t r, int64_t c0, int64_t n, float* out) const {
  switch (dtype) {
    case DType::F32:
      std::memcpy(out, static_cast<const float*>(data) + r * cols + c0, n * sizeof(float));
      break;
    case DType::BF16: {
      const uint16_t* p = static_cast<const uint16_t*>(data) + r * cols + c0;
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(p[i]);
      break;
    }
    case DType::F16: {
      const uint16_t* p = static_cast<const uint16_t*>(data) + r * cols + c0;
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(p[i]);
      break;
    }
    case DType::F8_E4M3: {
      const uint8_t* p = static_cast<const uint8_t*>(data) + r * cols + c0;
      const float* srow = scale + ((row0 + r) / block) * scale_cols;
      // Walk block by block so the scale is loaded once per 128 columns.
      int64_t i = 0;
      while (i < n) {
        int64_t c = c0 + i;
        int64_t end = std::min(n, i + (block - c % block));
        float s = srow[c / block];
        i = f8_block_to_f32(p, i, end, s, out);
      }
      break;
    }
    default:
      break;
  }
}

Weight Weight::rows_slice(int64_t r0, int64_t n) const {
  Weight s = *this;
  s.rows = n;
  s.data = static_cast<const uint8_t*>(data) + r0 * cols * dtype_size(dtype);
  s.row0 = row0 + r0;
  return s;
}

int64_t Weight::bytes() const {
  int64_t b = rows * cols * dtype_size(dtype);
  if (dtype == DType::F8_E4M3) b += ((rows + block - 1) / block) * scale_cols * 4;  // whole grid rows touched
  return b;
}

void linear(ThreadPool& pool, const float* x, int64_t M, int64_t x_stride, const Weight& w,
            float* y, int64_t y_stride) {
  const int64_t N = w.rows, K = w.cols;
  if (M <= 0 || N <= 0) return;
  if (K % kLanes) {
    pool.parallel_for(N, [&](int64_t n0, int64_t n1) { linear_scalar(x, M, x_stride, w, y, y_stride, n0, n1); });
    return;
  }
  // Partition N in units of tiles so every tile is full except possibly the very last.
  const int64_t n_tiles = (N + kNR - 1) / kNR;
  pool.parallel_for(n_tiles, [&](int64_t t0, int64_t t1) {
    alignas(64) float wt[kNR * kChunk];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n0 = t * kNR, nr = std::min<int64_t>(kNR, N - n0);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t j = 0; j < nr; ++j) y[m * y_stride + n0 + j] = 0.f;
      for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
        const int64_t len = std::min(kChunk, K - k0);
        for (int64_t j = 0; j < nr; ++j) w.row_to_f32(n0 + j, k0, len, wt + j * kChunk);
        const float* xk = x + k0;
        float* yt = y + n0;
        switch (nr) {
          case 4: tile_rows<4>(xk, M, x_stride, wt, len, yt, y_stride); break;
          case 3: tile_rows<3>(xk, M, x_stride, wt, len, yt, y_stride); break;
          case 2: tile_rows<2>(xk, M, x_stride, wt, len, yt, y_stride); break;
          default: tile_rows<1>(xk, M, x_stride, wt, len, yt, y_stride); break;
        }
      }
    }
  });
}

void linear_reference(const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
                      int64_t y_stride) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < w.rows; ++n) {
      double s = 0;
      for (int64_t k = 0; k < w.cols; ++k) s += double(x[m * x_stride + k]) * w.at(n, k);
      y[m * y_stride + n] = float(s);
    }
}

}  // namespace dsv32
