// Result files (reports/RESULTS.md) parsed into plain structs for the report, the comparison and the
// history. Every loader validates the keys it reads and throws dsv32::Error with one line naming the
// file and the key at fault ("bench.json: key 'results[2].tokens_per_s': expected an array of
// numbers"), so `dsv32 report` / `dsv32 compare` can exit 2 with a useful message.
//
// Accepted shapes:
//   * the common envelope {"schema_version", "kind", "context", ...} for ppl, bench, ops, verify;
//   * `dsv32 verify --json` output without the envelope (recognised by "verdict" + "tensors");
//   * raw Google Benchmark JSON ({"context", "benchmarks"}) as kind "ops".
#pragma once
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dsv32::reports {

struct RunContext {
  std::string git_commit = "unknown", time, machine = "unknown", producer, version, model,
              preset = "unknown", device;
};

// One way of computing the forward pass: "sparse/absorbed", or a label when the file has none.
std::string mode_label(const std::string& attn, const std::string& mla);

// ---- verify ------------------------------------------------------------------------------------
struct VerifyTensor {
  std::string name, kind, status;  // kind "float" | "index"; status e.g. "ok", "FAIL", "diverged"
  double nmse = 0, cos = 1, min_tol = 0;   // float tensors
  double jaccard_mean = 1;                 // index tensors
  bool has_nmse = false;
  // Provenance (verify/provenance.h), when the verify JSON has it: origin rows and the verdict.
  int64_t origins = -1, first_origin = -1;
  std::string prov_verdict;
  // Local error (the layer fed the reference's input), when the verify JSON has `local_nmse`.
  double local_nmse = NAN;
};
struct VerifyResult {
  std::string mode, verdict, summary, first_failure, first_flip;
  std::string first_origin, first_systematic;  // provenance; "" when absent
  int64_t first_origin_pos = -1;
  std::vector<VerifyTensor> tensors;  // forward order
  bool has_logits = false;
  double kl_mean = 0, top1 = 0;
};

// ---- ppl ---------------------------------------------------------------------------------------
struct PplResult {
  std::string mode;  // the mode's label ("sparse/absorbed", or a --modes spec "sparse/absorbed:k16")
  std::string attn, mla, numerics = "exact", indexer = "checkpoint", kl_base, text;
  int64_t index_topk = 0;  // 0: not recorded (files before --modes)
  bool tagged = false;     // the label carries ':' tags (kN, a profile, random-indexer)
  int64_t ctx = 0, chunks = 0, tokens_scored = 0;
  double ppl = 0, ppl_err = 0, tokens_per_s = 0;
  bool has_kl = false;
  double kld_mean = 0, kld_err = 0, kld_p99 = 0, same_top1_pct = 0;
  double unigram_ppl = NAN, unigram_err = NAN;  // the file's add-one unigram baseline on the same tokens
  int64_t unigram_train_tokens = 0;
};

// ---- recall (dsv32 recall) -----------------------------------------------------------------------
struct RecallResult {
  int64_t ctx = 0, chunks = 0, queries = 0, index_topk = 0;
  std::vector<int64_t> topk;
  std::vector<std::vector<double>> layers;  // [layer][k]
};

// ---- bench -------------------------------------------------------------------------------------
struct BenchResult {
  std::string mode, test;  // test "pp512", "tg32@d2048"
  int64_t n_prompt = 0, n_gen = 0, depth = 0;
  std::vector<double> tokens_per_s;  // one per repetition; higher is better
  double mean = 0, stddev = 0;
};
struct AttentionCost {
  int64_t ctx = 0;
  double dense_s = 0, sparse_s = 0;
};

// ---- ops (Google Benchmark) ----------------------------------------------------------------------
struct OpResult {
  std::string name;                // run_name: the benchmark without repetition/aggregate suffix
  std::string time_unit = "ns";
  std::vector<double> real_time;   // one per repetition (or the single run); lower is better
  double pct_peak_flops = -1, pct_peak_bw = -1;  // means over repetitions; -1 = not reported
  double gflops = -1, gbps = -1;
};

struct ResultFile {
  std::string path, kind;  // kind: verify | ppl | bench | ops
  RunContext context;
  std::vector<VerifyResult> verify;  // one per file (vector to keep all kinds alike)
  std::vector<PplResult> ppl;
  std::vector<RecallResult> recall;
  std::vector<BenchResult> bench;
  std::vector<AttentionCost> attention_cost;
  std::vector<std::pair<std::string, double>> kv_bytes_per_token;
  std::vector<OpResult> ops;
  double peak_gflops = -1, peak_gbps = -1;
};

// Reads and validates one result file; throws Error naming the file and key.
ResultFile load_result(const std::string& path);
// Same, from already-parsed JSON (`path` only names it in errors).
ResultFile parse_result(const nlohmann::json& j, const std::string& path);

// Median of a non-empty sample (copy, so callers keep their order).
double median(std::vector<double> v);

}  // namespace dsv32::reports
