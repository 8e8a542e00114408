#include "verify/ppl.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dsv32 {

RowStats row_stats(const float* logits, int64_t V) {
  RowStats r;
  float mx = logits[0];
  for (int64_t i = 1; i < V; ++i)
    if (logits[i] > mx) { mx = logits[i]; r.argmax = int32_t(i); }
  double s = 0;
  for (int64_t i = 0; i < V; ++i) s += std::exp(double(logits[i]) - mx);
  r.lse = mx + std::log(s);
  return r;
}

CompactDist compact_dist(const float* logits, int64_t V, const RowStats& rs, int top_n) {
  CompactDist d;
  const int64_t n = std::min<int64_t>(top_n, V);
  std::vector<int32_t> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  double top_mass = 0;
  for (int64_t i = 0; i < n; ++i) {
    d.ids.push_back(idx[i]);
    double lp = rs.logp(logits, idx[i]);
    d.logp.push_back(float(lp));
    top_mass += std::exp(lp);
  }
  if (n < V) d.rest_logp = top_mass < 1.0 ? float(std::log1p(-top_mass)) : -INFINITY;
  return d;
}

double kl_divergence(const CompactDist& b, const float* nl, const RowStats& nrs) {
  double kl = 0, new_top = 0;
  for (size_t i = 0; i < b.ids.size(); ++i) {
    double lb = b.logp[i], ln = nrs.logp(nl, b.ids[i]);
    new_top += std::exp(ln);
    if (std::isfinite(lb)) kl += std::exp(lb) * (lb - ln);
  }
  if (std::isfinite(b.rest_logp)) {
    double rest_new = std::max(1.0 - new_top, 1e-300);
    kl += std::exp(double(b.rest_logp)) * (double(b.rest_logp) - std::log(rest_new));
  }
  return std::max(kl, 0.0);  // rounding can make a zero KL come out as −1e-17
}

double kl_divergence_full(const float* b, const RowStats& brs, const float* nl, const RowStats& nrs, int64_t V) {
  double kl = 0;
  for (int64_t i = 0; i < V; ++i) {
    double lb = brs.logp(b, int32_t(i));
    kl += std::exp(lb) * (lb - nrs.logp(nl, int32_t(i)));
  }
  return std::max(kl, 0.0);
}

void TokenLog::append(const TokenLog& o) {
  nll.insert(nll.end(), o.nll.begin(), o.nll.end());
  kld.insert(kld.end(), o.kld.begin(), o.kld.end());
  dp.insert(dp.end(), o.dp.begin(), o.dp.end());
  base_nll.insert(base_nll.end(), o.base_nll.begin(), o.base_nll.end());
  same_top1 += o.same_top1;
}

double mean_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

static double err_of_mean(const std::vector<float>& v, double mean) {
  if (v.size() < 2) return 0;
  double ss = 0;
  for (float x : v) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / double(v.size()) / double(v.size() - 1));
}

void ppl_from_nll(const std::vector<float>& nll, double* ppl, double* err) {
  double m = mean_of(nll);
  *ppl = std::exp(m);
  *err = *ppl * err_of_mean(nll, m);
}

KlStats kl_stats(const TokenLog& log) {
  KlStats s;
  s.n = int64_t(log.kld.size());
  if (s.n == 0) return s;
  s.mean = mean_of(log.kld);
  s.err = err_of_mean(log.kld, s.mean);
  std::vector<float> k = log.kld;
  std::sort(k.begin(), k.end());
  auto pct = [&](double p) {  // nearest-rank on the sorted values
    size_t i = size_t(std::ceil(p / 100.0 * double(k.size()))) ;
    return double(k[std::min(k.size() - 1, i == 0 ? 0 : i - 1)]);
  };
  s.median = pct(50);
  s.p90 = pct(90);
  s.p95 = pct(95);
  s.p99 = pct(99);
  s.p999 = pct(99.9);
  s.max = k.back();
  s.same_top1_pct = 100.0 * double(log.same_top1) / double(s.n);
  s.dp_mean = mean_of(log.dp);
  s.dp_err = err_of_mean(log.dp, s.dp_mean);
  double sq = 0;
  for (float d : log.dp) sq += double(d) * d;
  s.dp_rms = std::sqrt(sq / double(std::max<size_t>(1, log.dp.size())));
  s.ppl_ratio = std::exp(mean_of(log.nll) - mean_of(log.base_nll));
  return s;
}

}  // namespace dsv32
