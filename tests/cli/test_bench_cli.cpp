// `dsv32 bench` contract: on the tiny model with tiny settings it exits 0, prints the llama-bench
// style table and writes the kind "bench" JSON of reports/RESULTS.md; --pp/--tg lists and --depths
// give every size at every depth (pp@d included); -o md|csv|json|jsonl put one format on stdout;
// the FLOPs and weight bytes per token equal docs/MODEL.md §5.5 evaluated here from config.json;
// bad options exit 2 with a one-line error. No speed goal is asserted here (timings on a shared
// machine are not a test).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/cli_util.h"
#include "tests/model/tiny_model.h"

namespace dsv32::testing {
namespace {

using Result = CliResult;
Result dsv32(const std::string& args) { return run_cli(args); }

std::string tmp_json(const char* tag) {
  return (std::filesystem::temp_directory_path() /
          ("dsv32_bench_" + std::string(tag) + "_" + std::to_string(getpid()) + ".json")).string();
}

// stdout alone (stderr dropped): what `-o FMT > file` would hold.
Result dsv32_stdout(const std::string& args) {
  Result r;
  FILE* p = popen((std::string(DSV32_BIN) + " " + args + " 2>/dev/null").c_str(), "r");
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(BenchCli, TinyModelWritesDocumentedJson) {
  const std::string m = tiny_checkpoint();
  const std::string out = tmp_json("all");
  Result r = dsv32("bench --model " + m + " --pp 16 --tg 4 --depths 0,32 --reps 2 --curve 64,128 --json " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("| model | size | threads | mode | test | t/s | GFLOP/token | weight MiB/token | of peak |"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| sparse/absorbed | tg4@d32 |"), std::string::npos) << r.out;

  std::ifstream f(out);
  ASSERT_TRUE(f.good()) << out;
  nlohmann::json j = nlohmann::json::parse(f);
  std::filesystem::remove(out);
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["kind"], "bench");
  for (const char* k : {"git_commit", "time", "machine", "producer", "version", "model", "preset", "device"})
    EXPECT_TRUE(j["context"].contains(k)) << k;
  EXPECT_EQ(j["context"]["preset"], "tiny");
  EXPECT_EQ(j["context"]["producer"], "dsv32 bench");

  EXPECT_GT(j["context"]["peak_gflops"].get<double>(), 0.0);
  EXPECT_GT(j["context"]["peak_gbps"].get<double>(), 0.0);
  EXPECT_EQ(j["settings"]["pp"], 16);  // the first size, as before the lists
  EXPECT_EQ(j["settings"]["pp_list"], nlohmann::json::array({16}));

  // 4 modes x (pp16, pp16@d32, tg4, tg4@d32).
  ASSERT_EQ(j["results"].size(), 16u) << j["results"].dump(1);
  std::set<std::string> seen;
  for (const auto& t : j["results"]) {
    for (const char* k : {"attn", "mla", "test", "n_prompt", "n_gen", "depth", "reps", "tokens_per_s", "mean", "stddev"})
      ASSERT_TRUE(t.contains(k)) << k << " in " << t.dump();
    EXPECT_EQ(t["reps"], 2);
    ASSERT_EQ(t["tokens_per_s"].size(), 2u);
    for (double v : t["tokens_per_s"]) EXPECT_GT(v, 0.0);
    EXPECT_GT(t["mean"].get<double>(), 0.0);
    EXPECT_GE(t["stddev"].get<double>(), 0.0);
    const std::string test = t["test"];
    if (test == "pp16") {
      EXPECT_EQ(t["n_prompt"], 16);
    }
    if (test == "pp16@d32") {
      EXPECT_EQ(t["depth"], 32);
      EXPECT_EQ(t["n_prompt"], 16);
      EXPECT_EQ(t["roof"], "fma");
    }
    if (test == "tg4@d32") {
      EXPECT_EQ(t["roof"], "read");
      EXPECT_EQ(t["depth"], 32);
      EXPECT_EQ(t["n_gen"], 4);
    }
    seen.insert(t["attn"].get<std::string>() + "_" + t["mla"].get<std::string>() + ":" + test);
  }
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_TRUE(seen.count("dense_naive:tg4"));

  // KV bytes per mode: the latent cache is the small one; the indexer adds to sparse modes.
  const auto& kv = j["kv_bytes_per_token"];
  for (const char* k : {"dense_naive", "dense_absorbed", "sparse_naive", "sparse_absorbed"})
    ASSERT_TRUE(kv.contains(k)) << k;
  EXPECT_LT(kv["dense_absorbed"].get<int64_t>(), kv["dense_naive"].get<int64_t>());
  EXPECT_GT(kv["sparse_absorbed"].get<int64_t>(), kv["dense_absorbed"].get<int64_t>());

  ASSERT_EQ(j["attention_cost"].size(), 2u);
  EXPECT_EQ(j["attention_cost"][0]["ctx"], 64);
  for (const auto& pt : j["attention_cost"]) {
    EXPECT_GT(pt["dense_s"].get<double>(), 0.0);
    EXPECT_GT(pt["sparse_s"].get<double>(), 0.0);
  }
}

TEST(BenchCli, ModeSubsetAndMemoryBudgetSkips) {
  const std::string m = tiny_checkpoint();
  const std::string out = tmp_json("budget");
  // A 1 MiB budget cannot hold the 4096-position cache of tg2@d4096 but holds tg2 at depth 0.
  Result r = dsv32("bench --model " + m + " --modes dense/absorbed --pp 0 --tg 2 --depths 0,4096 "
                   "--reps 1 --curve 0 --mem-budget 1 --json " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("skipped dense/absorbed tg2@d4096"), std::string::npos) << r.out;
  std::ifstream f(out);
  nlohmann::json j = nlohmann::json::parse(f);
  std::filesystem::remove(out);
  ASSERT_EQ(j["results"].size(), 1u) << j.dump(1);
  EXPECT_EQ(j["results"][0]["test"], "tg2");
  EXPECT_EQ(j["skipped"].size(), 1u);
  EXPECT_TRUE(j["attention_cost"].empty());
}

TEST(BenchCli, BadOptionsExit2) {
  const std::string m = tiny_checkpoint();
  struct Case { std::string args, needle; };
  const Case cases[] = {
      {"bench --model " + m + " --modes dense/fused", "--modes: 'dense/fused'"},
      {"bench --model " + m + " --modes fast", "--modes: 'fast'"},
      {"bench --model " + m + " --reps 0", "--reps"},
      {"bench --model " + m + " --pp -1", "--pp"},
      {"bench --model " + m + " --pp 0 --tg 0", "nothing to measure"},
      {"bench --model " + m + " --pp 8,x", "--pp: 'x' is not an integer"},
      {"bench --model " + m + " --pp 8,-4", "--pp: -4 is negative"},
      {"bench --model " + m + " --tg 2,-1", "--tg: -1 is negative"},
      {"bench --model " + m + " -o xml", "-o: 'xml' is not one of md, csv, json, jsonl"},
      {"bench --model " + m + " -o", "option -o needs a value"},
      {"bench --model " + m + " --depths 0,x", "'x' is not an integer"},
      {"bench --model " + m + " --depths -5", "--depths"},
      {"bench --model " + m + " --threads 0", "--threads"},
      {"bench --model " + m + " --bogus", "unknown option '--bogus'"},
      {"bench --model /nonexistent/model", "/nonexistent/model"},
      {"bench", "missing required option --model"},
  };
  for (const Case& c : cases) {
    Result r = dsv32(c.args);
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find("error"), std::string::npos) << c.args << "\n" << r.out;
  }
  const std::string v3 = tiny_checkpoint(SynthWeights::kBf16, 3, "DeepseekV3ForCausalLM");
  Result r = dsv32("bench --model " + v3 + " --modes sparse/absorbed --pp 4 --tg 0");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("lightning indexer"), std::string::npos) << r.out;
}

// --pp and --tg lists at every --depths value, in each -o format: the same 16 tests
// (2 modes x 2 depths x {pp8, pp16, tg2, tg3}) whichever format carries them.
TEST(BenchCli, ListsAtEveryDepthInEachFormat) {
  const std::string base = "bench --model " + tiny_checkpoint() +
                           " --modes dense/absorbed,sparse/naive --pp 8,16 --tg 2,3 --depths 0,24 --reps 1 --curve 0";
  std::set<std::string> want;
  for (const char* mode : {"dense/absorbed", "sparse/naive"})
    for (const char* t : {"pp8", "pp16", "tg2", "tg3", "pp8@d24", "pp16@d24", "tg2@d24", "tg3@d24"})
      want.insert(std::string(mode) + " " + t);

  Result jl = dsv32_stdout(base + " -o jsonl");
  ASSERT_EQ(jl.status, 0) << jl.out;
  std::set<std::string> seen;
  const std::vector<std::string> lines = lines_of(jl.out);
  EXPECT_EQ(lines.size(), 16u) << jl.out;
  for (const std::string& line : lines) {
    nlohmann::json t = nlohmann::json::parse(line);  // one whole object per line
    seen.insert(t["attn"].get<std::string>() + "/" + t["mla"].get<std::string>() + " " + t["test"].get<std::string>());
    EXPECT_EQ(t["preset"], "tiny");
    EXPECT_EQ(t["threads"], 2);
    const std::string test = t["test"];
    EXPECT_EQ(t["depth"], test.find("@d24") != std::string::npos ? 24 : 0) << line;
    EXPECT_EQ(t["roof"], test[0] == 'p' ? "fma" : "read") << line;
  }
  EXPECT_EQ(seen, want);

  Result csv = dsv32_stdout(base + " -o csv");
  ASSERT_EQ(csv.status, 0) << csv.out;
  const std::vector<std::string> rows = lines_of(csv.out);
  ASSERT_EQ(rows.size(), 17u) << csv.out;  // header + one row per test
  EXPECT_EQ(rows[0].rfind("model,size_bytes,threads,attn,mla,test,n_prompt,n_gen,depth,reps,mean_tps,", 0), 0u) << rows[0];
  auto fields = [](const std::string& row) { return std::count(row.begin(), row.end(), ',') + 1; };
  for (const std::string& row : rows) EXPECT_EQ(fields(row), fields(rows[0])) << row;
  EXPECT_NE(csv.out.find(",sparse,naive,pp16@d24,16,0,24,1,"), std::string::npos) << csv.out;

  Result md = dsv32_stdout(base + " -o md");
  ASSERT_EQ(md.status, 0) << md.out;
  EXPECT_NE(md.out.find("| model | size | threads | mode | test | t/s | GFLOP/token | weight MiB/token | of peak |"),
            std::string::npos) << md.out;
  for (const std::string& w : want) {
    const std::string cell = "| " + w.substr(0, w.find(' ')) + " | " + w.substr(w.find(' ') + 1) + " |";
    EXPECT_NE(md.out.find(cell), std::string::npos) << cell << "\n" << md.out;
  }
  EXPECT_NE(md.out.find("% FMA |"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("% BW |"), std::string::npos) << md.out;

  Result js = dsv32_stdout(base + " -o json");
  ASSERT_EQ(js.status, 0) << js.out;
  nlohmann::json j = nlohmann::json::parse(js.out);  // stdout is the document alone
  EXPECT_EQ(j["kind"], "bench");
  EXPECT_EQ(j["results"].size(), 16u);
  EXPECT_EQ(j["settings"]["pp_list"], nlohmann::json::array({8, 16}));
  EXPECT_EQ(j["settings"]["tg_list"], nlohmann::json::array({2, 3}));
}

// docs/MODEL.md §5.5 evaluated here from config.json alone: the tiny checkpoint is FP8 e4m3 with
// 128 x 128 fp32 block scales, the router, weights_proj and lm_head BF16 (MODEL §1.3).
struct Expected {
  nlohmann::json c;
  int64_t at(const char* k) const { return c.at(k).get<int64_t>(); }
  static double f8(double n, double k) { return n * k + std::ceil(n / 128) * std::ceil(k / 128) * 4; }
  static double bf16(double n, double k) { return 2 * n * k; }

  // (flops per token, weight bytes per token) of n tokens at positions [d, d + n).
  std::pair<double, double> cost(bool sparse, bool naive, int64_t d, int64_t n, bool head) const {
    const double V = at("vocab_size"), D = at("hidden_size"), I = at("intermediate_size");
    const double Im = at("moe_intermediate_size"), H = at("num_attention_heads"), E = at("n_routed_experts");
    const double K = at("num_experts_per_tok"), Ks = at("n_shared_experts"), rq = at("q_lora_rank");
    const double rkv = at("kv_lora_rank"), dn = at("qk_nope_head_dim"), dr = at("qk_rope_head_dim");
    const double dv = at("v_head_dim"), HI = at("index_n_heads"), dI = at("index_head_dim"), k = at("index_topk");
    const int64_t L = at("num_hidden_layers"), dense_layers = at("first_k_dense_replace");
    double macs = 0, bytes = 0;
    for (int64_t l = 0; l < L; ++l) {
      macs += D * rq + rq * H * (dn + dr) + D * (rkv + dr) + rkv * H * (dn + dv) + H * dv * D;
      bytes += f8(rq, D) + f8(H * (dn + dr), rq) + f8(rkv + dr, D) + f8(D, H * dv);
      bytes += naive ? f8(H * (dn + dv), rkv) : H * rkv * dn * 4 + f8(H * (dn + dv), rkv) * dv / (dn + dv);
      if (sparse) {
        macs += rq * HI * dI + D * dI + D * HI;
        bytes += f8(HI * dI, rq) + f8(dI, D) + bf16(HI, D);
      }
      if (l < dense_layers) {
        macs += 3 * D * I;
        bytes += 2 * f8(I, D) + f8(D, I);
      } else {
        macs += D * E + (K + Ks) * 3 * D * Im;
        bytes += bf16(E, D) + K * (2 * f8(Im, D) + f8(D, Im)) + 2 * f8(Ks * Im, D) + f8(D, Ks * Im);
      }
    }
    if (head) macs += V * D, bytes += bf16(V, D);
    double att = 0;
    for (int64_t t = d; t < d + n; ++t) {
      const double keys = double(t + 1), m = sparse ? std::min(keys, k) : keys;
      att += double(L) * ((naive ? H * (dn + dr + dv) : H * (2 * rkv + dr)) * m + (sparse ? HI * dI * keys : 0));
    }
    return {2 * (macs + att / double(n)), bytes};
  }
};

TEST(BenchCli, FlopsAndBytesPerTokenMatchTheFormula) {
  const std::string m = tiny_checkpoint();
  Expected ex{read_json(m + "/config.json")};
  ASSERT_LT(ex.at("index_topk"), 80);  // depth 70 + 8 passes k: the sparse min(n, k) term is exercised
  Result r = dsv32_stdout("bench --model " + m + " --pp 8 --tg 2 --depths 0,70 --reps 1 --curve 0 -o jsonl");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 16u) << r.out;  // 4 modes x {pp8, tg2} x 2 depths
  for (const std::string& line : lines) {
    nlohmann::json t = nlohmann::json::parse(line);
    const bool decode = t["n_gen"].get<int64_t>() > 0;
    const int64_t n = decode ? t["n_gen"].get<int64_t>() : t["n_prompt"].get<int64_t>();
    auto [flops, bytes] = ex.cost(t["attn"] == "sparse", t["mla"] == "naive", t["depth"].get<int64_t>(), n, decode);
    const double f = t["flops_per_token"].get<double>(), b = t["weight_bytes_per_token"].get<double>();
    EXPECT_GT(f, 0.0) << line;
    EXPECT_GT(b, 0.0) << line;
    // Sums of integers below 2^53 and one division: equal to a few ulps.
    EXPECT_NEAR(f, flops, 1e-12 * flops) << line;
    EXPECT_NEAR(b, bytes, 1e-12 * bytes) << line;
    // The achieved rates follow from them and tokens/s; the fractions from the measured peaks.
    EXPECT_NEAR(t["gflops"].get<double>(), f * t["mean"].get<double>() / 1e9, 1e-9 * f * t["mean"].get<double>() / 1e9);
    EXPECT_NEAR(t["frac_fma_peak"].get<double>(), t["gflops"].get<double>() / t["peak_gflops"].get<double>(),
                1e-9 * t["frac_fma_peak"].get<double>());
    EXPECT_NEAR(t["frac_read_peak"].get<double>(), t["gbps"].get<double>() / t["peak_gbps"].get<double>(),
                1e-9 * t["frac_read_peak"].get<double>());
  }
}


}  // namespace
}  // namespace dsv32::testing
