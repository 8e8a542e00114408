// Mann-Whitney U and effect sizes against hand-computed and published values, and the regression
// rule of `dsv32 compare` (evidence AND minimum effect) on synthetic repetitions.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "reports/compare.h"
#include "reports/stats.h"

namespace dsv32::reports {
namespace {

TEST(MannWhitney, FullySeparatedFiveVsFiveIsExactTwoOver252) {
  // Under H0 every one of C(10,5) = 252 rank arrangements is equally likely; U = 0 is the single
  // most extreme one on each side, so the two-sided p is 2/252.
  MannWhitney r = mann_whitney_u({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  EXPECT_TRUE(r.exact);
  EXPECT_EQ(r.u, 0);
  EXPECT_NEAR(r.p, 2.0 / 252.0, 1e-12);
  EXPECT_NEAR(mann_whitney_u({6, 7, 8, 9, 10}, {1, 2, 3, 4, 5}).p, 2.0 / 252.0, 1e-12);  // symmetric
  EXPECT_EQ(mann_whitney_u({6, 7, 8, 9, 10}, {1, 2, 3, 4, 5}).u, 25);
}

TEST(MannWhitney, PublishedExampleExact) {
  // SciPy's mannwhitneyu documentation example (males vs females): U1 = 17, exact p = 1/9
  // (14 of the 126 arrangements are at least as extreme on either side).
  MannWhitney r = mann_whitney_u({19, 22, 16, 29, 24}, {20, 11, 17, 12});
  EXPECT_TRUE(r.exact);
  EXPECT_EQ(r.u, 17);
  EXPECT_NEAR(r.p, 1.0 / 9.0, 1e-12);
}

TEST(MannWhitney, SmallCasesByHand) {
  // n = 2 vs 2: C(4,2) = 6 arrangements, U in {0,1,2,2,3,4}. U = 1 -> P(U <= 1) = 2/6, p = 2/3.
  EXPECT_NEAR(mann_whitney_u({1, 3}, {2, 4}).p, 2.0 / 3.0, 1e-12);
  // Identical-looking interleaving: U = 2 = mean -> p = 1.
  EXPECT_NEAR(mann_whitney_u({1, 4}, {2, 3}).p, 1.0, 1e-12);
}

TEST(MannWhitney, TiesUseNormalApproximationWithTieCorrection) {
  // a = {1,2,2,3}, b = {2,3,4,5}. Midranks of the pooled {1,2,2,2,3,3,4,5}: 1 -> 1, 2 -> 3 (x3),
  // 3 -> 5.5 (x2), 4 -> 7, 5 -> 8. R_a = 1 + 3 + 3 + 5.5 = 12.5, U_a = 12.5 - 10 = 2.5.
  // mu = 8, tie term = (27-3) + (8-2) = 30, var = 16/12 * (9 - 30/56) = 11.285714...
  // z = -(|2.5 - 8| - 0.5)/sqrt(var) = -5/3.359422 = -1.488351, p = erfc(1.488351/sqrt 2) = 0.136658.
  MannWhitney r = mann_whitney_u({1, 2, 2, 3}, {2, 3, 4, 5});
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 2.5);
  EXPECT_NEAR(r.z, -1.488351, 1e-5);
  EXPECT_NEAR(r.p, 0.136658, 1e-5);
  // All values equal: no evidence at all.
  EXPECT_EQ(mann_whitney_u({3, 3, 3}, {3, 3}).p, 1.0);
}

TEST(MannWhitney, MinimumAchievablePValue) {
  EXPECT_NEAR(mann_whitney_min_p(5, 5), 2.0 / 252.0, 1e-12);
  EXPECT_NEAR(mann_whitney_min_p(3, 3), 0.1, 1e-12);  // 2 / C(6,3): 3 reps can never reach 0.05
  EXPECT_NEAR(mann_whitney_min_p(4, 4), 2.0 / 70.0, 1e-12);
}

TEST(EffectSize, CliffsDelta) {
  EXPECT_EQ(cliffs_delta({1, 2, 3}, {4, 5, 6}), 1.0);
  EXPECT_EQ(cliffs_delta({4, 5, 6}, {1, 2, 3}), -1.0);
  EXPECT_NEAR(cliffs_delta({1, 3}, {2, 4}), 0.5, 1e-12);  // (3 greater - 1 less) / 4
}

std::vector<double> scaled(std::vector<double> v, double f) {
  for (auto& x : v) x *= f;
  return v;
}
const std::vector<double> kBase = {100, 101, 99, 100.5, 99.5};

TEST(CompareSamples, FlagsSeparatedTwentyPercentSlowdown) {
  CompareRow r = compare_samples("pp512", "tokens/s", true, kBase, scaled(kBase, 0.8), {});
  EXPECT_EQ(r.verdict, "regressed");
  EXPECT_NEAR(r.change, -0.2, 1e-12);
  EXPECT_NEAR(r.p, 2.0 / 252.0, 1e-12);
  EXPECT_EQ(r.delta, -1.0);
  // The same samples with the roles of better/worse swapped (time, lower is better) improve.
  EXPECT_EQ(compare_samples("op", "ns", false, kBase, scaled(kBase, 0.8), {}).verdict, "improved");
  EXPECT_EQ(compare_samples("op", "ns", false, kBase, scaled(kBase, 1.2), {}).verdict, "regressed");
}

TEST(CompareSamples, DoesNotFlagOverlappingNoise) {
  // The median drops 14 % but the samples interleave: p = 0.69, not evidence.
  CompareRow r = compare_samples("tg32", "tokens/s", true, kBase, {82, 102, 86, 101.2, 84}, {});
  EXPECT_EQ(r.verdict, "unchanged");
  EXPECT_GT(r.p, 0.5);
}

TEST(CompareSamples, DoesNotFlagSignificantButTinyChange) {
  std::vector<double> base, next;
  for (int i = 0; i < 20; ++i) base.push_back(100 + 0.01 * i), next.push_back(99 + 0.01 * i);
  CompareRow r = compare_samples("tg32", "tokens/s", true, base, next, {0.05, 0.05});
  EXPECT_LT(r.p, 1e-6);                  // clearly significant...
  EXPECT_NEAR(r.change, -0.01, 1e-3);    // ...but 1 % is below the 5 % minimum effect
  EXPECT_EQ(r.verdict, "unchanged");
  EXPECT_EQ(compare_samples("tg32", "tokens/s", true, base, next, {0.05, 0.005}).verdict, "regressed");
}

TEST(CompareSamples, TooFewRepetitionsIsInsufficientData) {
  EXPECT_EQ(compare_samples("x", "tokens/s", true, {100, 101, 99}, {80, 81, 79}, {}).verdict, "insufficient data");
  EXPECT_EQ(compare_samples("x", "tokens/s", true, {100}, {80}, {}).verdict, "insufficient data");
  EXPECT_EQ(compare_samples("x", "tokens/s", true, kBase, {}, {}).verdict, "insufficient data");
}

}  // namespace
}  // namespace dsv32::reports
