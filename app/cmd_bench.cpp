// dsv32 bench: end-to-end throughput in the style of llama-bench, for each attention x MLA mode.
//
//   pp<N>        prefill N tokens at depth 0 in one forward call (no LM head: the Model API makes
//                logits for every row or none, and a serving prefill needs only the last row's)
//   pp<N>@d<D>   the same N-token call after D cached positions (llama-bench's "pp512 @ d8192":
//                what a long-context perplexity chunk is made of)
//   tg<N>@d<D>   decode N tokens one at a time after D cached positions (LM head included)
//   depths       --depths applies to both kinds; the D-token prefill is untimed, done in --chunk
//                sized calls, and shared by every test at that depth (tests run depth ascending)
//   lists        --pp and --tg take lists (--pp 128,512 --tg 32): every size at every depth
//   repetitions  mean ± sample stddev of tokens/s over --reps runs, after one untimed warm-up
//   cost         per test, FLOPs and weight bytes per token (app/bench_cost.h, docs/MODEL.md §5.5)
//                and the achieved fraction of the FMA peak (prefill) or read bandwidth (decode),
//                both peaks measured in this process before the tests (bench/peak.h, as bench_ops)
//   memory       a test is skipped (and listed) when its KV cache plus activations would pass the
//                budget (default 80 % of MemAvailable minus the checkpoint's bytes)
//   attention    the attention cost curve: one decode step's context-dependent attention work for
//                all layers, absorbed MLA, dense (attend over every position) vs sparse (indexer
//                scores over every position on one thread, top-k, attend over k), timed on the
//                kernels with random caches at each --curve context (no prefill needed), so long
//                contexts are cheap to chart
//   output       -o md (default) | csv | json | jsonl on stdout (app/bench_format.cpp); the rest
//                goes to stderr when the format is not md. --json OUT writes the json to a file.
// Default depths 0,512,2048 keep a tiny-model run around a minute on 2 cores; the llama-bench-like
// full set is --depths 0,2048,8192,32768 (minutes per mode: the depth prefill is O(D²) in dense mode).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "app/args.h"
#include "app/bench_cost.h"
#include "app/bench_report.h"
#include "app/command.h"
#include "app/common.h"
#include "app/run_setup.h"
#include "bench/peak.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/indexer.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/error.h"
#include "model/atomic_file.h"
#include "model/model.h"

namespace dsv32::app {
namespace {

using nlohmann::json;

using Mode = BenchMode;
using TestResult = BenchResult;
using Skip = BenchSkip;


std::vector<Mode> parse_modes(const std::string& text, bool has_indexer, std::vector<Skip>* skipped) {
  std::vector<Mode> out;
  if (text == "all") {
    for (AttnMode a : {AttnMode::kDense, AttnMode::kSparse})
      for (MlaMode m : {MlaMode::kNaive, MlaMode::kAbsorbed}) {
        if (a == AttnMode::kSparse && !has_indexer) {
          skipped->push_back({Mode{a, m}.name(), "all", "the model has no lightning indexer"});
          continue;
        }
        out.push_back({a, m});
      }
    return out;
  }
  size_t i = 0;
  while (i <= text.size()) {
    size_t j = std::min(text.find(',', i), text.size());
    std::string tok = text.substr(i, j - i);
    size_t sep = tok.find_first_of("/_");
    std::string a = sep == std::string::npos ? tok : tok.substr(0, sep);
    std::string m = sep == std::string::npos ? "" : tok.substr(sep + 1);
    if ((a != "dense" && a != "sparse") || (m != "naive" && m != "absorbed"))
      fail("--modes: '" + tok + "' is not all or a list of ATTN/MLA with ATTN dense|sparse and MLA naive|absorbed");
    Mode mode{parse_attn_mode(a), parse_mla_mode(m)};
    if (mode.attn == AttnMode::kSparse && !has_indexer)
      fail("--modes: '" + tok + "' needs a lightning indexer, which this model does not have");
    out.push_back(mode);
    i = j + 1;
  }
  return out;
}

// Activation bytes of one forward call over S tokens plus per-thread scratch for `ctx` positions,
// from the Workspace buffers of model/layer_program.h (approximate: the big terms only).
int64_t activation_bytes(const ModelConfig& c, int64_t S, int64_t ctx, int threads) {
  const int64_t H = c.n_heads, lat = c.kv_lora_rank + c.qk_rope_head_dim;
  const int64_t I = std::max(c.intermediate_size, c.moe_intermediate_size);
  const int64_t per_tok = 6 * c.hidden_size + c.q_lora_rank + H * c.qk_head_dim() + lat + H * lat +
                          H * c.kv_lora_rank + H * c.v_head_dim + H * (c.qk_nope_head_dim + c.v_head_dim) +
                          int64_t(c.index_n_heads) * (c.index_head_dim + 1) + c.index_topk + 2 * I +
                          2 * c.n_routed_experts + 3 * c.n_experts_per_tok * c.hidden_size;
  return 4 * (S * per_tok + c.vocab_size) + int64_t(threads) * ctx * 12;
}

std::string gib(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f GiB", bytes / double(int64_t(1) << 30));
  return b;
}

std::string machine() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::string cpu = "unknown cpu";
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  return std::string(host) + " / " + cpu + " / " + std::to_string(std::thread::hardware_concurrency()) + " cores";
}

int64_t mem_available() {
  std::ifstream f("/proc/meminfo");
  std::string key, unit;
  int64_t kb = 0;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return int64_t(8) << 30;
}

void finish_stats(TestResult& r) {
  const double n = double(r.tps.size());
  double s = 0, ss = 0;
  for (double v : r.tps) s += v;
  r.mean = s / n;
  for (double v : r.tps) ss += (v - r.mean) * (v - r.mean);
  r.stddev = r.tps.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The attention cost curve at one context length: seconds of one decode step's attention for all
// layers, timed on `timed` distinct layer caches (so layers do not share a warm cache) and scaled
// to n_layers (every layer has the same shapes). Returns {dense_s, sparse_s (or -1)}.
std::pair<double, double> attention_cost(const ModelConfig& c, ThreadPool& pool, int64_t ctx,
                                         int timed, int reps) {
  const int64_t H = c.n_heads, rkv = c.kv_lora_rank, lat = rkv + c.qk_rope_head_dim;
  const int64_t HI = c.index_n_heads, dI = c.index_head_dim, K = c.index_topk;
  uint64_t s = 12345;
  auto rnd = [&] { s = s * 6364136223846793005ull + 1442695040888963407ull; return float(int64_t(s >> 40) - (1 << 23)) * 0x1.0p-23f; };
  std::vector<std::vector<float>> latent(timed), keys(c.has_indexer ? timed : 0);
  for (auto& v : latent) { v.resize(ctx * lat); for (auto& x : v) x = rnd(); }
  for (auto& v : keys) { v.resize(ctx * dI); for (auto& x : v) x = rnd(); }
  std::vector<float> q(H * lat), out(H * rkv), qi(HI * dI), wi(HI), scores(ctx);
  for (auto& x : q) x = rnd();
  for (auto& x : qi) x = rnd();
  for (auto& x : wi) x = rnd();
  std::vector<std::vector<float>> probs(pool.size(), std::vector<float>(ctx));
  std::vector<int32_t> order(ctx), top(K);
  const AttendParams ap{lat, rkv, lat, lat, float(c.softmax_scale())};
  auto attend_all = [&](const float* cache, const int32_t* idx, int64_t n) {
    pool.parallel_for(H, [&](int64_t h0, int64_t h1, int t) {
      for (int64_t h = h0; h < h1; ++h)
        attend(ap, &q[h * lat], cache, cache, idx, n, probs[t].data(), &out[h * rkv]);
    });
  };
  std::vector<double> dense, sparse;
  // At least `reps` timed steps after a warm-up, more until 0.2 s were spent: small contexts take
  // microseconds and one descheduling would dominate a single sample.
  Stopwatch total;
  for (int r = 0; r <= reps || (total.seconds() < 0.2 && r < 1000); ++r) {  // r == 0: warm-up
    Stopwatch sw;
    for (int l = 0; l < timed; ++l) attend_all(latent[l].data(), nullptr, ctx);
    if (r) dense.push_back(sw.seconds());
    if (!c.has_indexer) continue;
    Stopwatch sw2;
    for (int l = 0; l < timed; ++l) {
      indexer_scores({HI, dI, K}, qi.data(), wi.data(), keys[l].data(), ctx, scores.data());
      const int64_t n = indexer_topk(scores.data(), ctx, K, order.data(), top.data());
      attend_all(latent[l].data(), top.data(), n);
    }
    if (r) sparse.push_back(sw2.seconds());
  }
  const double scale = double(c.n_layers) / timed;
  return {median(dense) * scale, c.has_indexer ? median(sparse) * scale : -1.0};
}

// One mode's tests: the sizes of each kind at each depth, in the order they run (depth ascending,
// so the untimed prefill to the next depth continues from the last one).
struct Plan {
  std::string name;
  int64_t n = 0, depth = 0;
  bool decode = false;
};

std::string test_name(bool decode, int64_t n, int64_t depth) {
  return (decode ? "tg" : "pp") + std::to_string(n) + (depth ? "@d" + std::to_string(depth) : "");
}

// A --pp / --tg list: non-negative sizes, zeros dropped, duplicates removed (order kept).
std::vector<int64_t> parse_sizes(const std::string& text, const std::string& option) {
  std::vector<int64_t> out;
  for (int64_t v : parse_int_list(text, option)) {
    if (v < 0) fail(option + ": " + std::to_string(v) + " is negative (a list of token counts, e.g. 128,512)");
    if (v > 0 && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

int bench(const std::vector<std::string>& args) {
  std::string model_dir, modes_text = "all", depths_text = "0,512,2048", curve_text = "512,2048,8192,32768";
  std::string json_out, pp_text = "512", tg_text = "32", format_text = "md";
  int reps = 3, threads = 2;
  int64_t chunk = 512, budget_mib = 0;
  ArgParser p("bench",
              "End-to-end throughput, llama-bench style: prefill tokens/s (pp, and pp@dD after D cached\n"
              "positions) and decode tokens/s (tg, tg@dD) for each attention x MLA mode, with repetitions,\n"
              "FLOPs and weight bytes per token and the fraction of the in-process peaks; KV-cache bytes\n"
              "per mode; the attention cost curve over context length, dense vs sparse.");
  p.add("--model", &model_dir, "DIR", "checkpoint directory (config.json + safetensors)", true);
  p.add("--modes", &modes_text, "LIST", "all, or e.g. dense/naive,sparse/absorbed");
  p.add("--reps", &reps, "N", "timed repetitions per test (after one warm-up)");
  p.add("--pp", &pp_text, "LIST", "prompt sizes of the prefill tests, e.g. 128,512 (0: none)");
  p.add("--tg", &tg_text, "LIST", "generated tokens of the decode tests, e.g. 32 (0: none)");
  p.add("--depths", &depths_text, "LIST", "cached positions before each prefill and decode test");
  p.add("--curve", &curve_text, "LIST", "context lengths of the attention cost curve (0: none)");
  p.add("--chunk", &chunk, "N", "tokens per forward call when prefilling to a depth");
  p.add("--threads", &threads, "T", "worker threads");
  DeviceChoice dev;  // --device, --numerics
  dev.add_options(p);
  p.add("--mem-budget", &budget_mib, "MIB", "memory for KV cache + activations (default: 80% of free)");
  p.add("-o", &format_text, "FMT", "what stdout gets: md (the report) | csv | json | jsonl (one test per line)");
  p.add("--json", &json_out, "OUT", "also write the json document to OUT (reports/RESULTS.md, kind \"bench\")");
  p.epilog("examples:\n  dsv32 bench --model models/tiny\n"
           "  dsv32 bench --model models/tiny --pp 512 --tg 32 --depths 0,2048,8192 -o csv\n"
           "  dsv32 bench --model models/tiny --modes sparse/absorbed --depths 0,2048,8192,32768 --json b.json");
  if (!p.parse(args)) return 0;
  ModelOptions dev_opt;
  dev.apply(dev_opt);
  const BenchFormat fmt = parse_bench_format(format_text, "-o");
  if (reps < 1 || reps > 1000) fail("--reps: must be between 1 and 1000");
  const std::vector<int64_t> pps = parse_sizes(pp_text, "--pp"), tgs = parse_sizes(tg_text, "--tg");
  if (pps.empty() && tgs.empty()) fail("--pp and --tg are both 0: nothing to measure");
  if (chunk < 1) fail("--chunk: must be >= 1");
  if (threads < 1 || threads > 1024) fail("--threads: must be between 1 and 1024");
  if (budget_mib < 0) fail("--mem-budget: must be >= 0");
  std::vector<int64_t> depths = parse_int_list(depths_text, "--depths");
  std::vector<int64_t> curve = parse_int_list(curve_text, "--curve");
  for (int64_t d : depths) if (d < 0) fail("--depths: " + std::to_string(d) + " is negative");
  for (int64_t x : curve) if (x < 0) fail("--curve: " + std::to_string(x) + " is negative");
  if (depths.empty()) depths = {0};
  std::sort(depths.begin(), depths.end());
  depths.erase(std::unique(depths.begin(), depths.end()), depths.end());
  curve.erase(std::remove(curve.begin(), curve.end(), 0), curve.end());
  // Everything but the chosen format goes to stderr, so `-o csv > x.csv` is a clean file.
  FILE* info = fmt == BenchFormat::kMd ? stdout : stderr;

  std::shared_ptr<const ModelWeights> weights = load_weights(model_dir);
  const ModelConfig& c = weights->config;
  BenchReport rep;
  std::vector<Skip>& skipped = rep.skipped;
  const std::vector<Mode> modes = parse_modes(modes_text, c.has_indexer, &skipped);
  const int64_t budget = budget_mib > 0 ? budget_mib << 20
      : std::max<int64_t>(int64_t(mem_available() * 0.8) - weights->weight_bytes, int64_t(256) << 20);
  const int64_t max_pos = c.max_position_embeddings > 0 ? c.max_position_embeddings : INT64_MAX;
  std::string preset = "custom";
  try {
    json cj = json::parse(c.json_text);
    if (cj.contains("dsv32_synth")) preset = cj["dsv32_synth"].value("preset", "custom");
  } catch (...) {}
  const std::string& dts = weights->dtype_summary;  // "F8_E4M3 x 42, BF16 x 3, ..."
  rep.model_label = preset + " " + (dts.find("F8_E4M3") != std::string::npos ? "F8" : dts.substr(0, dts.find(' ')));
  rep.size_bytes = double(weights->weight_bytes);
  rep.threads = threads, rep.reps = reps, rep.world = current_world().size;
  // The roofs, measured here before the tests with the probes bench_ops uses (the GPU's are not).
  if (dev_opt.device != Device::kCuda) {
    rep.peak_gflops = bench::fma_peak_gflops(threads);
    rep.peak_gbps = bench::read_peak_gbps(threads, bench::default_probe_bytes());
  }
  const int64_t V = c.vocab_size;
  std::vector<TestResult>& results = rep.results;
  std::string device_name = "cpu";  // the Model's, once one is built

  for (const Mode& mode : modes) {
    const KvBytes kv = kv_cache_bytes(c, mode.mla, mode.attn);
    // Which tests fit: positions needed -> KV bytes + activations of the biggest call.
    auto need = [&](int64_t positions, int64_t call_rows) {
      return kv.per_token * positions + activation_bytes(c, call_rows, positions, threads);
    };
    auto fits = [&](const std::string& test, int64_t positions, int64_t call_rows) {
      if (positions > max_pos) {
        skipped.push_back({mode.name(), test, std::to_string(positions) + " positions exceed max_position_embeddings " + std::to_string(max_pos)});
        return false;
      }
      const int64_t b = need(positions, call_rows);
      if (b <= budget) return true;
      skipped.push_back({mode.name(), test, "needs " + gib(double(kv.per_token * positions)) + " KV cache + " +
                         gib(double(b - kv.per_token * positions)) + " activations > budget " + gib(double(budget))});
      return false;
    };
    std::vector<Plan> plan;
    for (int64_t d : depths) {
      const int64_t fill_rows = std::min(chunk, std::max<int64_t>(d, 1));
      const size_t first = plan.size();
      for (int64_t n : pps)
        if (fits(test_name(false, n, d), d + n, std::max(n, fill_rows))) plan.push_back({test_name(false, n, d), n, d, false});
      for (int64_t n : tgs)
        if (fits(test_name(true, n, d), d + n, fill_rows)) plan.push_back({test_name(true, n, d), n, d, true});
      // The longest test at this depth last: the valid prefix it leaves shortens the next prefill.
      std::stable_sort(plan.begin() + first, plan.end(), [](const Plan& a, const Plan& b) { return a.n < b.n; });
    }
    if (plan.empty()) continue;
    int64_t max_ctx = 1, total = 0, valid = 0;  // valid: the prefix left by the last test (below)
    for (const Plan& t : plan) {
      max_ctx = std::max(max_ctx, t.depth + t.n);
      total += std::max<int64_t>(t.depth - valid, 0) + t.n * (reps + 1), valid = t.depth + t.n;
    }

    ModelOptions o;
    o.attn = mode.attn;
    o.mla = mode.mla;
    o.max_ctx = max_ctx;
    o.threads = threads;
    o.device = dev_opt.device;
    o.numerics = dev_opt.numerics;
    o.parallel = dev_opt.parallel, o.tp = dev_opt.tp, o.ep = dev_opt.ep;
    // Model::forward returns after the device finished (the layer program finishes the backend's work), so
    // the stopwatches below time the GPU work too, not just its launch.
    Model m(weights, o);
    device_name = m.device_name();
    std::vector<int32_t> ids(max_ctx);
    uint64_t st = 0x5eed + uint64_t(mode.attn) * 2 + uint64_t(mode.mla);
    for (auto& id : ids) { st = st * 6364136223846793005ull + 1442695040888963407ull; id = int32_t((st >> 33) % uint64_t(V)); }
    std::vector<float> logits(V);
    Progress bar("bench " + mode.name(), std::max<int64_t>(total, 1));
    int64_t done = 0;

    // Positions [0, filled) hold the cache of ids[0, filled). A test at depth D writes ids[D + i] at
    // position D + i, the rows a prefill would write, and the cache then ends at its last row: the
    // valid prefix is [0, D + n).
    int64_t filled = 0;
    for (const Plan& t : plan) {
      for (int64_t p0 = filled; p0 < t.depth; p0 += chunk) {  // untimed prefill to the test's depth
        const int64_t n = std::min(chunk, t.depth - p0);
        m.forward(&ids[p0], n, p0, nullptr);
        bar.update(done += n, "prefill to " + std::to_string(t.depth));
      }
      TestResult r;
      r.mode = mode, r.test = t.name, r.depth = t.depth;
      (t.decode ? r.n_gen : r.n_prompt) = t.n;
      double timed = 0;
      for (int rp = 0; rp <= reps; ++rp) {  // rp 0: warm-up
        if (rp == 1) comm_begin();
        Stopwatch sw;
        if (t.decode)
          for (int64_t i = 0; i < t.n; ++i) m.forward(&ids[t.depth + i], 1, t.depth + i, logits.data());
        else
          m.forward(&ids[t.depth], t.n, t.depth, nullptr);
        const double s = sw.seconds();
        if (rp) r.tps.push_back(double(t.n) / std::max(s, 1e-9)), timed += s;
        bar.update(done += t.n, r.test);
      }
      finish_stats(r);
      r.comm = comm_collect(m, timed, t.n * reps);
      r.cost = token_cost(*weights, mode.attn, mode.mla, t.depth, t.n, /*with_head=*/t.decode);
      results.push_back(r);
      filled = t.depth + t.n;
    }
    bar.finish();
  }

  // Attention cost curve (absorbed MLA; dense vs sparse), contexts that fit half the budget.
  if (!curve.empty() && dev_opt.device == Device::kCuda) {
    skipped.push_back({"dense|sparse/absorbed", "attention_cost", "the curve times the CPU kernels; not run with --device cuda"});
    curve.clear();
  }
  if (!curve.empty()) {
    ThreadPool pool(threads);
    const int timed = std::min(c.n_layers, 4);
    const int64_t per_pos = 4 * (c.kv_lora_rank + c.qk_rope_head_dim + (c.has_indexer ? c.index_head_dim : 0) + 4);
    Progress bar("attention curve", int64_t(curve.size()));
    for (size_t i = 0; i < curve.size(); ++i) {
      const int64_t ctx = curve[i];
      if (ctx > max_pos || per_pos * ctx * timed > budget / 2) {
        skipped.push_back({"dense|sparse/absorbed", "attention_cost@" + std::to_string(ctx),
                           ctx > max_pos ? "exceeds max_position_embeddings" : "caches exceed half the memory budget"});
        continue;
      }
      auto [d, s] = attention_cost(c, pool, ctx, timed, std::min(reps, 3));
      rep.curve.push_back({ctx, d, s});
      bar.update(int64_t(i + 1), "ctx " + std::to_string(ctx));
    }
    bar.finish();
  }
  rep.curve_layers = c.n_layers;

  // ---- report ----
  for (AttnMode a : {AttnMode::kDense, AttnMode::kSparse})
    for (MlaMode ml : {MlaMode::kNaive, MlaMode::kAbsorbed}) {
      if (a == AttnMode::kSparse && !c.has_indexer) continue;
      const KvBytes kv = kv_cache_bytes(c, ml, a);
      const Mode md{a, ml};
      rep.kv.push_back({md.name(), md.key(), kv.per_token, kv.deployed_per_token, kv.mla_per_layer, kv.indexer_per_layer});
    }
  for (const Mode& mode : modes)
    rep.decode_bandwidth.push_back({mode.name(), token_weight_bytes(*weights, mode.attn, mode.mla, true)});
  rep.context = {{"git_commit", git_commit()}, {"time", utc_now()}, {"machine", machine()},
                 {"producer", "dsv32 bench"}, {"version", kVersion}, {"model", model_dir},
                 {"preset", preset}, {"device", to_string(dev_opt.device)},
                 {"device_name", device_name}, {"numerics", dev_opt.numerics},
                 {"peak_gflops", rep.peak_gflops < 0 ? json(nullptr) : json(rep.peak_gflops)},
                 {"peak_gbps", rep.peak_gbps < 0 ? json(nullptr) : json(rep.peak_gbps)}};
  // pp / tg: the first size of each list (files before the lists had one number there).
  rep.settings = {{"pp", pps.empty() ? 0 : pps[0]}, {"tg", tgs.empty() ? 0 : tgs[0]}, {"pp_list", pps},
                  {"tg_list", tgs}, {"reps", reps}, {"depths", depths}, {"threads", threads},
                  {"chunk", chunk}, {"mem_budget_bytes", budget}, {"direction", "tokens_per_s: higher is better"}};

  if (!output_rank()) return 0;
  switch (fmt) {
    case BenchFormat::kMd: std::fputs(bench_markdown(rep).c_str(), stdout); break;
    case BenchFormat::kCsv: std::fputs(bench_csv(rep).c_str(), stdout); break;
    case BenchFormat::kJson: std::fputs((bench_json(rep).dump(2) + "\n").c_str(), stdout); break;
    case BenchFormat::kJsonl: std::fputs(bench_jsonl(rep).c_str(), stdout); break;
  }
  if (fmt != BenchFormat::kMd)
    for (const Skip& s : skipped) std::fprintf(stderr, "skipped %s %s: %s\n", s.mode.c_str(), s.test.c_str(), s.reason.c_str());
  if (!json_out.empty()) {
    write_file_atomic(json_out, bench_json(rep).dump(2) + "\n");
    std::fprintf(info, "json    %s\n", json_out.c_str());
  }
  return 0;
}

const Command kCmd{"bench", "llama-bench style pp/tg tokens/s per mode, FLOPs/bytes per token, KV bytes, attention curve", &bench};

}  // namespace
}  // namespace dsv32::app
