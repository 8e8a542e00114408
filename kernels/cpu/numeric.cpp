// Decode tables and encoders for kernels/numeric.h.
#include "kernels/numeric.h"

#include <array>
#include <cmath>

namespace dsv32 {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
  }
  return "?";
}

bool dtype_from_name(std::string_view s, DType* out) {
  static const std::pair<const char*, DType> kNames[] = {
      {"F32", DType::F32}, {"BF16", DType::BF16}, {"F16", DType::F16}, {"F8_E4M3", DType::F8_E4M3},
      {"I32", DType::I32}, {"I64", DType::I64},   {"U8", DType::U8}};
  for (auto& [n, t] : kNames)
    if (s == n) { *out = t; return true; }
  return false;
}

namespace {
// Decodes from the bit fields with the format's own definition (not via another float type), so
// the table is an independent statement of MODEL §3.1.
float decode_e4m3(uint8_t c) {
  int s = c >> 7, e = (c >> 3) & 0xf, m = c & 7;
  if (e == 15 && m == 7) return std::nanf("");
  float v = e == 0 ? std::ldexp(float(m) / 8.f, -6) : std::ldexp(1.f + float(m) / 8.f, e - 7);
  return s ? -v : v;
}
float decode_f16(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float v;
  if (e == 31) v = m ? std::nanf("") : INFINITY;
  else if (e == 0) v = std::ldexp(float(m), -24);
  else v = std::ldexp(1.f + float(m) / 1024.f, e - 15);
  return s ? -v : v;
}
struct Tables {
  std::array<float, 256> f8;
  std::array<float, 65536> f16;
  Tables() {
    for (int i = 0; i < 256; ++i) f8[i] = decode_e4m3(uint8_t(i));
    for (int i = 0; i < 65536; ++i) f16[i] = decode_f16(uint16_t(i));
  }
};
const Tables& tables() { static const Tables t; return t; }
}  // namespace

const float* const kF8E4M3ToF32 = tables().f8.data();
const float* const kF16ToF32 = tables().f16.data();

// Round to nearest even by scanning the (sorted, positive) code table: exact and simple; encoders
// run only when writing checkpoints, never in the forward pass.
static uint8_t encode_positive_e4m3(float a) {
  const float* t = kF8E4M3ToF32;
  // Positive finite codes 0x00..0x7e are increasing in value.
  int lo = 0, hi = 0x7e;
  if (a >= t[hi]) return uint8_t(hi);
  while (hi - lo > 1) {  // invariant: t[lo] <= a < t[hi]
    int mid = (lo + hi) / 2;
    if (t[mid] <= a) lo = mid; else hi = mid;
  }
  float dl = a - t[lo], dh = t[hi] - a;
  if (dl < dh) return uint8_t(lo);
  if (dh < dl) return uint8_t(hi);
  return uint8_t((lo & 1) ? hi : lo);  // tie: even mantissa
}

uint8_t f32_to_f8e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  float a = std::fabs(f);
  if (a > 448.f) a = 448.f;
  uint8_t c = encode_positive_e4m3(a);
  return std::signbit(f) ? uint8_t(c | 0x80) : c;
}

uint16_t f32_to_f16(float f) {
  if (std::isnan(f)) return 0x7e00;
  uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  float a = std::fabs(f);
  if (a >= 65520.f) return sign | 0x7c00;  // rounds to infinity
  // Binary search over positive finite codes 0x0000..0x7bff (increasing).
  int lo = 0, hi = 0x7bff;
  if (a >= kF16ToF32[hi]) return sign | uint16_t(hi);
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (kF16ToF32[mid] <= a) lo = mid; else hi = mid;
  }
  float dl = a - kF16ToF32[lo], dh = kF16ToF32[hi] - a;
  int c = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
  return sign | uint16_t(c);
}

}  // namespace dsv32
