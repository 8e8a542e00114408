// Exhaustive tests of the scalar number formats in kernels/numeric.h (MODEL §3.1).
//
// Tolerance: every comparison here is EXACT (bitwise, or == on floats). bf16, f16 and f8 e4m3fn
// all embed exactly in fp32 (fewer exponent and mantissa bits), so decoding has exactly one
// correct answer, and so does round-to-nearest-even encoding. Any tolerance would hide real bugs
// (an off-by-one exponent bias or a wrong tie rule moves values by exactly one code).
//
// The reference decoders below are deliberately derived differently from kernels/cpu/numeric.cpp:
// they build the value as an integer significand times a power of two in double precision
// (value = sig * 2^(e - bias - mantissa_bits)), instead of (1 + m/2^k) * 2^(e - bias) in float.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/numeric.h"

namespace dsv32 {
namespace {

// Reference: float8 e4m3fn, 1|4|3, bias 7, no infinities, S.1111.111 is NaN.
double ref_e4m3(int c) {
  int s = (c >> 7) & 1, e = (c >> 3) & 0xf, m = c & 7;
  if (e == 15 && m == 7) return std::numeric_limits<double>::quiet_NaN();
  // Subnormals share the exponent of e = 1 without the implicit bit.
  int sig = e == 0 ? m : (8 | m);
  int exp = (e == 0 ? 1 : e) - 7 - 3;
  double v = std::ldexp(double(sig), exp);
  return s ? -v : v;
}

// Reference: IEEE half, 1|5|10, bias 15.
double ref_f16(int h) {
  int s = (h >> 15) & 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  double v;
  if (e == 31) v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else v = std::ldexp(double(e == 0 ? m : (1024 | m)), (e == 0 ? 1 : e) - 15 - 10);
  return s ? -v : v;
}

// Exact equality that treats NaN == NaN and distinguishes +0 from -0.
void expect_same(double want, float got, const char* what, int code) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << " code 0x" << std::hex << code;
    return;
  }
  EXPECT_EQ(double(got), want) << what << " code 0x" << std::hex << code;
  EXPECT_EQ(std::signbit(got), std::signbit(want)) << what << " sign of code 0x" << std::hex << code;
}

// ----------------------------------------------------------------------------------------------
// F8 e4m3fn

TEST(NumericE4M3, DecodeAllCodesMatchReference) {
  for (int c = 0; c < 256; ++c) expect_same(ref_e4m3(c), f8e4m3_to_f32(uint8_t(c)), "e4m3", c);
}

TEST(NumericE4M3, KnownValues) {
  EXPECT_EQ(f8e4m3_to_f32(0x7e), 448.f);                     // max finite
  EXPECT_EQ(f8e4m3_to_f32(0xfe), -448.f);
  EXPECT_EQ(f8e4m3_to_f32(0x01), std::ldexp(1.f, -9));        // smallest subnormal
  EXPECT_EQ(f8e4m3_to_f32(0x07), 7.f * std::ldexp(1.f, -9));  // largest subnormal
  EXPECT_EQ(f8e4m3_to_f32(0x08), std::ldexp(1.f, -6));        // smallest normal
  EXPECT_EQ(f8e4m3_to_f32(0x38), 1.f);                        // e = bias
  EXPECT_EQ(f8e4m3_to_f32(0x3c), 1.5f);
  EXPECT_EQ(f8e4m3_to_f32(0x77), 240.f);
  EXPECT_EQ(f8e4m3_to_f32(0x78), 256.f);
  EXPECT_TRUE(std::isnan(f8e4m3_to_f32(0x7f)));
  EXPECT_TRUE(std::isnan(f8e4m3_to_f32(0xff)));
  EXPECT_EQ(f8e4m3_to_f32(0x00), 0.f);
  EXPECT_FALSE(std::signbit(f8e4m3_to_f32(0x00)));
  EXPECT_EQ(f8e4m3_to_f32(0x80), 0.f);
  EXPECT_TRUE(std::signbit(f8e4m3_to_f32(0x80)));  // -0
}

TEST(NumericE4M3, OnlyTwoNaNsNoInfinities) {
  int nans = 0;
  for (int c = 0; c < 256; ++c) {
    float v = f8e4m3_to_f32(uint8_t(c));
    EXPECT_FALSE(std::isinf(v)) << "code 0x" << std::hex << c;
    nans += std::isnan(v);
  }
  EXPECT_EQ(nans, 2);
}

TEST(NumericE4M3, PositiveCodesStrictlyIncrease) {
  // The encoder's binary search relies on this ordering.
  for (int c = 1; c <= 0x7e; ++c)
    EXPECT_LT(f8e4m3_to_f32(uint8_t(c - 1)), f8e4m3_to_f32(uint8_t(c))) << "code 0x" << std::hex << c;
}

TEST(NumericE4M3, EncodeDecodeRoundTripsEveryFiniteCode) {
  for (int c = 0; c < 256; ++c) {
    if (c == 0x7f || c == 0xff) continue;
    EXPECT_EQ(f32_to_f8e4m3(f8e4m3_to_f32(uint8_t(c))), c) << "code 0x" << std::hex << c;
  }
  EXPECT_EQ(f32_to_f8e4m3(-0.f), 0x80);
  EXPECT_EQ(f32_to_f8e4m3(0.f), 0x00);
}

TEST(NumericE4M3, EncodeClampsToMaxFinite) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32_to_f8e4m3(1000.f), 0x7e);
  EXPECT_EQ(f32_to_f8e4m3(-1000.f), 0xfe);
  EXPECT_EQ(f32_to_f8e4m3(449.f), 0x7e);
  EXPECT_EQ(f32_to_f8e4m3(464.f), 0x7e);  // the midpoint to a (non-existent) 480: still clamps
  EXPECT_EQ(f32_to_f8e4m3(1e30f), 0x7e);
  EXPECT_EQ(f32_to_f8e4m3(inf), 0x7e);
  EXPECT_EQ(f32_to_f8e4m3(-inf), 0xfe);
  EXPECT_EQ(f32_to_f8e4m3(std::numeric_limits<float>::quiet_NaN()), 0x7f);
}

TEST(NumericE4M3, EncodeRoundsTiesToEvenAtEveryMidpoint) {
  // Midpoints between adjacent codes are exact in fp32 (one more mantissa bit than e4m3 needs),
  // so each is a true tie. The even code (mantissa LSB 0, i.e. even code number) must win; one
  // fp32 ULP either side of the midpoint must go to the nearer code.
  for (int c = 0; c < 0x7e; ++c) {
    float lo = f8e4m3_to_f32(uint8_t(c)), hi = f8e4m3_to_f32(uint8_t(c + 1));
    float mid = (lo + hi) / 2;
    ASSERT_EQ(double(mid), (double(lo) + double(hi)) / 2) << "midpoint not exact at 0x" << std::hex << c;
    int even = (c % 2 == 0) ? c : c + 1;
    EXPECT_EQ(f32_to_f8e4m3(mid), even) << "tie between 0x" << std::hex << c << " and 0x" << c + 1;
    EXPECT_EQ(f32_to_f8e4m3(-mid), even | 0x80) << "negative tie at 0x" << std::hex << c;
    EXPECT_EQ(f32_to_f8e4m3(std::nextafter(mid, 0.f)), c) << "below tie at 0x" << std::hex << c;
    EXPECT_EQ(f32_to_f8e4m3(std::nextafter(mid, 1000.f)), c + 1) << "above tie at 0x" << std::hex << c;
  }
  // Spot checks by hand: 1.0625 = midpoint of 1 (0x38) and 1.125 (0x39) -> 0x38;
  // 1.1875 = midpoint of 1.125 (0x39) and 1.25 (0x3a) -> 0x3a; 2^-10 = half the smallest
  // subnormal -> 0; 3 * 2^-10 = midpoint of 0x01 and 0x02 -> 0x02.
  EXPECT_EQ(f32_to_f8e4m3(1.0625f), 0x38);
  EXPECT_EQ(f32_to_f8e4m3(1.1875f), 0x3a);
  EXPECT_EQ(f32_to_f8e4m3(std::ldexp(1.f, -10)), 0x00);
  EXPECT_EQ(f32_to_f8e4m3(std::ldexp(3.f, -10)), 0x02);
  EXPECT_EQ(f32_to_f8e4m3(1e-30f), 0x00);
  EXPECT_EQ(f32_to_f8e4m3(-1e-30f), 0x80);
  EXPECT_EQ(f32_to_f8e4m3(432.f), 0x7e);  // midpoint of 416 (0x7d) and 448 (0x7e): 0x7e is even
}

TEST(NumericE4M3, EncodeIsNearestOverDenseSweep) {
  // Independent reference: nearest code by exhaustive search in double, ties to even code.
  auto ref_encode = [](float f) {
    double a = std::fmin(std::fabs(double(f)), 448.0);
    int best = 0;
    double best_d = INFINITY;
    for (int c = 0; c <= 0x7e; ++c) {
      double d = std::fabs(ref_e4m3(c) - a);
      if (d < best_d || (d == best_d && c % 2 == 0)) { best = c; best_d = d; }
    }
    return std::signbit(f) ? best | 0x80 : best;
  };
  // Every fp32 value in [2^-12, 512) whose low 10 mantissa bits are 0 (~172k values): all e4m3
  // binades, with 10 mantissa bits beyond e4m3's 3, so every midpoint is hit and straddled.
  for (uint32_t u = 0x39800000u; u < 0x44000000u; u += 1u << 10) {
    float f = f32_from_bits(u);
    ASSERT_EQ(f32_to_f8e4m3(f), ref_encode(f)) << "f = " << f;
    ASSERT_EQ(f32_to_f8e4m3(-f), ref_encode(-f)) << "f = " << -f;
  }
}

// ----------------------------------------------------------------------------------------------
// BF16

TEST(NumericBF16, DecodeIsShiftForAllCodes) {
  for (uint32_t h = 0; h < 65536; ++h)
    ASSERT_EQ(bits_from_f32(bf16_to_f32(uint16_t(h))), h << 16) << "code 0x" << std::hex << h;
}

TEST(NumericBF16, EncodeDecodeRoundTripsEveryCode) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = bf16_to_f32(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f)))) << "NaN code 0x" << std::hex << h;
    } else {
      ASSERT_EQ(f32_to_bf16(f), h) << "code 0x" << std::hex << h;
    }
  }
}

TEST(NumericBF16, RoundsTiesToEven) {
  // 0x3f808000 = 1 + 2^-8: exactly between bf16 0x3f80 (1.0) and 0x3f81; 0x3f80 is even.
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808000u)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f818000u)), 0x3f82);  // between 0x3f81 and 0x3f82
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0xbf808000u)), 0xbf80);  // negative ties mirror
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0xbf818000u)), 0xbf82);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808001u)), 0x3f81);  // just above the tie
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f807fffu)), 0x3f80);  // just below
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x00008000u)), 0x0000);  // subnormal tie -> even 0
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x00018000u)), 0x0002);
  // Rounding carries into the exponent: 0x3fffffff rounds up to 2.0.
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3fffffffu)), 0x4000);
  // Overflow: the largest finite bf16 is 0x7f7f; anything at or beyond its upper tie is inf.
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x7f7f7fffu)), 0x7f7f);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x7f7f8000u)), 0x7f80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
}

TEST(NumericBF16, SpecialValues) {
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(f32_to_bf16(-0.f), 0x8000);
  // NaNs whose payload is only in the low 16 bits must not collapse to infinity.
  for (uint32_t u : {0x7f800001u, 0xff800001u, 0x7fc00000u, 0x7f80ffffu})
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f32_from_bits(u))))) << std::hex << u;
}

TEST(NumericBF16, EncodeMatchesNearestEvenReference) {
  // Independent reference in double: pick the nearer of the two neighbouring bf16 values,
  // ties to the even one. The upper neighbour of 0x7f7f is treated as 2^128 (inf), as IEEE does.
  auto ref = [](uint32_t u) -> uint16_t {
    uint16_t lo = uint16_t(u >> 16), hi = uint16_t(lo + 1);
    double x = std::fabs(double(f32_from_bits(u)));
    double vlo = std::fabs(double(f32_from_bits(uint32_t(lo) << 16)));
    double vhi = (hi & 0x7fff) == 0x7f80 ? std::ldexp(1.0, 128)
                                         : std::fabs(double(f32_from_bits(uint32_t(hi) << 16)));
    double dlo = x - vlo, dhi = vhi - x;
    if (dlo < dhi) return lo;
    if (dhi < dlo) return hi;
    return (lo & 1) ? hi : lo;
  };
  const uint32_t lows[] = {0x0000, 0x0001, 0x3fff, 0x7fff, 0x8000, 0x8001, 0xc000, 0xffff};
  for (uint32_t top = 0; top < 65536; ++top) {
    if ((top & 0x7f80) == 0x7f80) continue;  // inf/NaN inputs are covered in SpecialValues
    for (uint32_t low : lows) {
      uint32_t u = (top << 16) | low;
      ASSERT_EQ(f32_to_bf16(f32_from_bits(u)), ref(u)) << "bits 0x" << std::hex << u;
    }
  }
}

// ----------------------------------------------------------------------------------------------
// F16

TEST(NumericF16, DecodeAllCodesMatchReference) {
  for (int h = 0; h < 65536; ++h) expect_same(ref_f16(h), f16_to_f32(uint16_t(h)), "f16", h);
}

TEST(NumericF16, KnownValues) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.f, -24));
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.f, -14));
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
}

TEST(NumericF16, EncodeDecodeRoundTripsEveryCode) {
  for (int h = 0; h < 65536; ++h) {
    float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
    } else {
      ASSERT_EQ(f32_to_f16(f), h) << "code 0x" << std::hex << h;
    }
  }
}

TEST(NumericF16, EncodeRoundsTiesToEvenAndOverflows) {
  EXPECT_EQ(f32_to_f16(1.f + std::ldexp(1.f, -11)), 0x3c00);      // tie 0x3c00/0x3c01
  EXPECT_EQ(f32_to_f16(1.f + 3 * std::ldexp(1.f, -11)), 0x3c02);  // tie 0x3c01/0x3c02
  EXPECT_EQ(f32_to_f16(std::ldexp(1.f, -25)), 0x0000);             // half the smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(3.f, -25)), 0x0002);
  EXPECT_EQ(f32_to_f16(65519.f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.f), 0x7c00);  // tie between 65504 and 2^16: even side is inf
  EXPECT_EQ(f32_to_f16(-1e9f), 0xfc00);
}

#if defined(__FLT16_MAX__)
TEST(NumericF16, EncodeMatchesCompilerHalfConversion) {
  // The compiler's float -> _Float16 conversion is IEEE round-to-nearest-even: an independent
  // implementation. Sweep all fp32 bit patterns whose low 8 bits are 0x00 or 0xff: every
  // exponent, every f16 tie (low 13 bits 0x1000) and values just either side of it.
  for (uint64_t i = 0; i < (1ull << 25); ++i) {
    uint32_t u = uint32_t(i >> 1) << 8 | ((i & 1) ? 0xffu : 0x00u);
    float f = f32_from_bits(u);
    if (std::isnan(f)) continue;
    _Float16 h = static_cast<_Float16>(f);
    uint16_t bits;
    std::memcpy(&bits, &h, 2);
    ASSERT_EQ(f32_to_f16(f), bits) << "bits 0x" << std::hex << u;
  }
}
#endif

}  // namespace
}  // namespace dsv32
