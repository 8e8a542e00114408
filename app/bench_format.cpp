// dsv32 bench's output formats. Markdown is the human report (llama-bench's table plus the extra
// tables); csv and jsonl carry one line per test for spreadsheets and log pipelines; json is the
// kind "bench" document of reports/RESULTS.md (what `dsv32 report` and `dsv32 compare` read).
#include <cstdio>

#include "app/bench_report.h"
#include "app/common.h"
#include "kernels/error.h"

namespace dsv32::app {

using nlohmann::json;

namespace {

json null_if_negative(double v) { return v < 0 ? json(nullptr) : json(v); }

json result_json(const BenchReport& rep, const BenchResult& r) {
  return {{"attn", to_string(r.mode.attn)}, {"mla", to_string(r.mode.mla)}, {"test", r.test},
          {"n_prompt", r.n_prompt}, {"n_gen", r.n_gen}, {"depth", r.depth}, {"reps", rep.reps},
          {"tokens_per_s", r.tps}, {"mean", r.mean}, {"stddev", r.stddev},
          {"comm", comm_json(r.comm)},
          {"flops_per_token", r.cost.flops}, {"weight_bytes_per_token", r.cost.weight_bytes},
          {"gflops", r.cost.flops * r.mean / 1e9}, {"gbps", r.cost.weight_bytes * r.mean / 1e9},
          {"frac_fma_peak", null_if_negative(frac_fma_peak(rep, r))},
          {"frac_read_peak", null_if_negative(frac_read_peak(rep, r))},
          {"roof", r.prefill() ? "fma" : "read"}};
}

// "12.3 % FMA" / "45.6 % BW": the fraction of the roof that bounds the test.
std::string roof_cell(const BenchReport& rep, const BenchResult& r) {
  const double f = r.prefill() ? frac_fma_peak(rep, r) : frac_read_peak(rep, r);
  if (f < 0) return "-";
  return strprintf("%.1f %% %s", 100 * f, r.prefill() ? "FMA" : "BW");
}

}  // namespace

double frac_fma_peak(const BenchReport& r, const BenchResult& x) {
  return r.peak_gflops > 0 ? x.cost.flops * x.mean / 1e9 / r.peak_gflops : -1.0;
}
double frac_read_peak(const BenchReport& r, const BenchResult& x) {
  return r.peak_gbps > 0 ? x.cost.weight_bytes * x.mean / 1e9 / r.peak_gbps : -1.0;
}

BenchFormat parse_bench_format(const std::string& text, const std::string& option) {
  if (text == "md") return BenchFormat::kMd;
  if (text == "csv") return BenchFormat::kCsv;
  if (text == "json") return BenchFormat::kJson;
  if (text == "jsonl") return BenchFormat::kJsonl;
  fail(option + ": '" + text + "' is not one of md, csv, json, jsonl");
}

json bench_json(const BenchReport& r) {
  json j;
  j["schema_version"] = 1;
  j["kind"] = "bench";
  j["context"] = r.context;
  j["settings"] = r.settings;
  json rs = json::array();
  for (const BenchResult& x : r.results) rs.push_back(result_json(r, x));
  j["results"] = rs;
  json kv = json::object(), dep = json::object();
  for (const auto& k : r.kv) kv[k.key] = k.per_token, dep[k.key] = k.deployed;
  j["kv_bytes_per_token"] = kv;
  j["kv_bytes_per_token_deployed"] = dep;
  json ac = json::array();
  for (const CurvePoint& pt : r.curve)
    ac.push_back({{"ctx", pt.ctx}, {"dense_s", pt.dense_s}, {"sparse_s", null_if_negative(pt.sparse_s)}});
  j["attention_cost"] = ac;
  j["attention_cost_method"] = "absorbed MLA, one decode query, all layers; kernels on random caches";
  json sk = json::array();
  for (const BenchSkip& s : r.skipped) sk.push_back({{"mode", s.mode}, {"test", s.test}, {"reason", s.reason}});
  j["skipped"] = sk;
  return j;
}

std::string bench_jsonl(const BenchReport& r) {
  std::string out;
  for (const BenchResult& x : r.results) {
    json j = result_json(r, x);
    j["model"] = r.context.value("model", "");
    j["preset"] = r.context.value("preset", "");
    j["threads"] = r.threads;
    j["peak_gflops"] = null_if_negative(r.peak_gflops);
    j["peak_gbps"] = null_if_negative(r.peak_gbps);
    out += j.dump() + "\n";
  }
  return out;
}

std::string bench_csv(const BenchReport& r) {
  std::string out =
      "model,size_bytes,threads,attn,mla,test,n_prompt,n_gen,depth,reps,mean_tps,stddev_tps,flops_per_token,"
      "weight_bytes_per_token,gflops,gbps,frac_fma_peak,frac_read_peak,peak_gflops,peak_gbps,comm_fraction\n";
  auto num = [](double v) { return v < 0 ? std::string() : strprintf("%.6g", v); };
  for (const BenchResult& x : r.results)
    out += strprintf("\"%s\",%.0f,%d,%s,%s,%s,%lld,%lld,%lld,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%s,%s,%s,%s,%s\n",
                  r.model_label.c_str(), r.size_bytes, r.threads, to_string(x.mode.attn), to_string(x.mode.mla),
                  x.test.c_str(), (long long)x.n_prompt, (long long)x.n_gen, (long long)x.depth, r.reps, x.mean,
                  x.stddev, x.cost.flops, x.cost.weight_bytes, x.cost.flops * x.mean / 1e9,
                  x.cost.weight_bytes * x.mean / 1e9, num(frac_fma_peak(r, x)).c_str(),
                  num(frac_read_peak(r, x)).c_str(), num(r.peak_gflops).c_str(), num(r.peak_gbps).c_str(),
                  num(comm_share(x.comm)).c_str());
  return out;
}

std::string bench_markdown(const BenchReport& r) {
  std::string out;
  const json& cx = r.context;
  if (cx.value("device", "cpu") == "cuda") out += "device: " + cx.value("device_name", "") + "\n";
  if (cx.value("numerics", "exact") != "exact") out += "numerics: " + cx.value("numerics", "") + "\n";
  if (r.peak_gflops > 0)
    out += strprintf("peaks (this process, %d threads): FMA %.1f GFLOP/s, read %.1f GB/s\n", r.threads, r.peak_gflops,
                  r.peak_gbps);
  out += "| model | size | threads | mode | test | t/s | GFLOP/token | weight MiB/token | of peak |\n"
         "|---|---:|---:|---|---:|---:|---:|---:|---:|\n";
  for (const BenchResult& x : r.results)
    out += strprintf("| %s | %.1f MiB | %d | %s | %s | %.2f ± %.2f | %.4g | %.1f | %s |\n", r.model_label.c_str(),
                  r.size_bytes / (1 << 20), r.threads, x.mode.name().c_str(), x.test.c_str(), x.mean, x.stddev,
                  x.cost.flops / 1e9, x.cost.weight_bytes / (1 << 20), roof_cell(r, x).c_str());
  for (const auto& [mode, wb] : r.decode_bandwidth) {  // calm-style summary: achieved weight bandwidth
    const BenchResult* best = nullptr;
    for (const BenchResult& x : r.results)
      if (x.mode.name() == mode && !x.prefill() && (!best || x.mean > best->mean)) best = &x;
    if (best)
      out += strprintf("%s decode: %.1f MiB of weights/token, best %s %.2f t/s = %.2f GB/s\n", mode.c_str(),
                    wb / (1 << 20), best->test.c_str(), best->mean, wb * best->mean / 1e9);
  }
  {
    std::vector<std::string> labels;
    std::vector<const CommSplit*> splits;
    for (const BenchResult& x : r.results) labels.push_back(x.mode.name() + " | " + x.test), splits.push_back(&x.comm);
    out += comm_markdown(labels, splits);
  }
  out += "\n| mode | KV bytes/token (fp32, this harness) | deployed bf16/fp8 layout | per layer (MLA + indexer) |\n"
         "|---|---:|---:|---:|\n";
  for (const auto& k : r.kv)
    out += strprintf("| %s | %lld | %lld | %lld + %lld |\n", k.name.c_str(), (long long)k.per_token,
                  (long long)k.deployed, (long long)k.mla_per_layer, (long long)k.indexer_per_layer);
  if (!r.curve.empty()) {
    out += strprintf("\nattention cost of one decode step, all %d layers, absorbed MLA (kernels, random caches):\n"
                  "| ctx | dense ms | sparse ms | sparse/dense |\n|---:|---:|---:|---:|\n", r.curve_layers);
    for (const CurvePoint& pt : r.curve)
      out += pt.sparse_s < 0 ? strprintf("| %lld | %.3f | - | - |\n", (long long)pt.ctx, pt.dense_s * 1e3)
                             : strprintf("| %lld | %.3f | %.3f | %.2f |\n", (long long)pt.ctx, pt.dense_s * 1e3,
                                      pt.sparse_s * 1e3, pt.sparse_s / pt.dense_s);
  }
  for (const BenchSkip& s : r.skipped) out += "skipped " + s.mode + " " + s.test + ": " + s.reason + "\n";
  return out;
}

}  // namespace dsv32::app
