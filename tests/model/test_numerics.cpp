// The numerics table (model/numerics.h): names, the old alias, and what a backend's capabilities
// say about each profile — the one-line errors a user sees for a profile a device cannot compute.
#include <gtest/gtest.h>

#include "kernels/error.h"
#include "model/numerics.h"

namespace dsv32 {
namespace {

TEST(Numerics, NamesAndAlias) {
  EXPECT_EQ(numerics_names(), "exact, ref1, bf16, fp8");
  EXPECT_EQ(&numerics_profile("fp32"), &numerics_profile("exact"));  // --gpu-gemm's old spelling
  EXPECT_THROW(numerics_profile("fp16"), Error);
  for (const char* n : {"exact", "ref1", "bf16", "fp8"}) EXPECT_STREQ(numerics_profile(n).name, n);
}

TEST(Numerics, RowsSayWhatEachProfileDoes) {
  const NumericsProfile &exact = numerics_profile("exact"), &ref1 = numerics_profile("ref1");
  for (int i = 0; i < int(Point::kCount); ++i) {
    EXPECT_EQ(exact.rules[i].out, Store::kF32) << to_string(Point(i));
    EXPECT_EQ(exact.rules[i].f8, Gemm::kF32) << to_string(Point(i));
  }
  EXPECT_EQ(ref1.rule(Point::kProj).gemm_for(true), Gemm::kFp8Ref);   // F8 weights: fp8_gemm
  EXPECT_EQ(ref1.rule(Point::kProj).gemm_for(false), Gemm::kF32);     // others: fp32 GEMM, then bf16
  EXPECT_TRUE(ref1.stores_bf16(Point::kProj));
  EXPECT_FALSE(ref1.stores_bf16(Point::kAuxProj));                    // router, weights_proj, lm_head
  EXPECT_EQ(ref1.absorbed, AbsorbedWeights::kBf16);                   // weight_dequant's bf16
  EXPECT_EQ(exact.absorbed, AbsorbedWeights::kF32);
  EXPECT_STREQ(numerics_profile("fp8").verify_profile, "bf16");
}

TEST(Numerics, BackendCapsNameTheFirstMissingPoint) {
  const BackendCaps cpu{"CPU", {true, true, true, false}, true, true, true};
  const BackendCaps cuda{"CUDA", {true, true, false, true}, false, false, false};
  const BackendCaps no_bf16{"CPU", {true, false, true, false}, true, true, true};
  EXPECT_EQ(numerics_lacks(numerics_profile("exact"), cpu), "");
  EXPECT_EQ(numerics_lacks(numerics_profile("ref1"), cpu), "");
  EXPECT_EQ(numerics_lacks(numerics_profile("bf16"), cpu), "");  // mirrors are a permission, not a point
  EXPECT_EQ(numerics_lacks(numerics_profile("fp8"), cpu), "the CPU backend has no fp8 GEMM (point proj)");
  EXPECT_EQ(numerics_lacks(numerics_profile("bf16"), no_bf16), "the CPU backend has no bf16 GEMM (point proj)");
  EXPECT_EQ(numerics_lacks(numerics_profile("exact"), cuda), "");
  EXPECT_EQ(numerics_lacks(numerics_profile("bf16"), cuda), "");
  EXPECT_EQ(numerics_lacks(numerics_profile("fp8"), cuda), "");
  EXPECT_EQ(numerics_lacks(numerics_profile("ref1"), cuda), "the CUDA backend has no bf16 storage rounding (point embed)");
}

}  // namespace
}  // namespace dsv32
