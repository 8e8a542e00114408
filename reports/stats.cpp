// Mann-Whitney U, exact and normal-approximation forms (see stats.h).
#include "reports/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/error.h"

namespace dsv32::reports {
namespace {

// P(U <= u) under H0 for sample sizes m, n with no ties: counts of rank arrangements with each U,
// by the recurrence f(m, n, u) = f(m-1, n, u-n) + f(m, n-1, u) (the largest value is either from
// the first sample, beating all n of the second, or not), divided by C(m+n, m).
double exact_cdf(int m, int n, int u) {
  // f[j][v]: arrangements of i first-sample and j second-sample values with U = v; built up in i.
  std::vector<std::vector<double>> f(n + 1, std::vector<double>(size_t(m) * n + 1, 0.0));
  for (int j = 0; j <= n; ++j) f[j][0] = 1;  // i = 0: U is always 0
  for (int i = 1; i <= m; ++i) {
    std::vector<std::vector<double>> g(n + 1, std::vector<double>(size_t(m) * n + 1, 0.0));
    for (int j = 0; j <= n; ++j)
      for (int v = 0; v <= i * j; ++v) {
        double x = v >= j ? f[j][v - j] : 0.0;  // largest is from sample one: beats all j
        if (j > 0) x += g[j - 1][v];            // largest is from sample two
        g[j][v] = x;
      }
    f = std::move(g);
  }
  double total = 0, below = 0;
  for (int v = 0; v <= m * n; ++v) {
    total += f[n][v];
    if (v <= u) below += f[n][v];
  }
  return below / total;
}

}  // namespace

double normal_two_sided_p(double z) { return std::erfc(std::fabs(z) / std::sqrt(2.0)); }

MannWhitney mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) fail("Mann-Whitney U needs two non-empty samples");
  const int m = int(a.size()), n = int(b.size()), N = m + n;
  // Midranks of the pooled sample; tie groups also feed the variance correction.
  std::vector<std::pair<double, int>> all;
  for (double x : a) all.push_back({x, 0});
  for (double x : b) all.push_back({x, 1});
  std::sort(all.begin(), all.end(), [](auto& x, auto& y) { return x.first < y.first; });
  double rank_sum_a = 0, tie_term = 0;
  for (int i = 0; i < N;) {
    int j = i;
    while (j < N && all[j].first == all[i].first) ++j;
    const double t = j - i, midrank = 0.5 * (i + 1 + j);  // ranks i+1 .. j
    for (int k = i; k < j; ++k)
      if (all[k].second == 0) rank_sum_a += midrank;
    tie_term += t * t * t - t;
    i = j;
  }
  MannWhitney r;
  r.u = rank_sum_a - 0.5 * m * (m + 1.0);
  const double mu = 0.5 * m * n;
  if (tie_term == 0 && m * n <= 400) {
    r.exact = true;
    // U is symmetric about mu, so P(U >= u) = P(U <= m n - u).
    const int lo = int(std::lround(std::min(r.u, m * n - r.u)));
    r.p = std::min(1.0, 2.0 * exact_cdf(m, n, lo));
    return r;
  }
  const double var = m * n / 12.0 * ((N + 1.0) - tie_term / (double(N) * (N - 1.0)));
  if (var <= 0) return r;  // every value equal: no evidence of any difference, p = 1
  const double d = std::max(0.0, std::fabs(r.u - mu) - 0.5);
  r.z = (r.u >= mu ? d : -d) / std::sqrt(var);
  r.p = std::min(1.0, normal_two_sided_p(r.z));
  return r;
}

double mann_whitney_min_p(int n_a, int n_b) {
  if (n_a <= 0 || n_b <= 0) return 1.0;
  // 2 / C(n_a + n_b, n_a), in logs to stay finite for large samples.
  double log_c = std::lgamma(n_a + n_b + 1.0) - std::lgamma(n_a + 1.0) - std::lgamma(n_b + 1.0);
  return std::min(1.0, 2.0 * std::exp(-log_c));
}

double cliffs_delta(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) return 0;
  double gt = 0, lt = 0;
  for (double y : b)
    for (double x : a) gt += y > x, lt += y < x;
  return (gt - lt) / (double(a.size()) * double(b.size()));
}

}  // namespace dsv32::reports
