// 16 lanes at a time on the fp32 bit patterns: add 0x7fff plus the lowest kept bit (round to
// nearest, ties to even), clear the low 16 bits; NaN lanes keep their top half with the quiet bit
// set. The same arithmetic as f32_to_bf16 in kernels/numeric.h, lane-parallel.
#include "kernels/cpu/round_bf16.h"

#include <cstring>

namespace dsv32 {

void round_bf16(float* x, int64_t n) {
  typedef uint32_t u32x16 __attribute__((vector_size(64)));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    u32x16 u;
    std::memcpy(&u, x + i, sizeof u);
    const u32x16 nan = (u & 0x7fffffffu) > 0x7f800000u;  // all-ones lanes where NaN
    const u32x16 rounded = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    const u32x16 quiet = (u | 0x400000u) & 0xffff0000u;
    u = (nan & quiet) | (~nan & rounded);
    std::memcpy(x + i, &u, sizeof u);
  }
  for (; i < n; ++i) x[i] = bf16_round(x[i]);
}

void round_bf16_rows(float* x, int64_t rows, int64_t width, int64_t stride) {
  if (stride == width) {
    round_bf16(x, rows * width);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) round_bf16(x + r * stride, width);
}

}  // namespace dsv32
