// `dsv32 bench` contract: on the tiny model with tiny settings it exits 0, prints the llama-bench
// style table and writes the kind "bench" JSON of reports/RESULTS.md; bad options exit 2 with a
// one-line error. No speed goal is asserted here (timings on a shared machine are not a test).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

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

TEST(BenchCli, TinyModelWritesDocumentedJson) {
  const std::string m = tiny_checkpoint();
  const std::string out = tmp_json("all");
  Result r = dsv32("bench --model " + m + " --pp 16 --tg 4 --depths 0,32 --reps 2 --curve 64,128 --json " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("| model | size | threads | mode | test | t/s |"), std::string::npos) << r.out;
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

  // 4 modes x (pp16, tg4, tg4@d32).
  ASSERT_EQ(j["results"].size(), 12u) << j["results"].dump(1);
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
    if (test == "tg4@d32") {
      EXPECT_EQ(t["depth"], 32);
      EXPECT_EQ(t["n_gen"], 4);
    }
    seen.insert(t["attn"].get<std::string>() + "_" + t["mla"].get<std::string>() + ":" + test);
  }
  EXPECT_EQ(seen.size(), 12u);
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

}  // namespace
}  // namespace dsv32::testing
