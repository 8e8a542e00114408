// Router group flips in verify (verify/router_groups.h).
#include "verify/router_groups.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "verify/compare.h"

namespace dsv32 {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A group is kept when any of its entries is not −inf (a kept expert's z can be anything finite,
// NaN included: that is a value error, compared elsewhere).
bool kept(const float* row, int64_t g, int64_t size) {
  for (int64_t i = g * size; i < (g + 1) * size; ++i)
    if (!(std::isinf(row[i]) && row[i] < 0)) return true;
  return false;
}
// Sum of the two largest finite z of group g (MODEL §8.2 step 4).
double group_score(const float* row, int64_t g, int64_t size) {
  double top1 = -kInf, top2 = -kInf;
  for (int64_t i = g * size; i < (g + 1) * size; ++i) {
    const double v = row[i];
    if (!std::isfinite(v)) continue;
    if (v > top1) top2 = top1, top1 = v;
    else if (v > top2) top2 = v;
  }
  return size == 1 ? top1 : top1 + top2;
}

}  // namespace

RouterGroupFlips router_group_flips(const float* a, const float* b, int64_t rows, int64_t E, int64_t n_group,
                                    double tie_rel) {
  RouterGroupFlips s;
  s.rows = rows;
  s.tie_rel = tie_rel;
  s.differ.assign(size_t(rows), 0);
  s.excused.assign(size_t(rows), 0);
  if (n_group < 2 || E % n_group != 0) return s;
  const int64_t size = E / n_group;
  bool have_bad = false;
  for (int64_t r = 0; r < rows; ++r) {
    const float* ra = a + r * E;
    const float* rb = b + r * E;
    std::vector<int32_t> oa, ob;
    for (int64_t g = 0; g < n_group; ++g) {
      const bool ka = kept(ra, g, size), kb = kept(rb, g, size);
      if (ka && !kb) oa.push_back(int32_t(g));
      if (kb && !ka) ob.push_back(int32_t(g));
    }
    if (oa.empty() && ob.empty()) continue;
    s.differ[size_t(r)] = 1;
    ++s.rows_differ;
    // Every (kept-only-by-A, kept-only-by-B) pair, each scored in the dump that kept it.
    double max_a = -kInf, min_a = kInf, max_b = -kInf, min_b = kInf;
    for (int32_t g : oa) max_a = std::max(max_a, group_score(ra, g, size)), min_a = std::min(min_a, group_score(ra, g, size));
    for (int32_t g : ob) max_b = std::max(max_b, group_score(rb, g, size)), min_b = std::min(min_b, group_score(rb, g, size));
    const double gap = std::max(max_a - min_b, max_b - min_a);
    const double scale = std::max(finite_rms(ra, E), finite_rms(rb, E));
    double need = kInf;
    if (oa.size() == ob.size() && std::isfinite(gap)) need = gap <= 0 ? 0 : scale > 0 ? gap / scale : kInf;
    s.need_tol = std::max(s.need_tol, need);
    const bool ok = need <= tie_rel;
    if (ok) s.excused[size_t(r)] = 1, ++s.rows_excused;
    if (s.worst_row < 0 || (!ok && !have_bad)) {
      s.worst_row = r, s.only_a = oa, s.only_b = ob;
      have_bad = !ok;
    }
  }
  return s;
}

void mask_to_common_groups(std::vector<float>& a, std::vector<float>& b, const RouterGroupFlips& g, int64_t E,
                           int64_t n_group) {
  if (n_group < 2 || E % n_group != 0) return;
  const int64_t size = E / n_group;
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < g.rows; ++r) {
    if (!g.differ[size_t(r)]) continue;
    float* ra = a.data() + r * E;
    float* rb = b.data() + r * E;
    for (int64_t grp = 0; grp < n_group; ++grp)
      if (kept(ra, grp, size) != kept(rb, grp, size))
        std::fill(ra + grp * size, ra + (grp + 1) * size, ninf), std::fill(rb + grp * size, rb + (grp + 1) * size, ninf);
  }
}

}  // namespace dsv32
