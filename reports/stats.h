// Statistics for regression decisions: the Mann-Whitney U test over repetitions (no normality
// assumption, robust to the odd slow outlier that timing samples have) and effect sizes.
//
// A change is only called a regression when BOTH the test (p < alpha) and the effect size
// (|relative median change| >= min_effect) say so: with many repetitions a 0.5 % shift becomes
// "significant" but is not worth failing CI over, and with few a 30 % jump may be noise.
#pragma once
#include <vector>

namespace dsv32::reports {

struct MannWhitney {
  double u = 0;       // U of sample a: #(a_i > b_j) + 0.5 * #(a_i == b_j)
  double z = 0;       // normal-approximation z (0 for the exact test)
  double p = 1;       // two-sided p-value
  bool exact = false; // exact permutation distribution (no ties, small samples)
};

// Two-sided test of "a and b come from the same distribution". Exact when there are no ties and
// n_a * n_b <= 400; otherwise the normal approximation with tie correction and continuity
// correction (the textbook / SciPy `asymptotic` form). Needs both samples non-empty.
MannWhitney mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b);

// The smallest two-sided p-value any outcome can reach with these sample sizes (exact test):
// 2 / C(n_a + n_b, n_a). When it is above alpha no result can be significant -> "insufficient data".
double mann_whitney_min_p(int n_a, int n_b);

// Cliff's delta of `b` against `a`: (#(b > a) - #(b < a)) / (n_a n_b), in [-1, 1].
double cliffs_delta(const std::vector<double>& a, const std::vector<double>& b);

// Two-sided p-value of a standard normal z (erfc(|z|/sqrt 2)).
double normal_two_sided_p(double z);

}  // namespace dsv32::reports
