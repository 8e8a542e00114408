#include "kernels/cpu/act_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/numeric.h"

namespace dsv32 {

// Normal e4m3 values (|v| ≥ 2^-6) keep 3 mantissa bits: round the fp32 bits at bit 20 to nearest
// even. Subnormals are multiples of 2^-9: scale by 2^9 (exact) and round to the nearest integer
// (the default rounding mode is nearest-even).
float e4m3_round(float v) {
  const float a = std::fabs(v);
  float r;
  if (a >= 0x1p-6f) {
    uint32_t u = bits_from_f32(a);
    u = (u + 0x7ffffu + ((u >> 20) & 1u)) & ~0xfffffu;
    r = f32_from_bits(u);
  } else {
    r = std::nearbyint(a * 0x1p9f) * 0x1p-9f;
  }
  return std::copysign(r, v);
}

float act_quant_scale(float amax, bool pow2_scale) {
  const float t = amax * (1.f / kE4m3Max);
  if (!pow2_scale) return t;
  const uint32_t u = bits_from_f32(t);
  const int e = int((u >> 23) & 0xffu) - 127 + ((u & 0x7fffffu) != 0 ? 1 : 0);
  return f32_from_bits(uint32_t(e + 127) << 23);  // t ≥ 1e-4/448 is normal, so e + 127 ∈ [1, 254]
}

void act_quant(const ActQuantParams& p, const float* x, float* q, float* s) {
  const int64_t xs = p.x_stride ? p.x_stride : p.dim, qs = p.q_stride ? p.q_stride : p.dim;
  const int64_t nb = act_quant_blocks(p);
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* xr = x + r * xs;
    float* qr = q + r * qs;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t k0 = b * p.block, k1 = std::min(p.dim, k0 + p.block);
      auto in = [&](int64_t k) { return p.bf16_input ? bf16_to_f32(f32_to_bf16(xr[k])) : xr[k]; };
      float amax = 0.f;
      for (int64_t k = k0; k < k1; ++k) amax = std::max(amax, std::fabs(in(k)));
      const float sc = act_quant_scale(std::max(amax, kActQuantAmaxFloor), p.pow2_scale);
      s[p.scale_ld ? b * p.scale_ld + r : r * nb + b] = sc;
      for (int64_t k = k0; k < k1; ++k) qr[k] = e4m3_round(std::clamp(in(k) / sc, -kE4m3Max, kE4m3Max));
    }
  }
}

void act_quant_roundtrip(const ActQuantParams& p, float* x) {
  ActQuantParams one = p;
  one.rows = 1;
  one.q_stride = 0;
  one.scale_ld = 0;
  const int64_t xs = p.x_stride ? p.x_stride : p.dim, nb = act_quant_blocks(p);
  float scales[64];
  float* sp = nb <= 64 ? scales : nullptr;
  std::vector<float> big;
  if (!sp) { big.resize(nb); sp = big.data(); }
  for (int64_t r = 0; r < p.rows; ++r) {
    float* xr = x + r * xs;
    act_quant(one, xr, xr, sp);  // element-wise within a block after amax: in place is safe
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t k = b * p.block, k1 = std::min(p.dim, k + p.block); k < k1; ++k) xr[k] *= sp[b];
  }
}

}  // namespace dsv32
