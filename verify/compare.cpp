// Metrics and verdict of `dsv32 verify` (see compare.h; the printed table and JSON are in
// verify/report.cpp).
// GCC 12 reports false -Wrestrict positives for `"literal" + std::string` (GCC bug 105329).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include "verify/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <regex>
#include <map>
#include <set>

#include "kernels/error.h"

namespace dsv32 {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ',';
    r += std::to_string(s[i]);
  }
  return r + "]";
}

// Row pairs (row in A, row in B) with the same absolute position, and those positions.
struct Alignment {
  std::vector<int64_t> ra, rb, pos;
  bool identity = false;
};
Alignment align_rows(const std::vector<int64_t>& pa, int64_t rows_a, const std::vector<int64_t>& pb,
                     int64_t rows_b) {
  Alignment al;
  int64_t i = 0, j = 0;
  while (i < rows_a && j < rows_b) {
    if (pa[i] == pb[j]) {
      al.ra.push_back(i);
      al.rb.push_back(j);
      al.pos.push_back(pa[i]);
      ++i, ++j;
    } else if (pa[i] < pb[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  al.identity = int64_t(al.ra.size()) == rows_a && rows_a == rows_b &&
                std::equal(al.ra.begin(), al.ra.end(), al.rb.begin());
  return al;
}
template <class T>
std::vector<T> gather(const std::vector<T>& v, int64_t row_elems, const std::vector<int64_t>& rows) {
  std::vector<T> out(rows.size() * size_t(row_elems));
  for (size_t k = 0; k < rows.size(); ++k)
    std::copy_n(v.begin() + rows[k] * row_elems, row_elems, out.begin() + int64_t(k) * row_elems);
  return out;
}

// k-th largest score of a row (k >= 1), NaN if k is out of range.
double kth_largest(const float* row, int64_t width, int64_t k) {
  if (k < 1 || k > width) return std::nan("");
  std::vector<float> v(row, row + width);
  std::nth_element(v.begin(), v.begin() + (k - 1), v.end(), std::greater<float>());
  return v[size_t(k - 1)];
}
// Provenance inputs: which aligned rows differ at all, and whether a tensor holds bf16 values.
std::vector<char> float_rows_differ(const std::vector<float>& a, const std::vector<float>& b, int64_t rows,
                                    int64_t w) {
  std::vector<char> d(static_cast<size_t>(rows), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < w; ++c) {
      const float x = a[size_t(r * w + c)], y = b[size_t(r * w + c)];
      if (!(x == y || (std::isnan(x) && std::isnan(y)))) {
        d[size_t(r)] = 1;
        break;
      }
    }
  return d;
}
std::vector<std::set<int32_t>> index_row_sets(const std::vector<int32_t>& v, int64_t rows, int64_t k) {
  std::vector<std::set<int32_t>> s(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < k; ++c)
      if (v[size_t(r * k + c)] >= 0) s[size_t(r)].insert(v[size_t(r * k + c)]);
  return s;
}
bool all_bf16(const std::vector<float>& v) {
  for (float x : v)
    if (std::isfinite(x) && (bits_from_f32(x) & 0xffffu) != 0) return false;
  return true;
}
bool ref1_map(const std::string& numerics) { return numerics.rfind("ref1", 0) == 0; }

}  // namespace

double finite_rms(const float* row, int64_t width) {
  double s = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < width; ++i)
    if (std::isfinite(row[i])) s += double(row[i]) * row[i], ++n;
  return n ? std::sqrt(s / double(n)) : 0;
}

int64_t ulp_distance(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : int64_t(1) << 32;
  auto ord = [](float f) {
    int64_t u = bits_from_f32(f);
    return (u & 0x80000000) ? int64_t(0x80000000) - u : u;  // monotone; -0 and +0 both map to 0
  };
  return std::llabs(ord(a) - ord(b));
}

FloatStats float_stats(const float* a, const float* b, int64_t n) {
  FloatStats s;
  s.n = n;
  double sd = 0, saa = 0, sbb = 0, sab = 0;
  int64_t nf = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float x = a[i], y = b[i];
    if (!std::isfinite(x) || !std::isfinite(y)) {
      bool same = (std::isnan(x) && std::isnan(y)) || x == y;
      if (!same && s.nonfinite_mismatch++ == 0) s.first_nonfinite = i;
      continue;
    }
    double d = double(x) - double(y);
    sd += d * d, saa += double(x) * x, sbb += double(y) * y, sab += double(x) * y;
    ++nf;
    s.max_abs = std::max(s.max_abs, std::fabs(d));
    if (y != 0) s.max_rel = std::max(s.max_rel, std::fabs(d) / std::fabs(double(y)));
    s.ulp_max = std::max(s.ulp_max, ulp_distance(x, y));
  }
  s.rms_ref = nf ? std::sqrt(sbb / double(nf)) : 0;
  s.nmse = sbb > 0 ? sd / sbb : (sd > 0 ? kInf : 0);
  s.cos = (saa > 0 && sbb > 0) ? sab / std::sqrt(saa * sbb) : (saa == sbb ? 1 : 0);
  // Second pass: the per-element normalised error needs rms_ref.
  for (int64_t i = 0; i < n; ++i) {
    const float x = a[i], y = b[i];
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    double d = std::fabs(double(x) - double(y));
    double den = std::fabs(double(y)) + s.rms_ref;
    double e = den > 0 ? d / den : (d > 0 ? kInf : 0);
    if (s.worst < 0 || e > s.max_norm) s.worst = i, s.max_norm = e;
  }
  if (s.nonfinite_mismatch) s.worst = s.first_nonfinite;
  if (s.worst >= 0) {
    s.worst_a = a[s.worst], s.worst_b = b[s.worst];
    s.ulp_worst = ulp_distance(a[s.worst], b[s.worst]);
  }
  return s;
}

namespace {
// Compares index rows of width k; scores (may be null) are the aligned selection-score rows of
// each dump, width w. tol_rel: relative tie tolerance.
// group_flip: per row, 1 where the layer's router kept other groups in the two dumps and that was
// excused as a tie (router_groups.h): the row's whole set then follows from the tie (null: none).
IndexStats index_stats(const int32_t* a, const int32_t* b, int64_t rows, int64_t k, const float* sa,
                       const float* sb, int64_t w, double tol_rel, const std::vector<char>* group_tie) {
  IndexStats s;
  s.rows = rows;
  s.scores_available = sa && sb;
  double jac_sum = 0;
  bool have_bad = false;
  for (int64_t r = 0; r < rows; ++r) {
    std::set<int32_t> A, B;
    for (int64_t c = 0; c < k; ++c) {
      if (a[r * k + c] >= 0) A.insert(a[r * k + c]);
      if (b[r * k + c] >= 0) B.insert(b[r * k + c]);
    }
    std::vector<int32_t> oa, ob, inter;
    std::set_difference(A.begin(), A.end(), B.begin(), B.end(), std::back_inserter(oa));
    std::set_difference(B.begin(), B.end(), A.begin(), A.end(), std::back_inserter(ob));
    std::set_intersection(A.begin(), A.end(), B.begin(), B.end(), std::back_inserter(inter));
    const size_t uni = A.size() + B.size() - inter.size();
    const double jac = uni ? double(inter.size()) / double(uni) : 1.0;
    jac_sum += jac;
    s.jaccard_min = std::min(s.jaccard_min, jac);
    if (oa.empty() && ob.empty()) continue;
    ++s.rows_differ;
    // Tie check: each element of the symmetric difference near the cut-off in either dump.
    double need = kInf;
    if (group_tie && (*group_tie)[size_t(r)]) {
      need = 0;
    } else if (s.scores_available) {
      const float* ra = sa + r * w;
      const float* rb = sb + r * w;
      const double cut_a = kth_largest(ra, w, int64_t(A.size()));
      const double cut_b = kth_largest(rb, w, int64_t(B.size()));
      double scale = std::max(std::isfinite(cut_b) ? std::fabs(cut_b) : 0.0, finite_rms(rb, w));
      need = 0;
      for (auto* diff : {&oa, &ob})
        for (int32_t e : *diff) {
          double best = kInf;
          if (e < w) {
            for (auto [row, cut] : {std::pair{ra, cut_a}, std::pair{rb, cut_b}}) {
              double v = row[e];
              if (std::isnan(v) || std::isnan(cut)) continue;
              double d = v == cut ? 0 : std::fabs(v - cut);
              best = std::min(best, d == 0 ? 0 : (scale > 0 ? d / scale : kInf));
            }
          }
          need = std::max(need, best);
        }
    }
    s.need_tol = std::max(s.need_tol, need);
    const bool excused = need <= tol_rel;
    if (excused) ++s.rows_excused;
    // Report the first row that is not excused, else the first differing one.
    if (s.worst_row < 0 || (!excused && !have_bad)) {
      s.worst_row = r;
      s.only_a = oa;
      s.only_b = ob;
      have_bad = !excused;
    }
  }
  s.jaccard_mean = rows ? jac_sum / double(rows) : 1;
  return s;
}

LogitsStats logits_stats(const float* a, const float* b, int64_t rows, int64_t v, double tie_rel,
                         const LogitsTolerance& tol) {
  LogitsStats s;
  s.rows = rows;
  if (!rows || !v) return s;
  double kl_sum = 0, top5_sum = 0;
  int64_t top1_ok = 0;
  const int64_t k5 = std::min<int64_t>(5, v);
  std::vector<int64_t> ia(v), ib(v);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = a + r * v;
    const float* y = b + r * v;
    // KL(P_b || P_a) with log-softmax in double.
    double mx = -kInf, my = -kInf;
    for (int64_t i = 0; i < v; ++i) mx = std::max(mx, double(x[i])), my = std::max(my, double(y[i]));
    double zx = 0, zy = 0;
    for (int64_t i = 0; i < v; ++i) zx += std::exp(x[i] - mx), zy += std::exp(y[i] - my);
    const double lzx = mx + std::log(zx), lzy = my + std::log(zy);
    double kl = 0;
    for (int64_t i = 0; i < v; ++i) {
      double lpy = y[i] - lzy, lpx = x[i] - lzx;
      double py = std::exp(lpy);
      if (py > 0) kl += py * (lpy - lpx);
    }
    if (!std::isfinite(kl)) kl = kInf;
    kl = std::max(kl, 0.0);
    kl_sum += kl;
    s.kl_max = std::max(s.kl_max, kl);
    // Top-1 (lowest index wins ties) and top-5 sets.
    std::iota(ia.begin(), ia.end(), 0);
    std::iota(ib.begin(), ib.end(), 0);
    auto by = [](const float* p) {
      return [p](int64_t i, int64_t j) { return p[i] > p[j] || (p[i] == p[j] && i < j); };
    };
    std::partial_sort(ia.begin(), ia.begin() + k5, ia.end(), by(x));
    std::partial_sort(ib.begin(), ib.begin() + k5, ib.end(), by(y));
    if (ia[0] == ib[0]) {
      ++top1_ok;
    } else {
      ++s.top1_raw_mismatch;
      double gap = std::fabs(double(y[ia[0]]) - double(y[ib[0]]));
      if (gap == 0 || gap <= tie_rel * finite_rms(y, v)) ++top1_ok, ++s.top1_excused;
    }
    int common = 0;
    for (int64_t i = 0; i < k5; ++i)
      for (int64_t j = 0; j < k5; ++j) common += ia[i] == ib[j];
    top5_sum += double(common) / double(k5);
  }
  s.kl_mean = kl_sum / double(rows);
  s.top1 = double(top1_ok) / double(rows);
  s.top5 = top5_sum / double(rows);
  s.pass = s.kl_mean <= tol.kl_max && s.top1 >= tol.top1_min && s.top5 >= tol.top5_min;
  return s;
}
}  // namespace

VerifyReport verify_dumps(const DumpReader& A, const DumpReader& B, const Profile& profile,
                          const VerifyOptions& opt) {
  VerifyReport rep;
  rep.a = A.path(), rep.b = B.path(), rep.profile = profile.name;
  const auto& ma = A.meta();
  const auto& mb = B.meta();
  // ids must agree; run modes may differ (that is often the point of the comparison).
  if (ma.meta.ids != mb.meta.ids) {
    size_t p = 0;
    while (p < ma.meta.ids.size() && p < mb.meta.ids.size() && ma.meta.ids[p] == mb.meta.ids[p]) ++p;
    fail(A.path() + " vs " + B.path() + ": /meta/ids differ (" + std::to_string(ma.meta.ids.size()) +
         " vs " + std::to_string(mb.meta.ids.size()) + " ids, first difference at position " +
         std::to_string(p) + ")");
  }
  for (auto [key, x, y] : {std::tuple{"attn", &ma.meta.attn, &mb.meta.attn},
                           std::tuple{"mla", &ma.meta.mla, &mb.meta.mla}})
    if (*x != *y) rep.warnings.push_back(std::string("/meta ") + key + " differs: " + *x + " vs " + *y);
  if (ma.meta.prefill != mb.meta.prefill)
    rep.warnings.push_back("/meta prefill differs: " + std::to_string(ma.meta.prefill) + " vs " +
                           std::to_string(mb.meta.prefill));
  // A dump without forward_order is what a killed run leaves (OUT.h5.partial): its rows are a
  // prefix of the run, and comparing a prefix would pass for a whole run.
  for (auto [d, m] : {std::pair{&A, &ma}, std::pair{&B, &mb}})
    if (!m->complete)
      fail(d->path() + ": /meta: attribute 'forward_order' missing: an incomplete dump (the run did not finish)");

  ModelDims dims = ModelDims::from_config(
      mb.meta.config_json.empty() ? ma.meta.config_json : mb.meta.config_json, int64_t(ma.meta.ids.size()));
  if (dims.num_layers == 0)
    for (auto& n : A.tensors())
      if (n.rfind("layers/", 0) == 0) dims.num_layers = std::max(dims.num_layers, tensor_layer(n, 0) + 1);

  std::regex re;
  if (!opt.tensors_regex.empty()) {
    try {
      re = std::regex(opt.tensors_regex);
    } catch (const std::regex_error& e) {
      fail("--tensors '" + opt.tensors_regex + "': invalid regular expression (" + e.what() + ")");
    }
  }
  for (auto& n : A.tensors())
    if (!B.has(n)) rep.warnings.push_back("only in A: " + n);
  for (auto& n : B.tensors())
    if (!A.has(n)) rep.warnings.push_back("only in B: " + n);

  const bool unfiltered = ma.dump_positions.empty() && mb.dump_positions.empty();
  const bool ref1_both = ref1_map(ma.meta.numerics) && ref1_map(mb.meta.numerics);
  Provenance prov(profile, dims, int64_t(ma.meta.ids.size()), ma.meta.attn == "sparse",
                  ref1_map(ma.meta.numerics) == ref1_map(mb.meta.numerics));
  bool counted_failure = false;
  // Group-limited routing (router_groups.h): rows of each MoE layer whose group flip was a tie.
  // From the dump's config_json, i.e. from a file: a value outside [1, 2^20] (1e300 would be UB to
  // convert) counts as no grouping.
  const double groups = dims.values.count("n_group") ? dims.values.at("n_group") : 1;
  const int64_t n_group = groups >= 1 && groups <= double(1 << 20) ? int64_t(groups) : 1;
  std::map<int64_t, std::vector<char>> group_ties;
  for (const auto& name : A.tensors()) {
    if (!B.has(name)) continue;
    if (!opt.tensors_regex.empty() && !std::regex_search(name, re)) continue;
    const auto& ia = A.info(name);
    const auto& ib = B.info(name);
    const std::string where = A.path() + " vs " + B.path() + ": /" + name;
    if (ia.is_index != ib.is_index)
      fail(where + ": element kinds differ (" + ia.logical_dtype + " vs " + ib.logical_dtype + ")");
    if (ia.shape.size() != ib.shape.size() || !std::equal(ia.shape.begin() + 1, ia.shape.end(), ib.shape.begin() + 1) ||
        (unfiltered && ma.complete && mb.complete && ia.shape[0] != ib.shape[0]))
      fail(where + ": shape mismatch " + shape_str(ia.shape) + " vs " + shape_str(ib.shape));
    Alignment al = align_rows(A.positions(), ia.shape[0], B.positions(), ib.shape[0]);
    if (int64_t(al.ra.size()) != std::max(ia.shape[0], ib.shape[0]))
      rep.warnings.push_back(name + ": compared " + std::to_string(al.ra.size()) + " common positions of " +
                             std::to_string(ia.shape[0]) + " / " + std::to_string(ib.shape[0]) + " rows");
    DumpTensor ta = A.read(name), tb = B.read(name);
    const int64_t re_ = ta.row_elems();
    const int64_t rows = int64_t(al.ra.size());

    TensorReport tr;
    tr.name = name;
    tr.is_index = ia.is_index;
    tr.shape = ia.shape;
    tr.shape[0] = rows;
    tr.after_flip = !rep.first_flip.empty();
    bool failed = false;
    if (ia.is_index) {
      auto xa = al.identity ? ta.i : gather(ta.i, re_, al.ra);
      auto xb = al.identity ? tb.i : gather(tb.i, re_, al.rb);
      const TensorRule& rule = profile.rule(name);
      std::string scores = rule.scores.empty() ? "" : name.substr(0, name.size() - tensor_leaf(name).size()) + rule.scores;
      std::vector<float> sa, sb;
      int64_t w = 0;
      if (!scores.empty() && A.has(scores) && B.has(scores) &&
          A.info(scores).shape == B.info(scores).shape && !A.info(scores).is_index) {
        DumpTensor ua = A.read(scores), ub = B.read(scores);
        w = ua.row_elems();
        if (ua.rows() >= ta.rows() && ub.rows() >= tb.rows()) {
          sa = gather(ua.f, w, al.ra);
          sb = gather(ub.f, w, al.rb);
        }
      }
      tr.tol = scores.empty() ? 0 : profile.tie_factor * rel_rms_bound(profile, scores, dims);
      auto ties = group_ties.find(tensor_layer(name, dims.num_layers));
      const bool by_groups = tensor_leaf(name) == "expert_ids" && ties != group_ties.end();
      tr.ix = index_stats(xa.data(), xb.data(), rows, re_, sa.empty() ? nullptr : sa.data(),
                          sb.empty() ? nullptr : sb.data(), w, tr.tol, by_groups ? &ties->second : nullptr);
      tr.min_tol = tr.ix.need_tol;
      {
        auto sa_sets = index_row_sets(xa, rows, re_), sb_sets = index_row_sets(xb, rows, re_);
        std::vector<char> differ(static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) differ[size_t(r)] = sa_sets[size_t(r)] != sb_sets[size_t(r)];
        if (tensor_leaf(name) == "indexer_topk") {
          std::vector<std::vector<int32_t>> sel(ma.meta.ids.size());
          for (int64_t r = 0; r < rows; ++r) {
            std::set<int32_t> u = sa_sets[size_t(r)];
            u.insert(sb_sets[size_t(r)].begin(), sb_sets[size_t(r)].end());
            if (al.pos[size_t(r)] >= 0 && al.pos[size_t(r)] < int64_t(sel.size()))
              sel[size_t(al.pos[size_t(r)])].assign(u.begin(), u.end());
          }
          prov.set_selection(tensor_layer(name, dims.num_layers), std::move(sel));
        }
        tr.prov = prov.add(name, al.pos, differ, re_, false, true);
      }
      if (tr.ix.worst_row >= 0) tr.worst_at = {al.pos[size_t(tr.ix.worst_row)]};
      if (tr.ix.rows_differ == 0) {
        tr.status = "pass";
      } else {
        tr.status = tr.ix.rows_excused == tr.ix.rows_differ ? "tie" : "flip";
        if (rep.first_flip.empty()) rep.first_flip = name, rep.first_flip_excused = tr.status == "tie";
        if (tr.status == "flip" && rep.first_bad_flip.empty()) rep.first_bad_flip = name;
      }
    } else {
      auto xa = al.identity ? std::move(ta.f) : gather(ta.f, re_, al.ra);
      auto xb = al.identity ? std::move(tb.f) : gather(tb.f, re_, al.rb);
      if (tensor_leaf(name) == "router_scores" && n_group >= 2) {
        const double tie = profile.tie_factor * rel_rms_bound(profile, name, dims);
        tr.groups = router_group_flips(xa.data(), xb.data(), rows, re_, n_group, 8 * tie);
        if (tr.groups.rows_differ) {
          mask_to_common_groups(xa, xb, tr.groups, re_, n_group);
          group_ties[tensor_layer(name, dims.num_layers)] = tr.groups.excused;
          const bool all_ties = tr.groups.rows_excused == tr.groups.rows_differ;
          if (rep.first_flip.empty()) rep.first_flip = name, rep.first_flip_excused = all_ties;
          if (!all_ties && rep.first_bad_flip.empty()) rep.first_bad_flip = name;
        }
      }
      tr.f = float_stats(xa.data(), xb.data(), int64_t(xa.size()));
      const bool bf16_values = ref1_both && all_bf16(xa) && all_bf16(xb);
      tr.prov = prov.add(name, al.pos, float_rows_differ(xa, xb, rows, re_), re_, bf16_values, false);
      tr.e = error_stats(xa.data(), xb.data(), int64_t(xa.size()),
                         std::vector<int64_t>(tr.shape.begin() + 1, tr.shape.end()), al.pos, tr.f.rms_ref, bf16_values);
      if (tr.prov.verdict == "systematic" && rep.first_systematic.empty()) rep.first_systematic = name;
      const double beta = rel_rms_bound(profile, name, dims);
      tr.tol = beta;
      tr.min_tol = tr.f.nonfinite_mismatch ? kInf
                                           : std::max(std::sqrt(tr.f.nmse), tr.f.max_norm / std::max(profile.max_factor, 1e-300));
      failed = tr.f.nonfinite_mismatch > 0 || !(tr.f.nmse <= beta * beta) ||
               !(tr.f.max_norm <= profile.max_factor * beta);
      if (tr.f.worst >= 0 && re_ > 0) {
        int64_t flat = tr.f.worst;
        std::vector<int64_t> c(tr.shape.size());
        for (size_t d = tr.shape.size(); d-- > 1;) c[d] = flat % tr.shape[d], flat /= tr.shape[d];
        c[0] = al.pos[size_t(flat)];
        tr.worst_at = c;
      }
      if (name == "logits") {
        rep.has_logits = true;
        rep.logits = logits_stats(xa.data(), xb.data(), rows, re_, profile.tie_factor * beta, profile.logits);
        failed = failed || !rep.logits.pass;
      }
      tr.status = !failed ? "pass" : tr.f.nonfinite_mismatch ? "nan" : "fail";
      if (!failed && tr.groups.rows_differ)
        tr.status = tr.groups.rows_excused == tr.groups.rows_differ ? "tie" : "flip";
      if (failed) {
        if (rep.first_failure.empty()) rep.first_failure = name;
        if (!rep.first_flip.empty() && rep.first_flip != name && rep.first_bad_flip.empty()) tr.status = "diverged";
        else counted_failure = true;
      }
    }
    if (tr.prov.origins > 0 && rep.first_origin.empty())
      rep.first_origin = name, rep.first_origin_pos = tr.prov.first_origin;
    rep.tensors.push_back(std::move(tr));
    if (opt.fail_fast && (counted_failure || !rep.first_bad_flip.empty() || !rep.first_systematic.empty())) {
      rep.warnings.push_back("--fail-fast: stopped after " + name);
      break;
    }
  }
  for (auto& k : dims.missing)
    rep.warnings.push_back("profile: config key '" + k + "' not in config_json; taken as 1");

  const bool fail_v = counted_failure || !rep.first_bad_flip.empty() || !rep.first_systematic.empty();
  rep.verdict = fail_v ? "fail" : "pass";
  std::string s = fail_v ? "FAIL" : "PASS";
  s += " (profile " + profile.name + ", " + std::to_string(rep.tensors.size()) + " tensors)";
  if (!rep.first_failure.empty()) s += "; first failure " + rep.first_failure;
  if (!rep.first_flip.empty())
    s += "; first flip " + rep.first_flip + (rep.first_flip_excused ? " (tie, excused)" : " (not a tie)");
  if (!rep.first_bad_flip.empty() && rep.first_bad_flip != rep.first_flip)
    s += "; first non-tie flip " + rep.first_bad_flip;
  if (!rep.first_systematic.empty()) {
    const ProvenanceStats& ps =
        std::find_if(rep.tensors.begin(), rep.tensors.end(), [&](const TensorReport& t) { return t.name == rep.first_systematic; })->prov;
    s += "; systematic difference at " + rep.first_systematic + " (" + std::to_string(ps.origins) +
         " origin rows, independent flips allow " + std::to_string(ps.allowed) + ")";
  }
  if (!fail_v && !rep.first_failure.empty()) s += "; tensors after the excused flip diverged";
  rep.summary = s;
  return rep;
}

}  // namespace dsv32
