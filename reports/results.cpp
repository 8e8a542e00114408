// Result-file loading with one-line errors that name the file and the JSON key (see results.h).
#include "reports/results.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "kernels/error.h"

namespace dsv32::reports {
namespace {

using nlohmann::json;

// Walks a JSON value remembering the key path, so every error says where it is: "results[2].ppl".
struct Node {
  const json& j;
  std::string file, key;  // key: path from the root, "" for the root

  [[noreturn]] void bad(const std::string& what) const {
    fail(file + ": key '" + (key.empty() ? "<root>" : key) + "': " + what);
  }
  std::string sub(const std::string& k) const { return key.empty() ? k : key + "." + k; }
  bool has(const char* k) const { return j.is_object() && j.contains(k) && !j.at(k).is_null(); }
  Node at(const char* k) const {
    if (!j.is_object()) bad("expected an object");
    if (!j.contains(k)) Node{j, file, sub(k)}.bad("missing");
    return {j.at(k), file, sub(k)};
  }
  Node at(size_t i) const { return {j.at(i), file, key + "[" + std::to_string(i) + "]"}; }
  size_t size() const {
    if (!j.is_array()) bad("expected an array");
    return j.size();
  }
  // verify writes non-finite metrics as the strings "nan", "inf", "-inf"; Google Benchmark's
  // AddCustomContext values (peak_gflops, ...) are numbers written as strings; bare NaN became null.
  double num() const {
    if (j.is_number()) return j.get<double>();
    if (j.is_null()) return NAN;
    if (j.is_string()) {
      const auto& s = j.get_ref<const std::string&>();
      if (s == "nan") return NAN;
      if (s == "inf") return INFINITY;
      if (s == "-inf") return -INFINITY;
      char* end = nullptr;
      double v = std::strtod(s.c_str(), &end);
      if (!s.empty() && *end == 0) return v;
    }
    bad("expected a number");
  }
  int64_t integer() const {
    if (!j.is_number()) bad("expected an integer");
    return j.get<int64_t>();
  }
  std::string str() const {
    if (!j.is_string()) bad("expected a string");
    return j.get<std::string>();
  }
  std::vector<double> nums() const {
    std::vector<double> v;
    for (size_t i = 0, n = size(); i < n; ++i) v.push_back(at(i).num());
    return v;
  }
  // Optional members: absent or null gives the default; present with a wrong type is an error.
  double num_or(const char* k, double d) const { return has(k) ? at(k).num() : d; }
  int64_t int_or(const char* k, int64_t d) const { return has(k) ? at(k).integer() : d; }
  std::string str_or(const char* k, std::string d) const { return has(k) ? at(k).str() : d; }
};

RunContext parse_context(const Node& root) {
  RunContext c;
  if (!root.has("context")) return c;
  Node n = root.at("context");
  if (!n.j.is_object()) n.bad("expected an object");
  c.git_commit = n.str_or("git_commit", c.git_commit);
  c.time = n.str_or("time", "");
  c.machine = n.str_or("machine", c.machine);
  c.producer = n.str_or("producer", "");
  c.version = n.str_or("version", "");
  c.model = n.str_or("model", "");
  c.preset = n.str_or("preset", c.preset);
  c.device = n.str_or("device", "");
  return c;
}

std::string node_mode(const Node& n, const std::string& fallback) {
  if (n.has("attn") || n.has("mla")) return mode_label(n.str_or("attn", "?"), n.str_or("mla", "?"));
  return fallback;
}

std::string stem(const std::string& path) {
  std::string b = path.substr(path.find_last_of('/') + 1);
  if (auto d = b.rfind('.'); d != std::string::npos && d > 0) b = b.substr(0, d);
  return b;
}

void parse_verify(const Node& root, ResultFile& r) {
  VerifyResult v;
  // verify JSON names no mode itself; the envelope (or the candidate dump's name) does.
  std::string fallback = root.has("a") ? stem(root.at("a").str()) : stem(r.path);
  v.mode = root.has("context") && root.at("context").j.is_object()
               ? node_mode(root.at("context"), node_mode(root, fallback))
               : node_mode(root, fallback);
  v.verdict = root.at("verdict").str();
  v.summary = root.str_or("summary", "");
  v.first_failure = root.str_or("first_failure", "");
  v.first_flip = root.str_or("first_flip", "");
  v.first_origin = root.str_or("first_origin", "");
  v.first_origin_pos = root.int_or("first_origin_pos", -1);
  v.first_systematic = root.str_or("first_systematic", "");
  Node ts = root.at("tensors");
  for (size_t i = 0, n = ts.size(); i < n; ++i) {
    Node t = ts.at(i);
    VerifyTensor x;
    x.name = t.at("name").str();
    x.kind = t.str_or("kind", "float");
    x.status = t.str_or("status", "");
    if (x.kind == "float") {
      x.nmse = t.at("nmse").num();
      x.cos = t.num_or("cos", NAN);
      x.min_tol = t.num_or("min_tol", NAN);
      x.has_nmse = true;
    } else {
      x.jaccard_mean = t.num_or("jaccard_mean", NAN);
    }
    if (t.has("provenance")) {
      Node pv = t.at("provenance");
      x.origins = pv.int_or("origins", -1);
      x.first_origin = pv.int_or("first_origin", -1);
      x.prov_verdict = pv.str_or("verdict", "");
    }
    x.local_nmse = t.num_or("local_nmse", NAN);
    v.tensors.push_back(std::move(x));
  }
  if (root.has("logits")) {
    Node l = root.at("logits");
    v.has_logits = true;
    v.kl_mean = l.num_or("kl_mean", NAN);
    v.top1 = l.num_or("top1", NAN);
  }
  r.verify.push_back(std::move(v));
}

PplResult parse_ppl_mode(const Node& n, const Node& root, const std::string& fallback) {
  PplResult p;
  p.mode = n.has("label") ? n.at("label").str() : node_mode(n, fallback);
  p.tagged = p.mode.find(':') != std::string::npos;
  p.attn = n.str_or("attn", "");
  p.mla = n.str_or("mla", "");
  p.numerics = n.str_or("numerics", root.has("context") ? root.at("context").str_or("numerics", "exact") : "exact");
  p.indexer = n.str_or("indexer", "checkpoint");
  p.index_topk = n.int_or("index_topk", 0);
  p.text = root.str_or("text", "");
  if (root.has("unigram")) {
    Node u = root.at("unigram");
    p.unigram_ppl = u.at("ppl").num();
    p.unigram_err = u.num_or("ppl_err", NAN);
    p.unigram_train_tokens = u.int_or("train_tokens", 0);
  }
  p.ctx = n.int_or("ctx", root.int_or("ctx", 0));
  p.chunks = n.int_or("chunks", root.int_or("chunks", 0));
  p.tokens_scored = n.int_or("tokens_scored", root.int_or("tokens_scored", 0));
  p.ppl = n.at("ppl").num();
  p.ppl_err = n.num_or("ppl_err", 0);
  p.tokens_per_s = n.num_or("tokens_per_s", NAN);
  if (n.has("kl")) {
    Node k = n.at("kl");
    p.has_kl = true;
    p.kld_mean = k.at("kld_mean").num();
    p.kld_err = k.num_or("kld_err", 0);
    p.kld_p99 = k.num_or("kld_p99", NAN);
    p.same_top1_pct = k.num_or("same_top1_pct", NAN);
    p.kl_base = k.str_or("base", "");
  }
  return p;
}

void parse_ppl(const Node& root, ResultFile& r) {
  if (root.has("modes")) {
    Node ms = root.at("modes");
    for (size_t i = 0, n = ms.size(); i < n; ++i)
      r.ppl.push_back(parse_ppl_mode(ms.at(i), root, "mode" + std::to_string(i)));
  } else {
    r.ppl.push_back(parse_ppl_mode(root, root, stem(r.path)));
  }
}

void parse_recall(const Node& root, ResultFile& r) {
  RecallResult x;
  x.ctx = root.at("ctx").integer();
  x.chunks = root.int_or("chunks", 0);
  x.queries = root.int_or("queries_per_layer", 0);
  x.index_topk = root.int_or("index_topk", 0);
  Node ks = root.at("topk");
  for (size_t i = 0, n = ks.size(); i < n; ++i) x.topk.push_back(ks.at(i).integer());
  Node ls = root.at("layers");
  for (size_t i = 0, n = ls.size(); i < n; ++i) {
    Node rv = ls.at(i).at("recall");
    if (rv.size() != x.topk.size()) rv.bad("expected " + std::to_string(x.topk.size()) + " values (one per topk)");
    x.layers.push_back(rv.nums());
  }
  r.recall.push_back(std::move(x));
}

void parse_bench(const Node& root, ResultFile& r) {
  Node rs = root.at("results");
  for (size_t i = 0, n = rs.size(); i < n; ++i) {
    Node e = rs.at(i);
    BenchResult b;
    b.mode = node_mode(e, "default");
    b.test = e.at("test").str();
    b.n_prompt = e.int_or("n_prompt", 0);
    b.n_gen = e.int_or("n_gen", 0);
    b.depth = e.int_or("depth", 0);
    b.tokens_per_s = e.at("tokens_per_s").nums();
    if (b.tokens_per_s.empty()) e.at("tokens_per_s").bad("expected at least one repetition");
    double m = 0;
    for (double x : b.tokens_per_s) m += x;
    m /= double(b.tokens_per_s.size());
    b.mean = e.num_or("mean", m);
    b.stddev = e.num_or("stddev", 0);
    r.bench.push_back(std::move(b));
  }
  if (root.has("kv_bytes_per_token")) {
    Node kv = root.at("kv_bytes_per_token");
    if (!kv.j.is_object()) kv.bad("expected an object");
    for (auto& [k, _] : kv.j.items()) r.kv_bytes_per_token.push_back({k, kv.at(k.c_str()).num()});
  }
  if (root.has("attention_cost")) {
    Node ac = root.at("attention_cost");
    for (size_t i = 0, n = ac.size(); i < n; ++i) {
      Node e = ac.at(i);
      r.attention_cost.push_back({e.at("ctx").integer(), e.at("dense_s").num(), e.at("sparse_s").num()});
    }
  }
}

// Google Benchmark: repetitions appear as "iteration" entries sharing a run_name; aggregates
// (mean/median/stddev/cv) are skipped because the repetitions themselves are what the tests need.
void parse_ops(const Node& gb, ResultFile& r) {
  Node ctx = gb.has("context") ? gb.at("context") : gb;
  r.peak_gflops = ctx.num_or("peak_gflops", -1);
  r.peak_gbps = ctx.num_or("peak_gbps", -1);
  Node bs = gb.at("benchmarks");
  std::map<std::string, size_t> index;
  std::vector<std::array<double, 4>> sums;  // pct_flops, pct_bw, gflops, gbps
  std::vector<std::array<int, 4>> counts;
  for (size_t i = 0, n = bs.size(); i < n; ++i) {
    Node e = bs.at(i);
    if (e.str_or("run_type", "iteration") != "iteration") continue;
    if (e.has("error_occurred") && e.at("error_occurred").j.is_boolean() && e.j.at("error_occurred").get<bool>())
      continue;
    std::string name = e.has("run_name") ? e.at("run_name").str() : e.at("name").str();
    auto [it, fresh] = index.emplace(name, r.ops.size());
    if (fresh) {
      r.ops.push_back({name, e.str_or("time_unit", "ns"), {}});
      sums.push_back({0, 0, 0, 0});
      counts.push_back({0, 0, 0, 0});
    }
    OpResult& o = r.ops[it->second];
    o.real_time.push_back(e.at("real_time").num());
    const char* keys[4] = {"pct_peak_flops", "pct_peak_bw", "GFLOPS", "GBps"};
    for (int k = 0; k < 4; ++k)
      if (e.has(keys[k])) sums[it->second][k] += e.at(keys[k]).num(), counts[it->second][k]++;
  }
  for (size_t i = 0; i < r.ops.size(); ++i) {
    double* out[4] = {&r.ops[i].pct_peak_flops, &r.ops[i].pct_peak_bw, &r.ops[i].gflops, &r.ops[i].gbps};
    for (int k = 0; k < 4; ++k)
      if (counts[i][k]) *out[k] = sums[i][k] / counts[i][k];
  }
}

}  // namespace

std::string mode_label(const std::string& attn, const std::string& mla) { return attn + "/" + mla; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

ResultFile parse_result(const json& j, const std::string& path) {
  Node root{j, path, ""};
  if (!j.is_object()) root.bad("expected a JSON object");
  ResultFile r;
  r.path = path;
  if (root.has("kind")) r.kind = root.at("kind").str();
  else if (root.has("verdict") && root.has("tensors")) r.kind = "verify";
  else if (root.has("benchmarks")) r.kind = "ops";
  else root.at("kind");  // throws "key 'kind': missing"
  if (root.has("schema_version") && root.at("schema_version").integer() != 1)
    root.at("schema_version").bad("unsupported version " + root.j.at("schema_version").dump() + " (expected 1)");
  r.context = parse_context(root);
  if (r.kind == "verify") parse_verify(root, r);
  else if (r.kind == "ppl") parse_ppl(root, r);
  else if (r.kind == "bench") parse_bench(root, r);
  else if (r.kind == "recall") parse_recall(root, r);
  else if (r.kind == "ops") parse_ops(root.has("benchmark") ? root.at("benchmark") : root, r);
  else root.at("kind").bad("unknown kind '" + r.kind + "' (expected verify, ppl, recall, bench or ops)");
  return r;
}

// Google Benchmark writes non-finite numbers as bare NaN / inf / -inf (e.g. the "cv" aggregate of
// a counter that is always 0), which strict JSON rejects. Outside strings, turn them into null.
static std::string nonfinite_to_null(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  bool str = false;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (str) {
      out += c;
      if (c == '\\' && i + 1 < in.size()) out += in[++i];
      else if (c == '"') str = false;
      continue;
    }
    if (c == '"') { str = true; out += c; continue; }
    bool neg = c == '-';
    size_t k = i + (neg ? 1 : 0);
    for (const char* w : {"NaN", "nan", "Infinity", "inf"}) {
      size_t n = std::char_traits<char>::length(w);
      if (in.compare(k, n, w) == 0) {
        out += "null";
        i = k + n - 1;
        goto next;
      }
    }
    out += c;
  next:;
  }
  return out;
}

ResultFile load_result(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail(path + ": cannot open");
  json j;
  try {
    std::stringstream ss;
    ss << f.rdbuf();
    j = json::parse(nonfinite_to_null(ss.str()));
  } catch (const json::parse_error& e) {
    // nlohmann's message is long and multi-part; keep the byte offset, which is what helps.
    fail(path + ": not valid JSON (byte " + std::to_string(e.byte) + ")");
  } catch (const json::out_of_range&) {  // a number beyond a double (1e400): was an internal error
    fail(path + ": not valid JSON (a number overflows a double)");
  }
  return parse_result(j, path);
}

}  // namespace dsv32::reports
