// CPU linear layer. Layout of the work:
//   threads split N into contiguous ranges; each thread walks its range in tiles of kNR weight
//   rows; for each tile and each chunk of kChunk columns it either
//   - buffered (prefill, M > kMR): dequantizes the tile into a small fp32 buffer (L1-resident) and
//     runs an MR x NR register-blocked micro-kernel over all M rows of x, so each dequantized tile
//     is reused M times; or
//   - fused (decode, M ≤ kMR; F32/BF16/F8): dequantizes 16 weights of each tile row straight into
//     a register and multiplies them into all M rows at once. A GEMV reads each weight once, so
//     the buffer's store and reload were pure overhead.
//   Both add each chunk's sum into y. They share madd_step and hsum and decode to the same fp32
//   values, so every output has the one accumulation order of linear.h whichever path ran — per
//   chunk, even: a chunk the fused path cannot take (an F8 scale off the fast range, a NaN code)
//   is buffered. tests/kernels/test_linear_bits.cpp holds both paths to that order bit for bit.
// What made the F8 GEMV slow (~17 % of read bandwidth at M = 1, 2 threads) besides the buffer:
// vmulps on subnormal inputs (see f8_scale), a 64-bit idiv per 128-column block for the scale
// index, and hsum spilled to the stack.
#include "kernels/cpu/linear.h"

#include <algorithm>
#include <bit>
#include <cmath>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <cstring>
#include <vector>

#include "kernels/cpu/vec.h"

namespace dsv32 {

namespace {

constexpr int kLanes = 16;
constexpr int kNR = 4;          // weight rows per tile
constexpr int kMR = 4;          // x rows per micro-kernel call
constexpr int64_t kChunk = 512; // columns per dequantized tile (multiple of 16 and of 128)
constexpr int64_t kMB = 128;    // buffered path: x rows per block (one chunk's panel: 256 KiB)
constexpr int64_t kNB = 128;    // buffered path: tiles per block (kNB·kNR = 512 weight rows)
constexpr int64_t kPrefetchTiles = 2;             // fused path: tiles fetched ahead (see linear())
constexpr int64_t kPrefetchMaxTileBytes = 16384;  // ... for tiles up to this size
using vec::v16;
using vec::add_sums;

typedef uint32_t u32x16 __attribute__((vector_size(kLanes * sizeof(uint32_t))));

inline v16 load16(const float* p) { v16 v; std::memcpy(&v, p, sizeof v); return v; }
inline v16 as_v16(u32x16 u) { v16 v; std::memcpy(&v, &u, sizeof v); return v; }

// acc[i][j] += x[i][k, k+16) · wv[j], lane-wise: the one multiply-add of both paths (GCC contracts
// it to an FMA where the target has one — in both, so they round alike).
template <int MR, int NR>
inline void madd_step(v16 (&acc)[MR][NR], const float* x, int64_t x_stride, int64_t k,
                      const v16 (&wv)[NR]) {
  for (int i = 0; i < MR; ++i) {
    const v16 xv = load16(x + i * x_stride + k);
    for (int j = 0; j < NR; ++j) acc[i][j] += xv * wv[j];
  }
}

// y[m][n] += Σ_{k<len} x[m][k]·wt[n][k] for MR rows of x and NR rows of the tile; len % 16 == 0.
template <int MR, int NR>
inline void micro_kernel(const float* x, int64_t x_stride, const float* wt, int64_t len, float* y,
                         int64_t y_stride) {
  v16 acc[MR][NR] = {};
  for (int64_t k = 0; k < len; k += kLanes) {
    v16 wv[NR];
    for (int j = 0; j < NR; ++j) wv[j] = load16(wt + j * kChunk + k);
    madd_step<MR, NR>(acc, x, x_stride, k, wv);
  }
  add_sums<MR, NR>(acc, y, y_stride);
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
// for every M. (GCC vectorises the products in order, unfused, and fuses the remainder's: the
// roundings are the compiler's, but the same for every M and thread count.)
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

// F8 e4m3 decode, 16 codes at a time: an e4m3 code's low 7 bits shifted left by 20 are the bits of
// an fp32 equal to the code's magnitude times 2^-120 — exactly, subnormal codes included (they
// land on fp32 subnormals). Multiplying by s·2^120 (exact: a power-of-two scaling) then rounds
// once, so the result is bit-identical to the table lookup times s. Valid only when s·2^120 is
// finite and loses no bits: |s| in [2^-100, 2^7) (f8_fast_scale); else use the table.
// Codes 0x7f/0xff (NaN) must be replaced by the quiet NaN 0x7fc00000 before the multiply (it passes
// through unchanged): f8_block_to_f32 does that per vector; the fused path instead scans each
// chunk once (f8_has_nan) and leaves a chunk with a NaN code to the buffered path.
inline bool f8_fast_scale(float s) {
  const float as = std::fabs(s);
  return as >= 0x1p-100f && as < 0x1p7f;
}

// Each lane's code in the top byte: code << 24. With VBMI one zero-masking byte permute.
inline u32x16 f8x16_top_byte(const uint8_t* p) {
  u32x16 c;
#if defined(__AVX512VBMI__)
  // Byte 4i+3 of the result takes source byte i (of the 16 codes, broadcast: a plain load); the
  // zero mask clears bytes 4i..4i+2.
  const __m512i idx = _mm512_set_epi32(15 << 24, 14 << 24, 13 << 24, 12 << 24, 11 << 24, 10 << 24,
                                       9 << 24, 8 << 24, 7 << 24, 6 << 24, 5 << 24, 4 << 24,
                                       3 << 24, 2 << 24, 1 << 24, 0);
  // (Zero-masked broadcast: the unmasked intrinsic trips GCC 12's -Wmaybe-uninitialized.)
  const __m512i src = _mm512_maskz_broadcast_i32x4(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m512i z = _mm512_maskz_permutexvar_epi8(0x8888888888888888ull, idx, src);
  std::memcpy(&c, &z, sizeof c);
#elif defined(__AVX512F__)
  // GCC 12 scalarises __builtin_convertvector(u8 -> u32); say vpmovzxbd directly (zero-masked
  // form: the unmasked intrinsic trips a -Wmaybe-uninitialized false positive in GCC 12).
  const __m512i z = _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  std::memcpy(&c, &z, sizeof c);
  c <<= 24;
#else
  uint32_t t[kLanes];
  for (int k = 0; k < kLanes; ++k) t[k] = uint32_t(p[k]) << 24;
  std::memcpy(&c, t, sizeof c);
#endif
  return c;
}

// The fp32 bits sign<<31 | (code & 0x7f)<<20 from code<<24: an arithmetic shift by 4 puts the
// magnitude at bits 20..26 and copies the sign into bits 27..31; the mask keeps 31 and 20..26.
inline u32x16 f8_bits(u32x16 top) {
  typedef int32_t i32x16 __attribute__((vector_size(kLanes * sizeof(int32_t))));
  return u32x16(i32x16(top) >> 4) & 0x87f00000u;
}

// bits (an fp32 vector) × s120, rounded once.
// !! An FMA with addend −0, not a multiply: the same single rounding of the exact product, the
// same signed zeros (x + (−0) = x) and NaN, but this CPU (AMD Zen 5) takes a slow assist in
// vmulps for a subnormal input — codes 0x01..0x07 and 0x81..0x87 are fp32 subnormals here —
// while the FMA does not. Random codes (the bench weights) are ~5 % subnormal; the assist made the
// F8 GEMV ~3x slower.
inline v16 f8_scale(u32x16 bits, float s120) {
#ifdef __AVX512F__
  __m512 v;
  std::memcpy(&v, &bits, sizeof v);
  v = _mm512_fmadd_ps(v, _mm512_set1_ps(s120), _mm512_set1_ps(-0.f));
  v16 out;
  std::memcpy(&out, &v, sizeof out);
  return out;
#else
  return as_v16(bits) * s120;
#endif
}

// 16 codes without NaN (the caller has checked) times s; s120 = s·2^120, f8_fast_scale(s).
inline v16 f8x16_to_f32(const uint8_t* p, float s120) { return f8_scale(f8_bits(f8x16_top_byte(p)), s120); }

// Any NaN code (0x7f, 0xff: low 7 bits all set) in p[0, n)?
inline bool f8_has_nan(const uint8_t* p, int64_t n) {
  int64_t i = 0;
#ifdef __AVX512BW__
  const __m512i low7 = _mm512_set1_epi8(0x7f);
  __mmask64 nan = 0;
  for (; i + 64 <= n; i += 64)
    nan |= _mm512_cmpeq_epi8_mask(_mm512_and_si512(_mm512_loadu_si512(p + i), low7), low7);
  if (i < n) {
    const __m512i tail = _mm512_maskz_loadu_epi8(~0ull >> (64 - (n - i)), p + i);
    nan |= _mm512_cmpeq_epi8_mask(_mm512_and_si512(tail, low7), low7);
  }
  return nan != 0;
#else
  for (; i < n; ++i)
    if ((p[i] & 0x7f) == 0x7f) return true;
  return false;
#endif
}

// BF16 is the top half of an fp32 (= bf16_to_f32, lane by lane). With VBMI one zero-masking word
// permute puts each value in the high half of its lane.
inline v16 bf16x16_to_f32(const uint16_t* p) {
  u32x16 c;
#if defined(__AVX512VBMI__)
  const __m512i idx = _mm512_set_epi32(15 << 16, 14 << 16, 13 << 16, 12 << 16, 11 << 16, 10 << 16,
                                       9 << 16, 8 << 16, 7 << 16, 6 << 16, 5 << 16, 4 << 16,
                                       3 << 16, 2 << 16, 1 << 16, 0);
  const __m512i src = _mm512_maskz_broadcast_i64x4(0xff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  const __m512i z = _mm512_maskz_permutexvar_epi16(0xaaaaaaaau, idx, src);
  std::memcpy(&c, &z, sizeof c);
#elif defined(__AVX512F__)
  const __m512i z = _mm512_maskz_cvtepu16_epi32(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  std::memcpy(&c, &z, sizeof c);
  c <<= 16;
#else
  uint32_t t[kLanes];
  for (int k = 0; k < kLanes; ++k) t[k] = uint32_t(p[k]) << 16;
  std::memcpy(&c, t, sizeof c);
#endif
  return as_v16(c);
}

// Decodes p[i, end) times s into out[i, end); returns end. The fast path where the scale allows
// (NaN codes replaced per vector), the table for the rest (and for a tail of fewer than 16 codes).
int64_t f8_block_to_f32(const uint8_t* p, int64_t i, int64_t end, float s, float* out) {
  if (f8_fast_scale(s)) {
    const float s120 = s * 0x1p120f;
    for (; i + kLanes <= end; i += kLanes) {
      const u32x16 top = f8x16_top_byte(p + i);
      u32x16 bits = f8_bits(top);
      bits = (top & 0x7f000000u) == 0x7f000000u ? u32x16{} + 0x7fc00000u : bits;
      const v16 v = f8_scale(bits, s120);
      std::memcpy(out + i, &v, sizeof v);
    }
  }
  for (; i < end; ++i) out[i] = kF8E4M3ToF32[p[i]] * s;
  return end;
}

// ---------------------------------------------------------------- buffered (prefill) path
// Rows [n0, n0+nr) × columns [k0, k0+len) dequantized into wt (kNR × kChunk), then all M rows of x.
void buffered_chunk(const float* x, int64_t M, int64_t x_stride, const Weight& w, int64_t n0,
                    int64_t nr, int64_t k0, int64_t len, float* wt, float* y, int64_t y_stride) {
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
static_assert(kNR == 4, "buffered_chunk dispatches nr = 1..kNR");

// ---------------------------------------------------------------- fused (decode) path
// Row loaders: load(j, k) is weights [k, k+16) of tile row j as fp32, the very values
// Weight::row_to_f32 writes. F8 fetches each row's block scale once per block: the fused loop
// calls begin_segment(k) at every block start and runs to segment_end(k, end).
struct F32Rows {
  const float* row[kNR];
  F32Rows(const Weight& w, int64_t n0) {
    for (int j = 0; j < kNR; ++j) row[j] = static_cast<const float*>(w.data) + (n0 + j) * w.cols;
  }
  bool chunk_is_fast(int64_t, int64_t) const { return true; }
  int64_t segment_end(int64_t, int64_t end) const { return end; }
  void begin_segment(int64_t) {}
  v16 load(int j, int64_t k) const { return load16(row[j] + k); }
};

struct BF16Rows {
  const uint16_t* row[kNR];
  BF16Rows(const Weight& w, int64_t n0) {
    for (int j = 0; j < kNR; ++j) row[j] = static_cast<const uint16_t*>(w.data) + (n0 + j) * w.cols;
  }
  bool chunk_is_fast(int64_t, int64_t) const { return true; }
  int64_t segment_end(int64_t, int64_t end) const { return end; }
  void begin_segment(int64_t) {}
  v16 load(int j, int64_t k) const { return bf16x16_to_f32(row[j] + k); }
};

// Needs block = 2^shift ≥ 16 (segments of whole vectors; shifts, since a 64-bit idiv per block
// cost as much as decoding it).
struct F8Rows {
  const uint8_t* row[kNR];
  const float* srow[kNR];  // the row's line of the scale grid
  int shift;
  float s120[kNR];         // current block's scale × 2^120
  F8Rows(const Weight& w, int64_t n0, int block_shift) : shift(block_shift) {
    for (int j = 0; j < kNR; ++j) {
      row[j] = static_cast<const uint8_t*>(w.data) + (n0 + j) * w.cols;
      srow[j] = w.scale + ((w.row0 + n0 + j) >> shift) * w.scale_cols;
    }
  }
  // Every scale of the chunk on the fast path and no NaN code in it (the scan also pulls the
  // chunk into L1 for the decode).
  bool chunk_is_fast(int64_t k0, int64_t len) const {
    for (int j = 0; j < kNR; ++j) {
      for (int64_t b = k0 >> shift; b <= (k0 + len - 1) >> shift; ++b)
        if (!f8_fast_scale(srow[j][b])) return false;
      if (f8_has_nan(row[j] + k0, len)) return false;
    }
    return true;
  }
  int64_t segment_end(int64_t k, int64_t end) const { return std::min(end, ((k >> shift) + 1) << shift); }
  void begin_segment(int64_t k) {
    for (int j = 0; j < kNR; ++j) s120[j] = srow[j][k >> shift] * 0x1p120f;
  }
  v16 load(int j, int64_t k) const { return f8x16_to_f32(row[j] + k, s120[j]); }
};

// y[m][n0+j] += Σ_{k0≤k<k0+len} x[m][k]·W[n0+j][k] for MR rows of x (x at column 0) and the kNR
// rows of `rows`, the per-lane order of micro_kernel.
template <int MR, class Rows>
void fused_chunk(const float* x, int64_t x_stride, Rows& rows, int64_t k0, int64_t len, float* y,
                 int64_t y_stride) {
  v16 acc[MR][kNR] = {};
  const int64_t end = k0 + len;
  for (int64_t k = k0; k < end;) {
    const int64_t seg_end = rows.segment_end(k, end);
    rows.begin_segment(k);
    for (; k < seg_end; k += kLanes) {
      v16 wv[kNR];
      for (int j = 0; j < kNR; ++j) wv[j] = rows.load(j, k);
      madd_step<MR, kNR>(acc, x, x_stride, k, wv);
    }
  }
  add_sums<MR, kNR>(acc, y, y_stride);
}

// One full tile (rows n0..n0+kNR) over all of K, M ≤ kMR; a chunk the loader cannot take is
// buffered (same order, see the top of the file).
template <class Rows>
void fused_tile(const float* x, int64_t M, int64_t x_stride, const Weight& w, Rows rows, int64_t n0,
                float* wt, float* y, int64_t y_stride) {
  for (int64_t k0 = 0; k0 < w.cols; k0 += kChunk) {
    const int64_t len = std::min(kChunk, w.cols - k0);
    if (!rows.chunk_is_fast(k0, len)) {
      buffered_chunk(x, M, x_stride, w, n0, kNR, k0, len, wt, y, y_stride);
      continue;
    }
    float* yt = y + n0;
    switch (M) {
      case 4: fused_chunk<4>(x, x_stride, rows, k0, len, yt, y_stride); break;
      case 3: fused_chunk<3>(x, x_stride, rows, k0, len, yt, y_stride); break;
      case 2: fused_chunk<2>(x, x_stride, rows, k0, len, yt, y_stride); break;
      default: fused_chunk<1>(x, x_stride, rows, k0, len, yt, y_stride); break;
    }
  }
}
static_assert(kMR == 4, "fused_tile dispatches M = 1..kMR");

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
  // The fused path: small M, a full tile (only the last can be partial), a dtype with a loader.
  const bool f8_fusable = w.dtype == DType::F8_E4M3 && w.block >= kLanes && std::has_single_bit(uint64_t(w.block));
  const bool fused_m = M <= kMR && (w.dtype == DType::F32 || w.dtype == DType::BF16 || f8_fusable);
  const int f8_shift = f8_fusable ? std::countr_zero(uint64_t(w.block)) : 0;
  // Partition N in units of tiles so every tile is full except possibly the very last.
  const int64_t n_tiles = (N + kNR - 1) / kNR;
  // GEMV with short rows (the LM head: K = hidden, 2 KiB of bf16 per tile at the tiny shapes): a
  // tile is a few cache lines of one page, so the hardware streamer retrains at every 4 KiB page
  // boundary; fetching the tile kPrefetchTiles ahead keeps the loads in flight. Long rows stream
  // well on their own (and a whole-tile burst would overrun the line-fill buffers). Only the
  // fused path, whose tiles are contiguous ranges of W; a prefetch changes no arithmetic.
  const int64_t tile_bytes = kNR * K * int64_t(dtype_size(w.dtype));
  pool.parallel_for(n_tiles, [&](int64_t t0, int64_t t1) {
    alignas(64) float wt[kNR * kChunk];
    if (fused_m) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n0 = t * kNR, nr = std::min<int64_t>(kNR, N - n0);
        if (t + kPrefetchTiles < t1 && tile_bytes <= kPrefetchMaxTileBytes) {
          const char* ahead = static_cast<const char*>(w.data) + (t + kPrefetchTiles) * tile_bytes;
          for (int64_t b = 0; b < tile_bytes; b += 64) __builtin_prefetch(ahead + b, 0, 3);
        }
        for (int64_t m = 0; m < M; ++m)
          for (int64_t j = 0; j < nr; ++j) y[m * y_stride + n0 + j] = 0.f;
        if (nr < kNR) {
          for (int64_t k0 = 0; k0 < K; k0 += kChunk)
            buffered_chunk(x, M, x_stride, w, n0, nr, k0, std::min(kChunk, K - k0), wt, y, y_stride);
          continue;
        }
        switch (w.dtype) {
          case DType::F32: fused_tile(x, M, x_stride, w, F32Rows(w, n0), n0, wt, y, y_stride); break;
          case DType::BF16: fused_tile(x, M, x_stride, w, BF16Rows(w, n0), n0, wt, y, y_stride); break;
          default: fused_tile(x, M, x_stride, w, F8Rows(w, n0, f8_shift), n0, wt, y, y_stride); break;
        }
      }
      return;
    }
    // Buffered (GEMM): blocks of kNB tiles × kMB rows, chunks outermost inside a block, so the
    // x panel of one chunk (kMB × kChunk fp32, 256 KiB) stays in L2 while every tile of the block
    // reuses it, and the block's y (kMB × kNB·kNR, 256 KiB) stays in L2 across chunks. (Tiles
    // outermost, as before, streamed all of x[M, K] from L3 once per 4 weight rows: ~2 FLOP per
    // byte, which is where the 16-18 % of FMA peak at M = 64 went.) Each output still gets its
    // chunk sums in column order, so the order of linear.h holds; a tile is decoded once per
    // (chunk, row block), i.e. amortized over kMB rows.
    for (int64_t b0 = t0; b0 < t1; b0 += kNB) {
      const int64_t b1 = std::min(t1, b0 + kNB);
      const int64_t bn0 = b0 * kNR, bn1 = std::min(N, b1 * kNR);
      for (int64_t m0 = 0; m0 < M; m0 += kMB) {
        const int64_t mb = std::min(kMB, M - m0);
        const float* xb = x + m0 * x_stride;
        float* yb = y + m0 * y_stride;
        for (int64_t m = 0; m < mb; ++m) std::fill(yb + m * y_stride + bn0, yb + m * y_stride + bn1, 0.f);
        for (int64_t k0 = 0; k0 < K; k0 += kChunk)
          for (int64_t t = b0; t < b1; ++t) {
            const int64_t n0 = t * kNR, nr = std::min<int64_t>(kNR, N - n0);
            buffered_chunk(xb, mb, x_stride, w, n0, nr, k0, std::min(kChunk, K - k0), wt, yb, y_stride);
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
