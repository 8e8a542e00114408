// Regression decisions between two result files (see compare.h).
#include "reports/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "kernels/error.h"
#include "reports/stats.h"
#include "reports/svg.h"

namespace dsv32::reports {
namespace {

// Decides a verdict from evidence + effect size, with the sign that counts as "worse".
std::string decide(bool evidence, double change, bool higher_is_better, double min_effect) {
  if (!evidence || !(std::fabs(change) >= min_effect)) return "unchanged";
  const bool better = higher_is_better ? change > 0 : change < 0;
  return better ? "improved" : "regressed";
}

CompareRow one_sided(const std::string& name, const std::string& unit, bool hib, const char* where) {
  CompareRow r;
  r.name = name, r.unit = unit, r.higher_is_better = hib;
  r.verdict = "insufficient data";
  r.note = std::string("only in ") + where;
  return r;
}

// Rows keyed by name in first-seen order; both sides' keys appear (base order first).
template <class T, class Key, class Fn>
void pair_up(const std::vector<T>& base, const std::vector<T>& next, Key key, Fn on_pair,
             std::vector<CompareRow>& rows, const std::string& unit, bool hib) {
  std::map<std::string, const T*> nm;
  for (auto& x : next) nm.emplace(key(x), &x);
  std::map<std::string, bool> seen;
  for (auto& b : base) {
    std::string k = key(b);
    if (seen[k]) continue;
    seen[k] = true;
    auto it = nm.find(k);
    if (it == nm.end()) rows.push_back(one_sided(k, unit, hib, "base"));
    else on_pair(k, b, *it->second);
  }
  for (auto& n : next)
    if (!seen[key(n)]) seen[key(n)] = true, rows.push_back(one_sided(key(n), unit, hib, "new"));
}

// A point estimate with a standard error on each side (ppl, KLD): lower is better.
CompareRow compare_with_error(const std::string& name, const std::string& unit, double b, double be,
                              double n, double ne, const CompareOptions& opt) {
  CompareRow r;
  r.name = name, r.unit = unit, r.higher_is_better = false;
  r.n_base = r.n_new = 1;
  r.base = b, r.next = n;
  r.change = b != 0 ? (n - b) / std::fabs(b) : NAN;
  const double err = std::sqrt(be * be + ne * ne), diff = n - b;
  if (err > 0) r.p = normal_two_sided_p(diff / err);
  else r.note = "no error given";
  r.verdict = decide(std::fabs(diff) > err, r.change, false, opt.min_effect);
  return r;
}

}  // namespace

bool Comparison::any_regression() const {
  return std::any_of(rows.begin(), rows.end(), [](auto& r) { return r.verdict == "regressed"; });
}

CompareRow compare_samples(const std::string& name, const std::string& unit, bool hib,
                           const std::vector<double>& base, const std::vector<double>& next,
                           const CompareOptions& opt) {
  CompareRow r;
  r.name = name, r.unit = unit, r.higher_is_better = hib;
  r.n_base = int(base.size()), r.n_new = int(next.size());
  if (!base.empty()) r.base = median(base);
  if (!next.empty()) r.next = median(next);
  if (base.empty() || next.empty()) {
    r.verdict = "insufficient data";
    r.note = "no repetitions";
    return r;
  }
  r.change = r.base != 0 ? (r.next - r.base) / std::fabs(r.base) : NAN;
  r.delta = cliffs_delta(base, next);
  r.p = mann_whitney_u(base, next).p;
  if (r.n_base < 2 || r.n_new < 2 || mann_whitney_min_p(r.n_base, r.n_new) >= opt.alpha) {
    r.verdict = "insufficient data";
    char b[96];
    std::snprintf(b, sizeof b, "%d vs %d repetitions cannot reach p < %g", r.n_base, r.n_new, opt.alpha);
    r.note = b;
    return r;
  }
  r.verdict = decide(r.p < opt.alpha, r.change, hib, opt.min_effect);
  return r;
}

Comparison compare_results(const ResultFile& base, const ResultFile& next, const CompareOptions& opt) {
  if (base.kind != next.kind)
    fail(next.path + ": kind '" + next.kind + "' differs from " + base.path + " ('" + base.kind + "')");
  Comparison c;
  c.kind = base.kind, c.base_path = base.path, c.new_path = next.path, c.opt = opt;
  if (c.kind == "bench") {
    auto key = [](const BenchResult& b) { return b.mode + " " + b.test; };
    pair_up(base.bench, next.bench, key, [&](const std::string& k, const BenchResult& a, const BenchResult& b) {
      c.rows.push_back(compare_samples(k, "tokens/s", true, a.tokens_per_s, b.tokens_per_s, opt));
    }, c.rows, "tokens/s", true);
  } else if (c.kind == "ops") {
    auto key = [](const OpResult& o) { return o.name; };
    pair_up(base.ops, next.ops, key, [&](const std::string& k, const OpResult& a, const OpResult& b) {
      if (a.time_unit != b.time_unit)
        fail(next.path + ": benchmark '" + k + "': time_unit " + b.time_unit + " differs from base " + a.time_unit);
      c.rows.push_back(compare_samples(k, a.time_unit, false, a.real_time, b.real_time, opt));
    }, c.rows, "time", false);
  } else if (c.kind == "ppl") {
    auto key = [](const PplResult& p) { return p.mode + " ctx " + std::to_string(p.ctx); };
    pair_up(base.ppl, next.ppl, key, [&](const std::string& k, const PplResult& a, const PplResult& b) {
      c.rows.push_back(compare_with_error(k + " ppl", "ppl", a.ppl, a.ppl_err, b.ppl, b.ppl_err, opt));
      if (a.has_kl && b.has_kl)
        c.rows.push_back(compare_with_error(k + " kld", "nats", a.kld_mean, a.kld_err, b.kld_mean, b.kld_err, opt));
    }, c.rows, "ppl", false);
  } else {
    fail(base.path + ": kind '" + c.kind + "' cannot be compared (bench, ops or ppl); use dsv32 verify for dumps");
  }
  return c;
}

std::string comparison_text(const Comparison& c) {
  size_t w = 4;
  for (auto& r : c.rows) w = std::max(w, r.name.size());
  w = std::min<size_t>(w, 60);
  std::string out;
  char b[512];
  std::snprintf(b, sizeof b, "%s: %s -> %s (alpha %g, min effect %.1f%%)\n", c.kind.c_str(), c.base_path.c_str(),
                c.new_path.c_str(), c.opt.alpha, 100 * c.opt.min_effect);
  out += b;
  std::snprintf(b, sizeof b, "%-*s %12s %12s %9s %9s  %-10s %s\n", int(w), "name", "base", "new", "change", "p",
                "unit", "verdict");
  out += b;
  int counts[4] = {0, 0, 0, 0};
  for (auto& r : c.rows) {
    char ch[32], p[32];
    if (std::isfinite(r.change)) std::snprintf(ch, sizeof ch, "%+.2f%%", 100 * r.change);
    else std::snprintf(ch, sizeof ch, "-");
    if (std::isfinite(r.p)) std::snprintf(p, sizeof p, "%.4f", r.p);
    else std::snprintf(p, sizeof p, "-");
    std::string unit = r.unit + (r.higher_is_better ? " ↑" : " ↓");
    std::snprintf(b, sizeof b, "%-*s %12s %12s %9s %9s  %-12s %s%s%s\n", int(w), r.name.substr(0, w).c_str(),
                  fmt_num(r.base).c_str(), fmt_num(r.next).c_str(), ch, p, unit.c_str(), r.verdict.c_str(),
                  r.note.empty() ? "" : "  (", r.note.empty() ? "" : (r.note + ")").c_str());
    out += b;
    counts[r.verdict == "regressed" ? 0 : r.verdict == "improved" ? 1 : r.verdict == "unchanged" ? 2 : 3]++;
  }
  std::snprintf(b, sizeof b, "%d regressed, %d improved, %d unchanged, %d insufficient data -> %s\n", counts[0],
                counts[1], counts[2], counts[3], counts[0] ? "REGRESSION" : "ok");
  out += b;
  return out;
}

nlohmann::json comparison_json(const Comparison& c) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j{{"schema_version", 1}, {"kind", "compare"}, {"compared_kind", c.kind}, {"base", c.base_path},
                   {"new", c.new_path}, {"alpha", c.opt.alpha}, {"min_effect", c.opt.min_effect},
                   {"regression", c.any_regression()}};
  auto& rows = j["rows"] = nlohmann::json::array();
  for (auto& r : c.rows)
    rows.push_back({{"name", r.name}, {"unit", r.unit},
                    {"direction", r.higher_is_better ? "higher_is_better" : "lower_is_better"},
                    {"n_base", r.n_base}, {"n_new", r.n_new}, {"base", num(r.base)}, {"new", num(r.next)},
                    {"change", num(r.change)}, {"p", num(r.p)}, {"cliffs_delta", num(r.delta)},
                    {"verdict", r.verdict}, {"note", r.note}});
  return j;
}

}  // namespace dsv32::reports
