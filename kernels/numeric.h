// Scalar number formats used by DeepSeek checkpoints and their exact conversions to fp32.
//
//   bf16      : top 16 bits of an IEEE fp32 (1|8|7). Decode is a shift; encode is round-to-nearest-even.
//   f16       : IEEE half (1|5|10), decoded through a 65536-entry table.
//   f8 e4m3fn : 1|4|3, bias 7, no infinities, 0x7f/0xff are NaN, max finite ±448 (MODEL §3.1).
//               Decode is a 256-entry table; encode clamps to ±448 first, then rounds to nearest even.
//
// Every decode here is exact (each of these formats embeds in fp32); tests check all codes.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace dsv32 {

enum class DType : uint8_t { F32, BF16, F16, F8_E4M3, I32, I64, U8 };

// Size in bytes of one element.
inline int dtype_size(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: return 4;
    case DType::BF16: case DType::F16: return 2;
    case DType::F8_E4M3: case DType::U8: return 1;
    case DType::I64: return 8;
  }
  return 0;
}
// Safetensors spelling ("F32", "BF16", "F16", "F8_E4M3", "I32", "I64", "U8").
const char* dtype_name(DType t);
// Parses the safetensors spelling; returns false for anything else.
bool dtype_from_name(std::string_view s, DType* out);

inline float f32_from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t bits_from_f32(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline float bf16_to_f32(uint16_t h) { return f32_from_bits(uint32_t(h) << 16); }
// Round-to-nearest-even; NaN stays NaN (quiet), infinities stay infinite.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = bits_from_f32(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// Lookup tables, filled once at static-initialisation time (numeric.cpp).
extern const float* const kF8E4M3ToF32;   // [256]
extern const float* const kF16ToF32;      // [65536]

inline float f8e4m3_to_f32(uint8_t c) { return kF8E4M3ToF32[c]; }
inline float f16_to_f32(uint16_t h) { return kF16ToF32[h]; }
// Clamp to [-448, 448], then round to nearest even e4m3 code (NaN -> 0x7f).
uint8_t f32_to_f8e4m3(float f);
uint16_t f32_to_f16(float f);

// Decodes one element of any float dtype at p[i] to fp32.
inline float load_as_f32(DType t, const void* p, int64_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::F8_E4M3: return f8e4m3_to_f32(static_cast<const uint8_t*>(p)[i]);
    default: return 0.f;
  }
}

}  // namespace dsv32
