// gpu::act_quant against a plain CPU transcription of MODEL §3.4 written here (it depends on nothing
// but kernels/numeric.h's e4m3 encoder, itself tested on every code). Every step is exact or a
// single correctly rounded fp32 operation on both sides (max, ·(1/448), bit manipulation, one
// division, RNE to e4m3), so codes and scales must match BIT FOR BIT: no tolerance.
//
// Inputs make each step matter: every (row, 128-block) gets its own power-of-two magnitude over
// 2^±20 (a scale misplaced by one row or block changes codes), some blocks are all below 1e-4
// (the amax floor), some elements sit exactly on e4m3 rounding midpoints (ties to even), and the
// non-ue8m0 mode reaches the ±448 clamp (s = fp32(amax·(1/448)) may be below amax/448).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <random>
#include <vector>

#include "kernels/cuda/act_quant.h"
#include "kernels/numeric.h"
#include "kernels/error.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/cuda/gemm_test_util.h"

namespace dsv32 {
namespace {

using test::act_quant_reference;
using test::GpuParamTest;
using test::GpuTest;
template <class T>
using Dev = gpu::DeviceArray<T>;

std::vector<float> quant_input(int64_t M, int64_t x_stride, int64_t K, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_int_distribution<int> expo(-20, 20), kind(0, 15), code(0, 0x7c);  // c + 1 ≤ 0x7d: never NaN
  std::vector<float> x(size_t(M * x_stride), NAN);  // NaN in the stride gap: must never be read
  for (int64_t m = 0; m < M; ++m)
    for (int64_t kb = 0; kb < K / 128; ++kb) {
      const int k = kind(g);
      const float mag = k == 0 ? 1e-6f : std::ldexp(1.f, expo(g));  // kind 0: below the amax floor
      for (int j = 0; j < 128; ++j) {
        float v = nd(g) * mag;
        // Every 8th element: a midpoint between two adjacent e4m3 values times a power of two, so
        // that (with ue8m0 scales) v/s lands exactly on a tie.
        if (k > 8 && j % 8 == 3) {
          const int c = code(g) & 0x7e;  // even code, then the midpoint to the next code up
          v = std::ldexp(0.5f * (f8e4m3_to_f32(uint8_t(c)) + f8e4m3_to_f32(uint8_t(c + 1))), expo(g) / 4) *
              (j % 16 == 3 ? -1.f : 1.f);
        }
        x[size_t(m * x_stride + kb * 128 + j)] = v;
      }
    }
  return x;
}

struct ActQuantCase {
  int64_t M, K, x_pad, scale_pad;
  bool ue8m0, bf16_input;
};
void PrintTo(const ActQuantCase& c, std::ostream* os) {
  *os << "M" << c.M << "_K" << c.K << "_xpad" << c.x_pad << "_spad" << c.scale_pad << (c.ue8m0 ? "_ue8m0" : "_amax448")
      << (c.bf16_input ? "_bf16in" : "_f32in");
}
class ActQuantTest : public GpuParamTest<ActQuantCase> {};

TEST_P(ActQuantTest, BitExactVsSpec) {
  const auto c = GetParam();
  const int64_t x_stride = c.K + c.x_pad, scale_ld = c.M + c.scale_pad, KB = c.K / 128;
  const auto x = quant_input(c.M, x_stride, c.K, uint32_t(c.M * 7 + c.K));
  std::vector<uint8_t> want_codes;
  std::vector<float> want_scales;
  act_quant_reference(x, c.M, c.K, x_stride, c.ue8m0, c.bf16_input, want_codes, want_scales);

  ActQuantParams p;
  p.rows = c.M, p.dim = c.K, p.x_stride = x_stride, p.scale_ld = scale_ld, p.pow2_scale = c.ue8m0,
  p.bf16_input = c.bf16_input;
  Dev<float> dx(ctx(), x);
  Dev<uint8_t> dcodes(size_t(c.M * c.K));
  Dev<float> dscales(ctx(), std::vector<float>(size_t(KB * scale_ld), -1.f));  // sentinel in the padding
  gpu::act_quant(ctx(), p, dx.get(), dcodes.get(), dscales.get());
  const auto codes = dcodes.download(ctx());
  const auto scales = dscales.download(ctx());

  int64_t bad_codes = 0, first_bad = -1;
  for (size_t i = 0; i < codes.size(); ++i)
    if (codes[i] != want_codes[i] && bad_codes++ == 0) first_bad = int64_t(i);
  EXPECT_EQ(bad_codes, 0) << "first at m=" << first_bad / c.K << " k=" << first_bad % c.K << ": got 0x" << std::hex
                          << int(codes[size_t(first_bad)]) << " want 0x" << int(want_codes[size_t(first_bad)]);
  int64_t bad_scales = 0;
  for (int64_t kb = 0; kb < KB; ++kb)
    for (int64_t m = 0; m < scale_ld; ++m) {
      const float got = scales[size_t(kb * scale_ld + m)];
      const float want = m < c.M ? want_scales[size_t(m * KB + kb)] : -1.f;  // padding untouched
      if (bits_from_f32(got) != bits_from_f32(want) && bad_scales++ < 3)
        ADD_FAILURE() << "scale [kb " << kb << ", m " << m << "]: got " << got << " want " << want;
    }
  EXPECT_EQ(bad_scales, 0);
  if (c.ue8m0) {  // every scale a power of two
    for (float s : want_scales) ASSERT_EQ(bits_from_f32(s) & 0x7fffffu, 0u);
  }
}
INSTANTIATE_TEST_SUITE_P(Cuda, ActQuantTest,
                         ::testing::Values(ActQuantCase{1, 128, 0, 0, true, true}, ActQuantCase{1, 7168, 0, 3, true, true},
                                           ActQuantCase{5, 512, 16, 3, true, false},
                                           ActQuantCase{64, 1536, 0, 0, true, true},
                                           ActQuantCase{64, 1536, 0, 0, false, true},
                                           ActQuantCase{37, 2048, 5, 1, false, false}));

TEST_F(GpuTest, ActQuantRejectsRaggedK) {
  ActQuantParams p;
  p.rows = 2, p.dim = 200, p.x_stride = 200, p.scale_ld = 4;
  EXPECT_THROW(gpu::act_quant(ctx(), p, nullptr, nullptr, nullptr), Error);
  p.dim = 256, p.x_stride = 256, p.scale_ld = 1;  // scale_ld < M
  EXPECT_THROW(gpu::act_quant(ctx(), p, nullptr, nullptr, nullptr), Error);
}

}  // namespace
}  // namespace dsv32
