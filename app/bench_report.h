// What `dsv32 bench` measured, and its output formats (-o md | csv | json | jsonl). The cases are
// run in cmd_bench.cpp; the per-token FLOP/byte formulas are app/bench_cost.h (MODEL §5.5).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/bench_comm.h"
#include "app/bench_cost.h"
#include "model/model.h"

namespace dsv32::app {

struct BenchMode {
  AttnMode attn;
  MlaMode mla;
  std::string name() const { return std::string(to_string(attn)) + "/" + to_string(mla); }
  std::string key() const { return std::string(to_string(attn)) + "_" + to_string(mla); }
};

struct BenchResult {
  BenchMode mode;
  std::string test;  // pp512, pp512@d2048, tg32, tg32@d2048
  int64_t n_prompt = 0, n_gen = 0, depth = 0;
  std::vector<double> tps;  // tokens/s per repetition
  double mean = 0, stddev = 0;
  TokenCost cost;           // per token (MODEL §5.5)
  CommSplit comm;           // under mpirun: compute vs communication, bytes per token (app/bench_comm.h)
  bool prefill() const { return n_gen == 0; }
};

struct BenchSkip {
  std::string mode, test, reason;
};

struct CurvePoint {
  int64_t ctx;
  double dense_s, sparse_s;  // sparse_s < 0: no indexer
};

struct BenchReport {
  nlohmann::json context;   // the RESULTS.md context block (+ peak_gflops, peak_gbps)
  nlohmann::json settings;  // the options as run
  std::string model_label;  // "tiny F8"
  double size_bytes = 0;
  int threads = 0, reps = 0, world = 1;
  double peak_gflops = -1, peak_gbps = -1;  // measured in this process (bench/peak.h); -1: not measured
  std::vector<BenchResult> results;
  std::vector<BenchSkip> skipped;
  std::vector<CurvePoint> curve;
  int curve_layers = 0;
  struct Kv { std::string name, key; int64_t per_token, deployed, mla_per_layer, indexer_per_layer; };
  std::vector<Kv> kv;
  std::vector<std::pair<std::string, double>> decode_bandwidth;  // mode name → weight bytes/token
};

// The fraction of its roof a result reached: prefill tests against the FMA peak (they are compute
// bound), decode tests against the read bandwidth (they stream the weights once per token);
// < 0 when the peak was not measured.
double frac_fma_peak(const BenchReport& r, const BenchResult& x);
double frac_read_peak(const BenchReport& r, const BenchResult& x);

enum class BenchFormat { kMd, kCsv, kJson, kJsonl };
// "md" | "csv" | "json" | "jsonl"; throws Error naming `option` otherwise.
BenchFormat parse_bench_format(const std::string& text, const std::string& option);

// The kind "bench" document of reports/RESULTS.md.
nlohmann::json bench_json(const BenchReport& r);
// The llama-bench style Markdown report: the test table, decode bandwidth, communication (MPI),
// KV bytes, attention cost curve, skipped tests.
std::string bench_markdown(const BenchReport& r);
// One header line and one row per test.
std::string bench_csv(const BenchReport& r);
// One JSON object per test and line: the "results" entry plus model, preset, threads and peaks.
std::string bench_jsonl(const BenchReport& r);

}  // namespace dsv32::app
