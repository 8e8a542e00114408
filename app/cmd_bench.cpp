// dsv32 bench: end-to-end throughput in the style of llama-bench, for each attention x MLA mode.
//
//   pp<N>        prefill N tokens at depth 0 in one forward call (no LM head: the Model API makes
//                logits for every row or none, and a serving prefill needs only the last row's)
//   tg<N>@d<D>   decode N tokens one at a time after D cached positions (LM head included);
//                the D-token prefill is untimed, done in --chunk sized calls, shared by the reps
//   repetitions  mean ± sample stddev of tokens/s over --reps runs, after one untimed warm-up
//   memory       a test is skipped (and listed) when its KV cache plus activations would pass the
//                budget (default 80 % of MemAvailable minus the checkpoint's bytes)
//   attention    the attention cost curve: one decode step's context-dependent attention work for
//                all layers, absorbed MLA, dense (attend over every position) vs sparse (indexer
//                scores over every position on one thread, top-k, attend over k), timed on the
//                kernels with random caches at each --curve context (no prefill needed), so long
//                contexts are cheap to chart
// Default depths 0,512,2048 keep a tiny-model run under a minute on 2 cores; the llama-bench-like
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
#include "app/bench_comm.h"
#include "app/command.h"
#include "app/common.h"
#include "app/run_setup.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/indexer.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/error.h"
#include "model/atomic_file.h"
#include "model/model.h"

namespace dsv32::app {
namespace {

using nlohmann::json;

struct Mode {
  AttnMode attn;
  MlaMode mla;
  std::string name() const { return std::string(to_string(attn)) + "/" + to_string(mla); }
  std::string key() const { return std::string(to_string(attn)) + "_" + to_string(mla); }
};

struct TestResult {
  Mode mode;
  std::string test;
  int64_t n_prompt = 0, n_gen = 0, depth = 0;
  std::vector<double> tps;  // tokens/s per repetition
  double mean = 0, stddev = 0;
  CommSplit comm;  // under mpirun: compute vs communication, bytes per token (app/bench_comm.h)
};

struct Skip {
  std::string mode, test, reason;
};

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

// Weight bytes one decode token reads: every attention matrix (+ the indexer's in sparse mode),
// the dense MLP or the router + K routed experts + the shared expert, and the LM head. Decode is
// bound by streaming these, so bytes × tokens/s is the achieved weight bandwidth.
int64_t decode_weight_bytes(const ModelWeights& w, AttnMode attn) {
  const ModelConfig& c = w.config;
  auto mlp = [](const MlpWeights& m) { return m.gate.bytes() + m.up.bytes() + m.down.bytes(); };
  int64_t b = w.lm_head.bytes();
  for (const LayerWeights& L : w.layers) {
    b += L.q_a.bytes() + L.q_b.bytes() + L.kv_a.bytes() + L.kv_b.bytes() + L.o.bytes();
    if (attn == AttnMode::kSparse && L.has_indexer)
      b += L.indexer.wq_b.bytes() + L.indexer.wk.bytes() + L.indexer.weights_proj.bytes();
    if (!L.is_moe) { b += mlp(L.mlp); continue; }
    b += L.router.bytes() + (L.experts.empty() ? 0 : c.n_experts_per_tok * mlp(L.experts[0]));
    if (L.has_shared) b += mlp(L.shared);
  }
  return b;
}

int bench(const std::vector<std::string>& args) {
  std::string model_dir, modes_text = "all", depths_text = "0,512,2048", curve_text = "512,2048,8192,32768";
  std::string json_out;
  int reps = 3, threads = 2;
  int64_t pp = 512, tg = 32, chunk = 512, budget_mib = 0;
  ArgParser p("bench",
              "End-to-end throughput, llama-bench style: prefill tokens/s (pp) and decode tokens/s\n"
              "after D cached positions (tg@dD) for each attention x MLA mode, with repetitions;\n"
              "KV-cache bytes per mode; the attention cost curve over context length, dense vs sparse.");
  p.add("--model", &model_dir, "DIR", "checkpoint directory (config.json + safetensors)", true);
  p.add("--modes", &modes_text, "LIST", "all, or e.g. dense/naive,sparse/absorbed");
  p.add("--reps", &reps, "N", "timed repetitions per test (after one warm-up)");
  p.add("--pp", &pp, "N", "prompt tokens for the prefill test (0: none)");
  p.add("--tg", &tg, "N", "generated tokens for the decode tests (0: none)");
  p.add("--depths", &depths_text, "LIST", "cached positions before each decode test");
  p.add("--curve", &curve_text, "LIST", "context lengths of the attention cost curve (0: none)");
  p.add("--chunk", &chunk, "N", "tokens per forward call when prefilling to a depth");
  p.add("--threads", &threads, "T", "worker threads");
  DeviceChoice dev;  // --device, --numerics
  dev.add_options(p);
  p.add("--mem-budget", &budget_mib, "MIB", "memory for KV cache + activations (default: 80% of free)");
  p.add("--json", &json_out, "OUT", "write results (reports/RESULTS.md, kind \"bench\")");
  p.epilog("examples:\n  dsv32 bench --model models/tiny\n"
           "  dsv32 bench --model models/tiny --modes sparse/absorbed --depths 0,2048,8192,32768 --json b.json");
  if (!p.parse(args)) return 0;
  ModelOptions dev_opt;
  dev.apply(dev_opt);
  if (reps < 1 || reps > 1000) fail("--reps: must be between 1 and 1000");
  if (pp < 0 || tg < 0) fail(pp < 0 ? "--pp: must be >= 0" : "--tg: must be >= 0");
  if (pp == 0 && tg == 0) fail("--pp and --tg are both 0: nothing to measure");
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

  std::shared_ptr<const ModelWeights> weights = load_weights(model_dir);
  const ModelConfig& c = weights->config;
  std::vector<Skip> skipped;
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
  const std::string model_label =
      preset + " " + (dts.find("F8_E4M3") != std::string::npos ? "F8" : dts.substr(0, dts.find(' ')));
  const int64_t V = c.vocab_size;
  std::vector<TestResult> results;
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
    const std::string tg_name = "tg" + std::to_string(tg);
    const bool run_pp = pp > 0 && fits("pp" + std::to_string(pp), pp, pp);
    std::vector<int64_t> run_depths;
    if (tg > 0)
      for (int64_t d : depths)
        if (fits(tg_name + (d ? "@d" + std::to_string(d) : ""), d + tg, std::min(chunk, std::max<int64_t>(d, 1))))
          run_depths.push_back(d);
    if (!run_pp && run_depths.empty()) continue;
    int64_t max_ctx = run_pp ? pp : 1;
    for (int64_t d : run_depths) max_ctx = std::max(max_ctx, d + tg);

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

    int64_t total = (run_pp ? pp * (reps + 1) : 0);
    for (int64_t i = 0, prev = 0; i < int64_t(run_depths.size()); prev = run_depths[i++])
      total += run_depths[i] - prev + tg * (reps + 1);
    Progress bar("bench " + mode.name(), std::max<int64_t>(total, 1));
    int64_t done = 0;

    if (run_pp) {
      TestResult r{mode, "pp" + std::to_string(pp), pp, 0, 0, {}, 0, 0};
      double timed = 0;
      for (int rep = 0; rep <= reps; ++rep) {  // rep 0: warm-up
        if (rep == 1) comm_begin();
        Stopwatch sw;
        m.forward(ids.data(), pp, 0, nullptr);
        const double s = sw.seconds();
        if (rep) r.tps.push_back(double(pp) / std::max(s, 1e-9)), timed += s;
        bar.update(done += pp, r.test);
      }
      finish_stats(r);
      r.comm = comm_collect(m, timed, pp * reps);
      results.push_back(r);
    }
    int64_t filled = 0;  // prefix [0, filled) holds the prompt ids (decode reps write past it)
    for (int64_t d : run_depths) {
      TestResult r{mode, tg_name + (d ? "@d" + std::to_string(d) : ""), 0, tg, d, {}, 0, 0};
      for (int64_t p0 = filled; p0 < d; p0 += chunk) {  // untimed prefill to depth d
        const int64_t n = std::min(chunk, d - p0);
        m.forward(&ids[p0], n, p0, nullptr);
        bar.update(done += n, "prefill to " + std::to_string(d));
      }
      filled = d;
      double timed = 0;
      for (int rep = 0; rep <= reps; ++rep) {
        if (rep == 1) comm_begin();
        Stopwatch sw;
        for (int64_t i = 0; i < tg; ++i) m.forward(&ids[d + i], 1, d + i, logits.data());
        const double s = sw.seconds();
        if (rep) r.tps.push_back(double(tg) / std::max(s, 1e-9)), timed += s;
        bar.update(done += tg, r.test);
      }
      finish_stats(r);
      r.comm = comm_collect(m, timed, tg * reps);
      results.push_back(r);
    }
    bar.finish();
  }

  // Attention cost curve (absorbed MLA; dense vs sparse), contexts that fit half the budget.
  struct CurvePoint { int64_t ctx; double dense_s, sparse_s; };
  std::vector<CurvePoint> points;
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
      points.push_back({ctx, d, s});
      bar.update(int64_t(i + 1), "ctx " + std::to_string(ctx));
    }
    bar.finish();
  }

  // ---- report ----
  const double size_mib = double(weights->weight_bytes) / (1 << 20);
  if (dev_opt.device == Device::kCuda)
    std::printf("device: %s\n", device_name.c_str());
  if (dev_opt.numerics != "exact") std::printf("numerics: %s\n", dev_opt.numerics.c_str());
  std::printf("| model | size | threads | mode | test | t/s |\n|---|---:|---:|---|---:|---:|\n");
  for (const TestResult& r : results)
    std::printf("| %s | %.1f MiB | %d | %s | %s | %.2f ± %.2f |\n", model_label.c_str(), size_mib, threads,
                r.mode.name().c_str(), r.test.c_str(), r.mean, r.stddev);
  for (const Mode& mode : modes) {  // calm-style summary: achieved weight bandwidth in decode
    const TestResult* best = nullptr;
    for (const TestResult& r : results)
      if (r.mode.key() == mode.key() && r.n_gen > 0 && (!best || r.mean > best->mean)) best = &r;
    if (!best) continue;
    const int64_t wb = decode_weight_bytes(*weights, mode.attn);
    std::printf("%s decode: %.1f MiB of weights/token, best %s %.2f t/s = %.2f GB/s\n", mode.name().c_str(),
                double(wb) / (1 << 20), best->test.c_str(), best->mean, double(wb) * best->mean / 1e9);
  }
  {
    std::vector<std::string> labels;
    std::vector<const CommSplit*> splits;
    for (const TestResult& r : results) labels.push_back(r.mode.name() + " | " + r.test), splits.push_back(&r.comm);
    print_comm(labels, splits);
  }
  std::printf("\n| mode | KV bytes/token (fp32, this harness) | deployed bf16/fp8 layout | per layer (MLA + indexer) |\n"
              "|---|---:|---:|---:|\n");
  json kv_json = json::object(), kv_dep = json::object();
  for (AttnMode a : {AttnMode::kDense, AttnMode::kSparse})
    for (MlaMode ml : {MlaMode::kNaive, MlaMode::kAbsorbed}) {
      if (a == AttnMode::kSparse && !c.has_indexer) continue;
      const KvBytes kv = kv_cache_bytes(c, ml, a);
      const Mode md{a, ml};
      kv_json[md.key()] = kv.per_token;
      kv_dep[md.key()] = kv.deployed_per_token;
      std::printf("| %s | %lld | %lld | %lld + %lld |\n", md.name().c_str(), (long long)kv.per_token,
                  (long long)kv.deployed_per_token, (long long)kv.mla_per_layer, (long long)kv.indexer_per_layer);
    }
  if (!points.empty()) {
    std::printf("\nattention cost of one decode step, all %d layers, absorbed MLA (kernels, random caches):\n"
                "| ctx | dense ms | sparse ms | sparse/dense |\n|---:|---:|---:|---:|\n", c.n_layers);
    for (const CurvePoint& pt : points) {
      if (pt.sparse_s < 0) std::printf("| %lld | %.3f | - | - |\n", (long long)pt.ctx, pt.dense_s * 1e3);
      else std::printf("| %lld | %.3f | %.3f | %.2f |\n", (long long)pt.ctx, pt.dense_s * 1e3,
                       pt.sparse_s * 1e3, pt.sparse_s / pt.dense_s);
    }
  }
  for (const Skip& s : skipped)
    std::printf("skipped %s %s: %s\n", s.mode.c_str(), s.test.c_str(), s.reason.c_str());

  if (!json_out.empty()) {
    json j;
    j["schema_version"] = 1;
    j["kind"] = "bench";
    j["context"] = {{"git_commit", git_commit()}, {"time", utc_now()}, {"machine", machine()},
                    {"producer", "dsv32 bench"}, {"version", kVersion}, {"model", model_dir},
                    {"preset", preset}, {"device", to_string(dev_opt.device)},
                    {"device_name", device_name}, {"numerics", dev_opt.numerics}};
    j["settings"] = {{"pp", pp}, {"tg", tg}, {"reps", reps}, {"depths", depths}, {"threads", threads},
                     {"chunk", chunk}, {"mem_budget_bytes", budget}, {"direction", "tokens_per_s: higher is better"}};
    json rs = json::array();
    for (const TestResult& r : results)
      rs.push_back({{"attn", to_string(r.mode.attn)}, {"mla", to_string(r.mode.mla)}, {"test", r.test},
                    {"n_prompt", r.n_prompt}, {"n_gen", r.n_gen}, {"depth", r.depth}, {"reps", reps},
                    {"tokens_per_s", r.tps}, {"mean", r.mean}, {"stddev", r.stddev},
                    {"comm", comm_json(r.comm)}});
    j["results"] = rs;
    j["kv_bytes_per_token"] = kv_json;
    j["kv_bytes_per_token_deployed"] = kv_dep;
    json ac = json::array();
    for (const CurvePoint& pt : points)
      ac.push_back({{"ctx", pt.ctx}, {"dense_s", pt.dense_s},
                    {"sparse_s", pt.sparse_s < 0 ? json(nullptr) : json(pt.sparse_s)}});
    j["attention_cost"] = ac;
    j["attention_cost_method"] = "absorbed MLA, one decode query, all layers; kernels on random caches";
    json sk = json::array();
    for (const Skip& s : skipped) sk.push_back({{"mode", s.mode}, {"test", s.test}, {"reason", s.reason}});
    j["skipped"] = sk;
    if (!output_rank()) return 0;
    write_file_atomic(json_out, j.dump(2) + "\n");
    std::printf("json    %s\n", json_out.c_str());
  }
  return 0;
}

const Command kCmd{"bench", "llama-bench style pp/tg tokens/s per mode, KV bytes, attention cost curve", &bench};

}  // namespace
}  // namespace dsv32::app
