// round_bf16: round fp32 values to the nearest bfloat16 (ties to even) and keep them as fp32, in
// place. This is every "bf16(·)" rounding point of the REF-1 emulation profile (MODEL §6.6, §10):
// the value stored is exactly what a bf16 tensor would hold, widened back to fp32.
//
//   x : fp32 [n], overwritten by bf16_to_f32(f32_to_bf16(x))   (kernels/numeric.h semantics:
//       NaN stays a quiet NaN, ±inf and values that round past the largest bf16 become ±inf)
//   round_bf16_rows: `rows` rows of `width` values at row stride `stride` (strided views such as
//       the latent part of the [c_KV ; k_rope] rows)
//   !! idempotent: rounding a bf16 value again leaves it unchanged, so a caller may round a whole
//      buffer of which only some entries are new.
#pragma once
#include <cstdint>

#include "kernels/numeric.h"

namespace dsv32 {

inline float bf16_round(float f) { return bf16_to_f32(f32_to_bf16(f)); }

void round_bf16(float* x, int64_t n);
void round_bf16_rows(float* x, int64_t rows, int64_t width, int64_t stride);

}  // namespace dsv32
