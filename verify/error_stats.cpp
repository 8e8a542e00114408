#include "verify/error_stats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "verify/compare.h"

namespace dsv32 {

namespace {

// Nearest-rank quantiles of v (reordered in place): the ceil(q·N)-th smallest.
void quantiles(std::vector<float>& v, double* out) {
  if (v.empty()) return;
  for (int k = 0; k < 5; ++k) {
    size_t rank = size_t(std::ceil(kQuantiles[k] * double(v.size())));
    size_t i = std::min(v.size() - 1, rank == 0 ? 0 : rank - 1);
    std::nth_element(v.begin(), v.begin() + int64_t(i), v.end());
    out[k] = v[i];
  }
}

}  // namespace

int64_t bf16_ulp_distance(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : int64_t(1) << 16;
  auto ord = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    const int64_t c = int64_t(u >> 16);
    return (c & 0x8000) ? int64_t(0x8000) - c : c;  // monotone; -0 and +0 both map to 0
  };
  return std::llabs(ord(a) - ord(b));
}

ErrorStats error_stats(const float* a, const float* b, int64_t n, const std::vector<int64_t>& row_shape,
                       const std::vector<int64_t>& positions, double rms_ref, bool bf16, int top) {
  ErrorStats s;
  s.computed = true;
  s.ulp_dtype = bf16 ? "bf16" : "fp32";
  int64_t row = 1;
  for (int64_t d : row_shape) row *= d;
  std::vector<float> ab, rel;
  ab.reserve(size_t(n));
  // Histogram bounds 0, 1, 2, 4, ..., 2^16, then "more".
  std::vector<int64_t> bounds = {0};
  for (int64_t x = 1; x <= (int64_t(1) << 16); x *= 2) bounds.push_back(x);
  std::vector<int64_t> counts(bounds.size() + 1, 0);
  using Entry = std::pair<double, int64_t>;  // (norm, flat index), min-heap of the top entries
  std::vector<Entry> heap;
  auto greater = std::greater<Entry>();
  for (int64_t i = 0; i < n; ++i) {
    const float x = a[i], y = b[i];
    if (!std::isfinite(x) || !std::isfinite(y)) {
      if (!((std::isnan(x) && std::isnan(y)) || x == y)) ++s.nonfinite_mismatch;
      continue;
    }
    const double d = std::fabs(double(x) - double(y));
    ab.push_back(float(d));
    if (y != 0) rel.push_back(float(d / std::fabs(double(y))));
    const int64_t u = bf16 ? bf16_ulp_distance(x, y) : ulp_distance(x, y);
    counts[size_t(std::lower_bound(bounds.begin(), bounds.end(), u) - bounds.begin())]++;
    if (d > 0 && top > 0) {
      const double den = std::fabs(double(y)) + rms_ref;
      const double e = den > 0 ? d / den : INFINITY;
      if (int(heap.size()) < top) {
        heap.push_back({e, i});
        std::push_heap(heap.begin(), heap.end(), greater);
      } else if (e > heap.front().first) {
        std::pop_heap(heap.begin(), heap.end(), greater);
        heap.back() = {e, i};
        std::push_heap(heap.begin(), heap.end(), greater);
      }
    }
  }
  s.n = int64_t(ab.size());
  s.n_rel = int64_t(rel.size());
  quantiles(ab, s.abs_q);
  quantiles(rel, s.rel_q);
  for (size_t k = 0; k < bounds.size(); ++k) s.ulp_hist.push_back({bounds[k], counts[k]});
  s.ulp_hist.push_back({-1, counts.back()});
  std::sort(heap.begin(), heap.end(), greater);  // largest first
  for (auto [e, i] : heap) {
    ErrorStats::Worst w;
    const int64_t r = row > 0 ? i / row : 0;
    int64_t rest = row > 0 ? i % row : 0;
    std::vector<int64_t> idx(row_shape.size());
    for (size_t d = row_shape.size(); d-- > 0;) idx[d] = rest % row_shape[d], rest /= row_shape[d];
    w.index = {r < int64_t(positions.size()) ? positions[size_t(r)] : r};
    w.index.insert(w.index.end(), idx.begin(), idx.end());
    w.a = a[i], w.b = b[i];
    w.abs = std::fabs(double(a[i]) - double(b[i]));
    w.rel = b[i] != 0 ? w.abs / std::fabs(double(b[i])) : INFINITY;
    w.norm = e;
    w.ulp = bf16 ? bf16_ulp_distance(a[i], b[i]) : ulp_distance(a[i], b[i]);
    s.worst.push_back(std::move(w));
  }
  return s;
}

}  // namespace dsv32
