// What the report shows: sections of plots and tables built from the result files (report.h).
// Both renderers (html.cpp, markdown.cpp) only format what is decided here.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "reports/report.h"

namespace dsv32::reports {

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "–";
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}
std::string sci(double v) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : "–";
  char b[48];
  std::snprintf(b, sizeof b, "%.3e", v);
  return b;
}

namespace {

std::string num_or_dash(double v) { return std::isfinite(v) && v >= 0 ? fmt_num(v) : "–"; }
std::string short_commit(const std::string& c) { return c.size() > 10 ? c.substr(0, 8) : c; }

template <class T>
std::vector<const T*> collect(const ReportInput& in, std::vector<T> ResultFile::*member) {
  std::vector<const T*> out;
  for (auto& f : in.files)
    for (auto& x : f.*member) out.push_back(&x);
  return out;
}

// "layers/03/q_rope" -> 3; -1 for embed, final_norm, logits.
int layer_of(const std::string& name) {
  if (name.rfind("layers/", 0) != 0 || name.size() < 9) return -1;
  return std::atoi(name.c_str() + 7);
}

Section accuracy(const ReportInput& in) {
  Section s{"accuracy", "Accuracy by tensor and mode", false, {}};
  auto vs = collect(in, &ResultFile::verify);
  if (vs.empty()) return s;
  s.has_data = true;
  s.items.push_back(Paragraph{"Each mode's activation dump compared with its reference by dsv32 verify. NMSE = "
                              "Σ(a−b)²/Σb² per tensor; lower is better. Index tensors (top-k, expert ids) are "
                              "compared as sets and appear in the tables only. Origins: rows that differ although "
                              "nothing they read differs (where a difference starts); a systematic verdict means "
                              "more origins than independent rounding flips allow."});
  bool any_local = false;
  for (auto* v : vs)
    for (auto& t : v->tensors) any_local |= std::isfinite(t.local_nmse);
  Table sum{"Verdict per mode", {"mode", "verdict", "first failure", "first flip", "first origin", "systematic",
                                 "worst NMSE", "at tensor", "logits KL (nats)", "top-1 agreement"},
            {false, false, false, false, false, false, true, false, true, true}, {}, false};
  for (auto* v : vs) {
    const VerifyTensor* worst = nullptr;
    for (auto& t : v->tensors)
      if (t.has_nmse && std::isfinite(t.nmse) && (!worst || t.nmse > worst->nmse)) worst = &t;
    sum.rows.push_back({v->mode, v->verdict, v->first_failure.empty() ? "–" : v->first_failure,
                        v->first_flip.empty() ? "–" : v->first_flip,
                        v->first_origin.empty() ? "–" : v->first_origin + " @" + std::to_string(v->first_origin_pos),
                        v->first_systematic.empty() ? "–" : v->first_systematic, worst ? sci(worst->nmse) : "–",
                        worst ? worst->name : "–", v->has_logits ? sci(v->kl_mean) : "–",
                        v->has_logits ? fixed(v->top1, 4) : "–"});
  }
  s.items.push_back(sum);

  // Union of tensor names in forward order. Files list different subsets (a dense run has no
  // indexer_* tensors), so a name only a later file has goes right after its predecessor in that
  // file, not at the end: every file's own order is kept and the union stays in forward order.
  std::vector<std::string> names;
  for (auto* v : vs) {
    std::string prev;
    for (auto& t : v->tensors) {
      if (std::find(names.begin(), names.end(), t.name) == names.end()) {
        auto at = prev.empty() ? names.begin() : std::find(names.begin(), names.end(), prev) + 1;
        names.insert(at, t.name);
      }
      prev = t.name;
    }
  }
  std::map<std::string, int> pos;
  for (size_t i = 0; i < names.size(); ++i) pos[names[i]] = int(i);
  LineChart c;
  c.title = "NMSE per tensor, in forward order";
  c.x_label = "tensor (forward order; ticks mark the first tensor of each layer)";
  c.y_label = "NMSE vs reference [unitless]";
  c.direction = "↓ lower is better";
  c.log_y = true;
  int last_layer = -2;
  for (size_t i = 0; i < names.size(); ++i) {
    int l = layer_of(names[i]);
    if (l != last_layer) c.x_ticks.push_back({double(i), l >= 0 ? "L" + std::to_string(l) : names[i]});
    last_layer = l;
  }
  bool zeros = false;
  for (auto* v : vs) {
    Series se{v->mode, {}, {}, {}, {}};
    for (auto& t : v->tensors) {
      if (!t.has_nmse) continue;
      se.x.push_back(pos[t.name]);
      se.y.push_back(t.nmse);
      se.labels.push_back(t.name);
      zeros |= t.nmse == 0;
    }
    c.series.push_back(std::move(se));
    if (any_local) {  // the layer's local error (fed the reference's input), next to the accumulated one
      Series lo{v->mode + " (local)", {}, {}, {}, {}};
      for (auto& t : v->tensors)
        if (std::isfinite(t.local_nmse)) {
          lo.x.push_back(pos[t.name]);
          lo.y.push_back(t.local_nmse);
          lo.labels.push_back(t.name);
          zeros |= t.local_nmse == 0;
        }
      c.series.push_back(std::move(lo));
    }
  }
  if (zeros) c.note = "NMSE = 0 (bit-exact) is drawn on the bottom axis.";
  s.items.push_back(c);

  Table t{"Per tensor (NMSE, cosine similarity, status, origins) — " + std::to_string(names.size()) + " tensors",
          {"#", "tensor"}, {true, false}, {}, true};
  for (auto* v : vs) {
    t.head.insert(t.head.end(), {v->mode + " NMSE", "cos", "status", "origins"});
    t.numeric.insert(t.numeric.end(), {true, true, false, false});
    if (any_local) t.head.push_back("local NMSE"), t.numeric.push_back(true);
  }
  auto origins = [](const VerifyTensor& x) {
    if (x.origins < 0) return std::string("–");
    std::string o = std::to_string(x.origins);
    if (x.first_origin >= 0) o += " @" + std::to_string(x.first_origin);
    if (!x.prov_verdict.empty() && x.prov_verdict != "none") o += " " + x.prov_verdict;
    return o;
  };
  for (size_t i = 0; i < names.size(); ++i) {
    std::vector<std::string> row{std::to_string(i), names[i]};
    for (auto* v : vs) {
      auto it = std::find_if(v->tensors.begin(), v->tensors.end(), [&](auto& x) { return x.name == names[i]; });
      if (it == v->tensors.end()) row.insert(row.end(), {"–", "–", "absent", "–"});
      else if (!it->has_nmse) row.insert(row.end(), {"–", "J " + fixed(it->jaccard_mean, 4), it->status, origins(*it)});
      else row.insert(row.end(), {sci(it->nmse), fixed(it->cos, 6), it->status, origins(*it)});
      if (any_local) row.push_back(it != v->tensors.end() && std::isfinite(it->local_nmse) ? sci(it->local_nmse) : "–");
    }
    t.rows.push_back(std::move(row));
  }
  s.items.push_back(t);
  return s;
}

Section perplexity(const ReportInput& in) {
  Section s{"ppl", "Perplexity and KL divergence by mode", false, {}};
  auto ps = collect(in, &ResultFile::ppl);
  if (ps.empty()) return s;
  s.has_data = true;
  std::set<int64_t> ctxs;
  for (auto* p : ps) ctxs.insert(p->ctx);
  auto label = [&](const PplResult* p) { return ctxs.size() > 1 ? p->mode + " @ ctx " + std::to_string(p->ctx) : p->mode; };
  BarChart ppl{"Perplexity by mode (± standard error)", "perplexity [unitless]", "↓ lower is better", {}, {"ppl"}, {{}}, {{}}, 0, ""};
  BarChart kld{"Mean KL divergence to the dense/naive reference (± standard error)", "KLD [nats per token]",
               "↓ lower is better", {}, {"KLD"}, {{}}, {{}}, 0, ""};
  for (auto* p : ps) {
    ppl.categories.push_back(label(p));
    ppl.values[0].push_back(p->ppl);
    ppl.err[0].push_back(p->ppl_err);
    if (p->has_kl) {
      kld.categories.push_back(label(p));
      kld.values[0].push_back(p->kld_mean);
      kld.err[0].push_back(p->kld_err);
    }
  }
  ppl.dots = true;  // differences of a few percent matter; a bar from zero would hide them
  ppl.note = "Axis does not start at zero.";
  s.items.push_back(ppl);
  if (!kld.categories.empty()) s.items.push_back(kld);
  Table t{"Perplexity per mode", {"mode", "ctx", "chunks", "PPL", "± err", "KLD mean", "± err", "KLD p99",
                                  "same top-1 %", "tokens/s"},
          {false, true, true, true, true, true, true, true, true, true}, {}, false};
  for (auto* p : ps)
    t.rows.push_back({p->mode, std::to_string(p->ctx), std::to_string(p->chunks), fixed(p->ppl, 4), fixed(p->ppl_err, 4),
                      p->has_kl ? sci(p->kld_mean) : "–", p->has_kl ? sci(p->kld_err) : "–",
                      p->has_kl ? sci(p->kld_p99) : "–", p->has_kl ? fixed(p->same_top1_pct, 2) : "–",
                      fixed(p->tokens_per_s, 1)});
  s.items.push_back(t);
  return s;
}

std::string test_family(const std::string& test) { return test.substr(0, test.find('@')); }

Section throughput(const ReportInput& in) {
  Section s{"throughput", "Throughput by mode and context", false, {}};
  auto bs = collect(in, &ResultFile::bench);
  std::vector<const AttentionCost*> ac;
  for (auto& f : in.files)
    for (auto& a : f.attention_cost) ac.push_back(&a);
  if (bs.empty() && ac.empty()) return s;
  s.has_data = true;
  s.items.push_back(Paragraph{"End-to-end tokens per second (llama-bench style): ppN = prompt processing of N tokens, "
                              "tgN = generation of N tokens, @dD = after D tokens already in the KV cache. Bars show "
                              "the median over repetitions, whiskers ± one standard deviation."});
  if (!bs.empty()) {
    std::vector<std::string> modes, tests;
    for (auto* b : bs) {
      if (std::find(modes.begin(), modes.end(), b->mode) == modes.end()) modes.push_back(b->mode);
      if (std::find(tests.begin(), tests.end(), b->test) == tests.end()) tests.push_back(b->test);
    }
    BarChart bar{"Throughput by test and mode", "throughput [tokens/s]", "↑ higher is better", tests, modes,
                 std::vector<std::vector<double>>(modes.size(), std::vector<double>(tests.size(), NAN)),
                 std::vector<std::vector<double>>(modes.size(), std::vector<double>(tests.size(), NAN)), 0, ""};
    for (auto* b : bs) {
      size_t m = std::find(modes.begin(), modes.end(), b->mode) - modes.begin();
      size_t k = std::find(tests.begin(), tests.end(), b->test) - tests.begin();
      bar.values[m][k] = median(b->tokens_per_s);
      bar.err[m][k] = b->stddev;
    }
    s.items.push_back(bar);
    // Throughput over context depth, one chart per test family that was run at several depths.
    std::map<std::string, std::set<int64_t>> depths;
    for (auto* b : bs) depths[test_family(b->test)].insert(b->depth);
    for (auto& [fam, ds] : depths) {
      if (ds.size() < 2) continue;
      LineChart c;
      c.title = fam + " throughput over context depth";
      c.x_label = "context depth [tokens already in the KV cache]";
      c.y_label = "throughput [tokens/s]";
      c.direction = "↑ higher is better";
      for (auto& m : modes) {
        Series se{m, {}, {}, {}, {}};
        std::vector<const BenchResult*> rs;
        for (auto* b : bs)
          if (b->mode == m && test_family(b->test) == fam) rs.push_back(b);
        std::sort(rs.begin(), rs.end(), [](auto* a, auto* b) { return a->depth < b->depth; });
        for (auto* b : rs) {
          se.x.push_back(double(b->depth));
          se.y.push_back(median(b->tokens_per_s));
          se.err.push_back(b->stddev);
          se.labels.push_back(b->test);
        }
        if (!se.x.empty()) c.series.push_back(std::move(se));
      }
      s.items.push_back(c);
    }
  }
  if (!ac.empty()) {
    LineChart c;
    c.title = "Attention cost over context: dense vs sparse (DSA)";
    c.x_label = "context length [tokens] (log scale)";
    c.y_label = "attention time [s]";
    c.direction = "↓ lower is better";
    c.log_x = true;
    Series d{"dense", {}, {}, {}, {}}, sp{"sparse", {}, {}, {}, {}};
    for (auto* a : ac) {
      d.x.push_back(double(a->ctx)), d.y.push_back(a->dense_s);
      sp.x.push_back(double(a->ctx)), sp.y.push_back(a->sparse_s);
    }
    c.series = {d, sp};
    s.items.push_back(c);
  }
  if (!bs.empty()) {
    Table t{"Throughput per test", {"mode", "test", "prompt", "gen", "depth", "reps", "median tok/s", "mean tok/s", "stddev"},
            {false, false, true, true, true, true, true, true, true}, {}, false};
    for (auto* b : bs)
      t.rows.push_back({b->mode, b->test, std::to_string(b->n_prompt), std::to_string(b->n_gen), std::to_string(b->depth),
                        std::to_string(b->tokens_per_s.size()), fixed(median(b->tokens_per_s), 2), fixed(b->mean, 2),
                        fixed(b->stddev, 2)});
    s.items.push_back(t);
  }
  Table kv{"KV-cache bytes per token", {"mode", "bytes/token"}, {false, true}, {}, false};
  for (auto& f : in.files)
    for (auto& [k, v] : f.kv_bytes_per_token) kv.rows.push_back({k, fixed(v, 0)});
  if (!kv.rows.empty()) s.items.push_back(kv);
  return s;
}

Section ops(const ReportInput& in) {
  Section s{"ops", "Per-op fraction of peak", false, {}};
  std::vector<std::pair<const ResultFile*, const OpResult*>> os;
  for (auto& f : in.files)
    for (auto& o : f.ops) os.push_back({&f, &o});
  if (os.empty()) return s;
  s.has_data = true;
  std::string peaks;
  for (auto& f : in.files)
    if (f.kind == "ops")
      peaks += (peaks.empty() ? "" : "; ") + f.path + ": peak " + num_or_dash(f.peak_gflops) + " GFLOP/s, " +
               num_or_dash(f.peak_gbps) + " GB/s";
  s.items.push_back(Paragraph{"Per-op kernels (Google Benchmark), as a percentage of the machine peaks measured in the "
                              "same process (" + peaks + "). An op is usually bound by one of the two; the larger "
                              "bar says which."});
  BarChart c{"Fraction of peak per op", "fraction of peak [%]", "↑ higher is better", {},
             {"% of peak FLOP/s", "% of peak bandwidth"}, {{}, {}}, {}, 100, ""};
  Table t{"Per-op timings", {"benchmark", "reps", "median time", "unit", "GFLOP/s", "GB/s", "% peak FLOP/s", "% peak BW"},
          {false, true, true, false, true, true, true, true}, {}, false};
  for (auto& [f, o] : os) {
    c.categories.push_back(o->name);
    c.values[0].push_back(o->pct_peak_flops >= 0 ? o->pct_peak_flops : NAN);
    c.values[1].push_back(o->pct_peak_bw >= 0 ? o->pct_peak_bw : NAN);
    t.rows.push_back({o->name, std::to_string(o->real_time.size()), fmt_num(median(o->real_time)), o->time_unit,
                      num_or_dash(o->gflops), num_or_dash(o->gbps), num_or_dash(o->pct_peak_flops),
                      num_or_dash(o->pct_peak_bw)});
  }
  s.items.push_back(c);
  s.items.push_back(t);
  return s;
}

Section trends(const ReportInput& in) {
  Section s{"trends", "Trends over commits", false, {}};
  if (!in.with_history) return s;
  s.has_data = !in.trends.empty();
  if (!s.has_data) return s;
  s.items.push_back(Paragraph{"Headline metrics recorded in " + in.history_path +
                              " (dsv32 report --record), one chart per metric, machine and preset; one point per "
                              "recorded run, oldest first."});
  for (auto& c : in.trends) s.items.push_back(c);
  return s;
}

}  // namespace

std::vector<Section> build_sections(const ReportInput& in) {
  std::vector<Section> out{accuracy(in), perplexity(in), dsa_section(in), throughput(in), ops(in)};
  if (in.with_history) out.push_back(trends(in));
  return out;
}

// Kept here so both renderers share the same source listing.
Table sources_table(const ReportInput& in) {
  Table t{"Inputs", {"file", "kind", "commit", "machine", "preset", "device", "time"},
          {false, false, false, false, false, false, false}, {}, false};
  for (auto& f : in.files)
    t.rows.push_back({f.path, f.kind, short_commit(f.context.git_commit), f.context.machine, f.context.preset,
                      f.context.device.empty() ? "–" : f.context.device, f.context.time.empty() ? "–" : f.context.time});
  return t;
}

}  // namespace dsv32::reports
