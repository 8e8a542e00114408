// Printed table and JSON of a VerifyReport (compare.h).
// GCC 12 reports false -Wrestrict positives for `"literal" + std::string` (GCC bug 105329).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include <cmath>
#include <cstdlib>
#include <string>

#include "verify/compare.h"

namespace dsv32 {

namespace {
std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
std::string sci(double v) { return std::isinf(v) ? "inf" : fmt("%.2e", v); }
std::string join(const std::vector<int64_t>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += sep;
    s += std::to_string(v[i]);
  }
  return s;
}
template <class T>
std::string set_str(const std::vector<T>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size() && i < 8; ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  if (v.size() > 8) s += ",...";
  return s + "}";
}
std::string status_text(const TensorReport& t) {
  if (t.status == "pass") return "ok";
  if (t.status == "tie") return "tie (excused)";
  if (t.status == "flip") return "FLIP";
  if (t.status == "diverged") return "diverged (after tie)";
  if (t.status == "nan") return "FAIL nan/inf";
  return "FAIL";
}
// " [origins 3@17 flip]" after a tensor's line when some row differs (verify/provenance.h).
std::string origins_text(const TensorReport& t) {
  const ProvenanceStats& p = t.prov;
  // `untested` (fp32 storage: every row is expected to differ) carries no information: left out.
  if (!p.computed || p.rows_differ == 0 || p.verdict == "untested") return "";
  std::string s = " [origins " + std::to_string(p.origins);
  if (p.first_origin >= 0) s += "@" + std::to_string(p.first_origin);
  s += " of " + std::to_string(p.rows_differ) + " rows";
  if (!p.verdict.empty()) s += ", " + (p.verdict == "systematic" ? std::string("SYSTEMATIC") : p.verdict);
  if (p.verdict == "systematic" || p.verdict == "flip") s += " (flips allow " + std::to_string(p.allowed) + ")";
  return s + "]";
}
nlohmann::json prov_json(const ProvenanceStats& p) {
  return {{"rows_differ", p.rows_differ}, {"origins", p.origins}, {"propagated", p.propagated},
          {"unresolved", p.unresolved}, {"candidates", p.candidates}, {"first_origin", p.first_origin},
          {"storage", p.storage}, {"p_flip_per_point", p.p_point}, {"expected_origins", p.expected},
          {"allowed_origins", p.allowed}, {"verdict", p.verdict}};
}
int64_t layer_number(const std::string& name) {
  if (name.rfind("layers/", 0) != 0) return -1;
  return std::atoll(name.c_str() + 7);
}
// {layer, position, head, channel} for [n, H, d] tensors, {layer, position, channel} for [n, d].
nlohmann::json coords_json(const std::string& name, const std::vector<int64_t>& idx) {
  nlohmann::json c{{"layer", layer_number(name)}, {"position", idx.empty() ? -1 : idx[0]}};
  if (idx.size() == 3) c["head"] = idx[1], c["channel"] = idx[2];
  else if (idx.size() == 2) c["channel"] = idx[1];
  else if (idx.size() > 3) c["index"] = std::vector<int64_t>(idx.begin() + 1, idx.end());
  return c;
}
std::string hist_label(int64_t bound, int64_t prev) {
  if (bound < 0) return ">" + std::to_string(prev);
  if (bound <= 2) return std::to_string(bound);
  return "<=" + std::to_string(bound);
}
nlohmann::json num(double v);
nlohmann::json stats_json(const TensorReport& t) {
  const ErrorStats& e = t.e;
  auto q = [](const double* v) {
    return nlohmann::json{{"p50", num(v[0])}, {"p90", num(v[1])}, {"p99", num(v[2])}, {"p999", num(v[3])}, {"max", num(v[4])}};
  };
  nlohmann::json hist = nlohmann::json::array();
  for (size_t k = 0; k < e.ulp_hist.size(); ++k) {
    const int64_t prev = k ? e.ulp_hist[k - 1].first : 0;
    hist.push_back({{"ulp", hist_label(e.ulp_hist[k].first, prev)}, {"count", e.ulp_hist[k].second}});
  }
  nlohmann::json worst = nlohmann::json::array();
  for (auto& w : e.worst)
    worst.push_back({{"at", coords_json(t.name, w.index)}, {"a", num(w.a)}, {"b", num(w.b)}, {"abs", num(w.abs)},
                     {"rel", num(w.rel)}, {"norm", num(w.norm)}, {"ulp", w.ulp}});
  return {{"n", e.n}, {"abs_error", q(e.abs_q)}, {"rel_error", q(e.rel_q)}, {"ulp_dtype", e.ulp_dtype},
          {"ulp_hist", hist}, {"nonfinite_mismatch", e.nonfinite_mismatch}, {"worst", worst}};
}
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"); }
}  // namespace

void print_report(std::FILE* out, const VerifyReport& r) {
  std::fprintf(out, "A: %s\nB: %s (reference)\nprofile: %s\n\n", r.a.c_str(), r.b.c_str(), r.profile.c_str());
  size_t w = 6;
  for (auto& t : r.tensors) w = std::max(w, t.name.size());
  std::fprintf(out, "%-*s  %-16s %-9s %-9s %-9s %-10s %-8s %-18s %-9s %-9s %s\n", int(w), "tensor", "shape",
               "max_abs", "max_rel", "nmse", "cos", "ulp", "worst@", "min_tol", "tol", "status");
  for (auto& t : r.tensors) {
    std::string shape = "[" + join(t.shape, ",") + "]";
    if (t.is_index) {
      auto& x = t.ix;
      std::string detail = "jaccard mean " + fmt("%.4f", x.jaccard_mean) + " min " + fmt("%.4f", x.jaccard_min) + ", " +
                           std::to_string(x.rows_differ) + "/" + std::to_string(x.rows) + " rows differ (" +
                           std::to_string(x.rows_excused) + " ties)";
      if (x.worst_row >= 0)
        detail += " @pos " + join(t.worst_at, ",") + ": A-B " + set_str(x.only_a) + " B-A " + set_str(x.only_b);
      if (x.rows_differ && !x.scores_available) detail += " [no scores: ties not judged]";
      std::fprintf(out, "%-*s  %-16s %-86s %-9s %-9s %s%s\n", int(w), t.name.c_str(), shape.c_str(), detail.c_str(),
                   sci(t.min_tol).c_str(), sci(t.tol).c_str(), status_text(t).c_str(), origins_text(t).c_str());
    } else {
      auto& f = t.f;
      std::string ulp = f.ulp_worst >= (int64_t(1) << 32) ? "nan" : std::to_string(f.ulp_worst);
      std::fprintf(out, "%-*s  %-16s %-9s %-9s %-9s %-10s %-8s %-18s %-9s %-9s %s%s\n", int(w), t.name.c_str(),
                   shape.c_str(), sci(f.max_abs).c_str(), sci(f.max_rel).c_str(), sci(f.nmse).c_str(),
                   fmt("%.7f", f.cos).c_str(), ulp.c_str(),
                   f.max_abs > 0 || f.nonfinite_mismatch ? join(t.worst_at, ",").c_str() : "-", sci(t.min_tol).c_str(),
                   sci(t.tol).c_str(), status_text(t).c_str(), origins_text(t).c_str());
      if (t.groups.rows_differ) {
        const auto& g = t.groups;
        std::fprintf(out, "%*s  router groups: %lld/%lld rows keep other groups (%lld ties, need %s of band %s)", int(w), "",
                     (long long)g.rows_differ, (long long)g.rows, (long long)g.rows_excused, sci(g.need_tol).c_str(),
                     sci(g.tie_rel).c_str());
        if (g.worst_row >= 0)
          std::fprintf(out, ", first: row %lld groups A-B %s B-A %s", (long long)g.worst_row, set_str(g.only_a).c_str(),
                       set_str(g.only_b).c_str());
        std::fprintf(out, "; values compared on the groups both kept\n");
      }
      if (t.status != "pass" && f.worst >= 0)
        std::fprintf(out, "%*s  worst @[%s]: A %.9g B %.9g (|a-b|/(|b|+rms) %.3g, ulp %lld)%s\n", int(w), "",
                     join(t.worst_at, ",").c_str(), f.worst_a, f.worst_b, f.max_norm, (long long)f.ulp_worst,
                     f.nonfinite_mismatch ? (" " + std::to_string(f.nonfinite_mismatch) + " nan/inf mismatches").c_str() : "");
      if (t.status != "pass" && t.e.computed)
        std::fprintf(out, "%*s  |a-b| p50 %s p99 %s p99.9 %s; rel p50 %s p99 %s (verify --stats: ULP histogram, worst elements)\n",
                     int(w), "", sci(t.e.abs_q[0]).c_str(), sci(t.e.abs_q[2]).c_str(), sci(t.e.abs_q[3]).c_str(),
                     sci(t.e.rel_q[0]).c_str(), sci(t.e.rel_q[2]).c_str());
    }
  }
  if (r.has_logits) {
    auto& l = r.logits;
    std::fprintf(out, "\nlogits: KL mean %.3e max %.3e, top-1 %.4f (%lld mismatches, %lld near-ties excused), top-5 overlap %.4f -> %s\n",
                 l.kl_mean, l.kl_max, l.top1, (long long)l.top1_raw_mismatch, (long long)l.top1_excused, l.top5,
                 l.pass ? "ok" : "FAIL");
  }
  for (auto& wv : r.warnings) std::fprintf(out, "warning: %s\n", wv.c_str());
  std::fprintf(out, "\nfirst failure: %s\nfirst flip: %s%s\n", r.first_failure.empty() ? "-" : r.first_failure.c_str(),
               r.first_flip.empty() ? "-" : r.first_flip.c_str(),
               r.first_flip.empty() ? "" : r.first_flip_excused ? " (tie, excused)" : " (not a tie)");
  if (!r.first_origin.empty())
    std::fprintf(out, "first origin: %s @%lld%s\n", r.first_origin.c_str(), (long long)r.first_origin_pos,
                 r.first_systematic.empty() ? "" : ("; systematic: " + r.first_systematic).c_str());
  std::fprintf(out, "%s\n", r.summary.c_str());
}

void print_stats(std::FILE* out, const VerifyReport& r) {
  std::fprintf(out, "\nerror statistics (quantiles p50/p90/p99/p99.9/max; ULP in the storage dtype):\n");
  for (auto& t : r.tensors) {
    const ErrorStats& e = t.e;
    if (!e.computed || (e.abs_q[4] == 0 && e.nonfinite_mismatch == 0)) continue;
    std::fprintf(out, "%s\n  abs %s %s %s %s %s\n  rel %s %s %s %s %s\n  ulp(%s)", t.name.c_str(),
                 sci(e.abs_q[0]).c_str(), sci(e.abs_q[1]).c_str(), sci(e.abs_q[2]).c_str(), sci(e.abs_q[3]).c_str(),
                 sci(e.abs_q[4]).c_str(), sci(e.rel_q[0]).c_str(), sci(e.rel_q[1]).c_str(), sci(e.rel_q[2]).c_str(),
                 sci(e.rel_q[3]).c_str(), sci(e.rel_q[4]).c_str(), e.ulp_dtype.c_str());
    for (size_t k = 0; k < e.ulp_hist.size(); ++k)
      if (e.ulp_hist[k].second)
        std::fprintf(out, " %s:%lld", hist_label(e.ulp_hist[k].first, k ? e.ulp_hist[k - 1].first : 0).c_str(),
                     (long long)e.ulp_hist[k].second);
    if (e.nonfinite_mismatch) std::fprintf(out, " nonfinite:%lld", (long long)e.nonfinite_mismatch);
    std::fprintf(out, "\n");
    for (auto& w : e.worst) {
      std::string at = "layer " + std::to_string(layer_number(t.name)) + " pos " + std::to_string(w.index[0]);
      if (w.index.size() == 3) at += " head " + std::to_string(w.index[1]) + " ch " + std::to_string(w.index[2]);
      else if (w.index.size() == 2) at += " ch " + std::to_string(w.index[1]);
      std::fprintf(out, "  worst %-34s A %.9g B %.9g abs %.3g rel %.3g ulp %lld\n", at.c_str(), w.a, w.b, w.abs, w.rel,
                   (long long)w.ulp);
    }
  }
}

nlohmann::json report_json(const VerifyReport& r) {
  nlohmann::json j;
  j["verdict"] = r.verdict;
  j["summary"] = r.summary;
  j["a"] = r.a;
  j["b"] = r.b;
  j["profile"] = r.profile;
  j["first_failure"] = r.first_failure;
  j["first_flip"] = r.first_flip;
  j["first_flip_excused"] = r.first_flip_excused;
  j["first_bad_flip"] = r.first_bad_flip;
  j["warnings"] = r.warnings;
  j["first_origin"] = r.first_origin;
  j["first_origin_pos"] = r.first_origin_pos;
  j["first_systematic"] = r.first_systematic;
  auto& ts = j["tensors"] = nlohmann::json::array();
  for (auto& t : r.tensors) {
    nlohmann::json e{{"name", t.name}, {"shape", t.shape}, {"kind", t.is_index ? "index" : "float"},
                     {"status", t.status}, {"after_flip", t.after_flip}, {"tol", num(t.tol)},
                     {"min_tol", num(t.min_tol)}, {"worst_at", t.worst_at}};
    if (t.prov.computed) e["provenance"] = prov_json(t.prov);
    if (t.e.computed) e["stats"] = stats_json(t);
    if (t.is_index) {
      auto& x = t.ix;
      e["rows"] = x.rows;
      e["rows_differ"] = x.rows_differ;
      e["rows_excused"] = x.rows_excused;
      e["jaccard_mean"] = x.jaccard_mean;
      e["jaccard_min"] = x.jaccard_min;
      e["scores_available"] = x.scores_available;
      e["only_a"] = x.only_a;
      e["only_b"] = x.only_b;
    } else {
      auto& f = t.f;
      e["max_abs"] = num(f.max_abs);
      e["max_rel"] = num(f.max_rel);
      e["nmse"] = num(f.nmse);
      e["cos"] = num(f.cos);
      e["rms_ref"] = num(f.rms_ref);
      e["max_norm"] = num(f.max_norm);
      e["ulp"] = f.ulp_worst;
      e["ulp_max"] = f.ulp_max;
      e["worst_a"] = num(f.worst_a);
      e["worst_b"] = num(f.worst_b);
      e["nonfinite_mismatch"] = f.nonfinite_mismatch;
      if (t.groups.rows_differ) {
        const auto& g = t.groups;
        e["router_groups"] = {{"rows_differ", g.rows_differ}, {"rows_excused", g.rows_excused},
                              {"need_tol", num(g.need_tol)}, {"tie_rel", num(g.tie_rel)}, {"worst_row", g.worst_row},
                              {"only_a", g.only_a}, {"only_b", g.only_b}};
      }
    }
    ts.push_back(std::move(e));
  }
  if (r.has_logits) {
    auto& l = r.logits;
    j["logits"] = {{"kl_mean", num(l.kl_mean)}, {"kl_max", num(l.kl_max)}, {"top1", l.top1},
                   {"top1_mismatch", l.top1_raw_mismatch}, {"top1_excused", l.top1_excused},
                   {"top5", l.top5}, {"pass", l.pass}};
  }
  return j;
}

}  // namespace dsv32
