// linear: y[M, N] = x[M, K] · W[N, K]ᵀ with W in F32, BF16, F16 or block-scaled F8 e4m3,
// dequantized on the fly (a weight is never expanded to fp32 in memory).
//
//   x        : fp32 [M, K], row stride x_stride (floats)
//   W        : [N, K] row-major; F8: W[n,k] = e4m3(code)·scale[n/B, k/B], scale fp32
//              [ceil(N/B), ceil(K/B)] (MODEL §3.3, ragged last blocks included; "scale_inv" is a
//              multiplier despite its name)
//   y        : fp32 [M, N], row stride y_stride; overwritten
//   !! fp32 accumulation in a fixed order: per output, 16-lane partial sums over each chunk of
//      kChunk columns, lanes reduced by a fixed tree, chunk sums added in column order. The order
//      depends on neither M nor the thread count, so a token's output row is bit-identical
//      whether it is computed alone (decode) or inside a batch (prefill). (K % 16 != 0: one
//      running sum over k instead.) Decode-sized M (≤ 4) dequantizes into registers, larger M
//      through a buffer; both keep this order bit for bit (tests/kernels/test_linear_bits.cpp).
#pragma once
#include <cstdint>

#include "kernels/cpu/threadpool.h"
#include "kernels/numeric.h"

namespace dsv32 {

// A read-only view of a 2-D weight (usually into a memory-mapped checkpoint).
struct Weight {
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;      // [N, K]
  const void* data = nullptr;      // row-major, rows*cols elements
  const float* scale = nullptr;    // F8 only: [ceil(rows/block), scale_cols]
  int64_t scale_cols = 0;
  int64_t block = 128;
  int64_t row0 = 0;                // F8: index of row 0 in the scale grid (rows_slice views)

  // W[r, c] as fp32 (slow; for tests and references).
  float at(int64_t r, int64_t c) const;
  // Dequantizes row r, columns [c0, c0+n) into out.
  void row_to_f32(int64_t r, int64_t c0, int64_t n, float* out) const;
  // Rows [r0, r0+n) as a weight of its own (any r0: the view remembers its place in the scale grid).
  Weight rows_slice(int64_t r0, int64_t n) const;
  int64_t bytes() const;  // bytes of the data plus scales
};

void linear(ThreadPool& pool, const float* x, int64_t M, int64_t x_stride, const Weight& w,
            float* y, int64_t y_stride);
inline void linear(ThreadPool& pool, const float* x, int64_t M, const Weight& w, float* y) {
  linear(pool, x, M, w.cols, w, y, w.rows);
}

// Plain triple loop with double accumulation: the readable reference for tests.
void linear_reference(const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
                      int64_t y_stride);

}  // namespace dsv32
