// dsv32 report and dsv32 compare end to end on the small fixtures in tests/cli/fixtures/report:
// every section gets its plots, missing kinds say "no data", bad JSON is a one-line exit-2 error,
// the SQLite history round-trips, and compare's exit status gates CI (0 ok, 1 regression, 2 error).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::string kFix = DSV32_SOURCE_DIR "/tests/cli/fixtures/report/";

struct Result {
  int status = -1;
  std::string out;  // stdout + stderr
};

Result dsv32(const std::string& args) {
  Result r;
  FILE* p = popen((std::string(DSV32_BIN) + " " + args + " 2>&1").c_str(), "r");
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Scratch directories, removed when the test program ends.
struct TempDirs : ::testing::Environment {
  std::vector<std::string> dirs;
  void TearDown() override {
    for (auto& d : dirs) std::filesystem::remove_all(d);
  }
};
TempDirs* g_tmp = static_cast<TempDirs*>(::testing::AddGlobalTestEnvironment(new TempDirs));

std::string temp_dir() {
  char tmpl[] = "/tmp/dsv32_report_XXXXXX";
  g_tmp->dirs.push_back(mkdtemp(tmpl));
  return g_tmp->dirs.back();
}

// The text of <section id="ID"> ... </section>.
std::string section(const std::string& html, const std::string& id) {
  size_t a = html.find("<section id=\"" + id + "\">");
  if (a == std::string::npos) return "";
  return html.substr(a, html.find("</section>", a) - a);
}

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

TEST(Report, AllSectionsHavePlotsFromFixtures) {
  const std::string d = temp_dir();
  Result r = dsv32("report " + kFix + "verify_dense_naive.json " + kFix + "verify_sparse_raw.json " + kFix + "ppl.json " +
                   kFix + "bench_base.json " + kFix + "ops_base.json --dir " + d + " --title 'fixture report'");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string html = slurp(d + "/index.html"), md = slurp(d + "/report.md");
  for (const char* id : {"accuracy", "ppl", "throughput", "ops"}) {
    std::string s = section(html, id);
    EXPECT_GE(count(s, "<svg class=\"plot\""), 1u) << id;
    EXPECT_GE(count(s, "class=\"data\""), 2u) << id;  // drawn data, not just axes
    EXPECT_EQ(s.find("no data"), std::string::npos) << id;
  }
  EXPECT_EQ(html.find("<section id=\"trends\">"), std::string::npos);  // only with --history
  // Self-contained: no external references of any kind.
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_NE(html.find("<title>fixture report</title>"), std::string::npos);
  // Directions stated, modes and tensors named in forward order.
  EXPECT_NE(html.find("lower is better"), std::string::npos);
  EXPECT_NE(html.find("higher is better"), std::string::npos);
  EXPECT_NE(html.find("sparse_absorbed"), std::string::npos);  // mode of the envelope-less verify file
  EXPECT_LT(html.find("layers/00/attn_norm"), html.find("layers/01/attn_norm"));
  // Markdown twin: the same sections as tables, numbers right-aligned.
  EXPECT_NE(md.find("## Accuracy by tensor and mode"), std::string::npos);
  EXPECT_NE(md.find("| dense/naive | pass |"), std::string::npos) << md.substr(0, 2000);
  EXPECT_NE(md.find("---:|"), std::string::npos);
  EXPECT_EQ(count(md, "_no data_"), 1u);  // the DSA section: these fixtures have no ppl --modes file
  EXPECT_NE(section(html, "dsa").find("no data"), std::string::npos);
}

// A dense run has no indexer_* tensors: merged with a sparse run they still sit in forward order
// (between kv_latent and attn_out of their layer), not at the end of the axis. Provenance and local
// error from the verify JSON appear in the accuracy section.
TEST(Report, SparseOnlyTensorsMergeInForwardOrderAndOriginsShow) {
  const std::string d = temp_dir();
  Result r = dsv32("report " + kFix + "verify_dense_naive.json " + kFix + "verify_sparse_prov.json --dir " + d);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string md = slurp(d + "/report.md");
  auto row = [&](const std::string& name) { return md.find("| " + name + " |"); };
  ASSERT_NE(row("layers/00/indexer_q"), std::string::npos) << md;
  EXPECT_LT(row("layers/00/kv_latent"), row("layers/00/indexer_q"));
  EXPECT_LT(row("layers/00/indexer_q"), row("layers/00/indexer_k"));
  EXPECT_LT(row("layers/00/indexer_scores"), row("layers/00/indexer_topk"));
  EXPECT_LT(row("layers/00/indexer_topk"), row("layers/00/attn_out"));
  EXPECT_LT(row("layers/01/indexer_q"), row("layers/01/attn_out"));
  EXPECT_LT(row("layers/01/residual"), row("final_norm"));
  EXPECT_NE(md.find("first origin"), std::string::npos);
  EXPECT_NE(md.find("layers/00/attn_out @9"), std::string::npos) << md.substr(0, 3000);
  EXPECT_NE(md.find("| layers/01/o_proj |"), std::string::npos);
  EXPECT_NE(md.find("80 @0 systematic"), std::string::npos);
  EXPECT_NE(md.find("local NMSE"), std::string::npos);
  EXPECT_NE(md.find("4.000e-12"), std::string::npos);
}

TEST(Report, MissingKindsSayNoData) {
  const std::string d = temp_dir();
  Result r = dsv32("report " + kFix + "bench_base.json --dir " + d);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string html = slurp(d + "/index.html");
  for (const char* id : {"accuracy", "ppl", "dsa", "ops"}) EXPECT_NE(section(html, id).find("no data"), std::string::npos) << id;
  EXPECT_EQ(section(html, "throughput").find("no data"), std::string::npos);
  Result empty = dsv32("report --dir " + d);
  EXPECT_EQ(empty.status, 0) << empty.out;
  EXPECT_EQ(count(slurp(d + "/report.md"), "_no data_"), 5u);
}

// The DSA section from eval's ppl --modes files and a recall file (fixtures from an eval run on a
// micro-preset model): every question answered with the numbers of the files.
TEST(Report, DsaSectionAnswersTheQuestionsWithNumbers) {
  const std::string d = temp_dir();
  Result r = dsv32("report " + kFix + "dsa_ctx512.json " + kFix + "dsa_ctx1024.json " + kFix + "recall.json --dir " + d);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string html = slurp(d + "/index.html"), md = slurp(d + "/report.md");
  const std::string s = section(html, "dsa");
  EXPECT_EQ(s.find("no data"), std::string::npos);
  EXPECT_EQ(count(s, "<svg class=\"plot\""), 3u);  // PPL by ctx, PPL against index_topk, recall by layer
  EXPECT_NE(md.find("## Sparse attention (DSA) and numerics on this model"), std::string::npos);
  // dense vs sparse by ctx, with error bars, KLD and the scored-token count (2 chunks x 255 at 512)
  EXPECT_NE(md.find("| 512 | 4 | 1020 | 16 | 1556.445 | 173.850 | 1547.078 | 172.611 | -0.60 % | 3.140e-02 |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| 1024 | 2 | 1022 | 16 |"), std::string::npos) << md;
  // the index_topk curve at ctx 1024
  EXPECT_NE(md.find("Sparse perplexity against index_topk (ctx 1024)"), std::string::npos);
  EXPECT_NE(md.find("| 256 | 1663.559 |"), std::string::npos) << md;
  // the trade-offs: distilled vs random indexer, REF-1 cost, in a table and in words
  EXPECT_NE(md.find("| sparse, random indexer of the same shape | 16 | 1588.640 |"), std::string::npos) << md;
  EXPECT_NE(md.find("KLD exact → ref1 4.894e-04"), std::string::npos) << md;
  EXPECT_NE(md.find("with a random indexer of the same shape +2.07 %"), std::string::npos) << md;
  // comparison lines: the real model and the unigram baseline
  EXPECT_NE(md.find("2.9115 dense vs 2.9126 sparse"), std::string::npos);
  EXPECT_NE(md.find("Unigram baseline on the same scored tokens"), std::string::npos);
  EXPECT_NE(md.find("PPL 2176.7"), std::string::npos) << md;
  EXPECT_NE(md.find("add-one"), std::string::npos);
  // recall per layer and k
  EXPECT_NE(md.find("| k = 16 (index_topk) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 0 | 0.0282 | 0.0558 |"), std::string::npos) << md;
}

TEST(Report, MalformedInputIsOneLineErrorNamingFileAndKey) {
  const std::string d = temp_dir();
  Result r = dsv32("report " + kFix + "bad_bench.json --dir " + d);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("bad_bench.json: key 'results[0].tokens_per_s[1]': expected a number"), std::string::npos) << r.out;
  EXPECT_EQ(count(r.out, "\n"), 1u) << r.out;
  r = dsv32("report " + kFix + "not_json.json --dir " + d);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("not_json.json: not valid JSON"), std::string::npos) << r.out;
  r = dsv32("report /nonexistent/x.json --dir " + d);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("/nonexistent/x.json: cannot open"), std::string::npos) << r.out;
}

TEST(Report, HistoryRoundTrip) {
  const std::string d = temp_dir(), db = d + "/history.sqlite";
  ASSERT_EQ(dsv32("report " + kFix + "bench_base.json --record --history " + db + " --dir " + d).status, 0);
  // Recording the same run again replaces it rather than adding a point.
  ASSERT_EQ(dsv32("report " + kFix + "bench_base.json --record --history " + db + " --dir " + d).status, 0);
  Result r = dsv32("report " + kFix + "bench_slow.json --record --history " + db + " --dir " + d);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string trends = section(slurp(d + "/index.html"), "trends");
  ASSERT_FALSE(trends.empty());
  EXPECT_EQ(trends.find("no data"), std::string::npos);
  // One chart (tokens_per_s) with one line per mode and test, each with the two commits.
  EXPECT_EQ(count(trends, "<svg class=\"plot\""), 1u);
  EXPECT_NE(trends.find("data-series=\"8\" data-points=\"16\""), std::string::npos) << trends.substr(0, 600);
  EXPECT_NE(trends.find(">11111111<"), std::string::npos);  // x ticks: short commits, oldest first
  EXPECT_LT(trends.find(">11111111<"), trends.find(">22222222<"));
  // Rendering trends alone (no inputs) from the database works too.
  Result only = dsv32("report --history " + db + " --dir " + d);
  EXPECT_EQ(only.status, 0) << only.out;
  EXPECT_NE(section(slurp(d + "/index.html"), "trends").find("data-points=\"16\""), std::string::npos);
}

TEST(Compare, FlagsRealRegressionAndExitsOne) {
  const std::string d = temp_dir();
  Result r = dsv32("compare " + kFix + "bench_base.json " + kFix + "bench_slow.json --json " + d + "/cmp.json");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("-20.00%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("regressed"), std::string::npos);
  auto j = nlohmann::json::parse(slurp(d + "/cmp.json"));
  EXPECT_TRUE(j["regression"].get<bool>());
  EXPECT_EQ(j["rows"].size(), 8u);
  EXPECT_EQ(j["rows"][0]["direction"], "higher_is_better");
  EXPECT_NEAR(j["rows"][0]["p"].get<double>(), 2.0 / 252.0, 1e-9);
  // ops: time, lower is better, Google Benchmark repetitions.
  r = dsv32("compare " + kFix + "ops_base.json " + kFix + "ops_slow.json");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_EQ(count(r.out, "regressed"), 4u) << r.out;  // three rows + the summary line
  EXPECT_EQ(dsv32("compare " + kFix + "ops_slow.json " + kFix + "ops_base.json").status, 0);
  // ppl: sparse modes 25 % worse, beyond the error; dense 0.1 % worse, within it.
  r = dsv32("compare " + kFix + "ppl.json " + kFix + "ppl_worse.json");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_EQ(count(r.out, "regressed"), 3u) << r.out;  // two rows + the summary line
}

TEST(Compare, NoiseTinyChangesAndFewRepsDoNotFail) {
  Result r = dsv32("compare " + kFix + "bench_base.json " + kFix + "bench_noise.json");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(count(r.out, "unchanged"), 9u) << r.out;  // 8 rows + summary
  r = dsv32("compare " + kFix + "bench_tight_base.json " + kFix + "bench_tight_1pct.json");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("-1.00%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0 regressed, 0 improved, 8 unchanged"), std::string::npos) << r.out;
  // With alpha 0.01, 5 vs 3 repetitions (min p = 2/56) cannot show anything.
  r = dsv32("compare " + kFix + "bench_base.json " + kFix + "bench_three.json --alpha 0.01");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(count(r.out, "insufficient data"), 9u) << r.out;  // 8 rows + summary
}

TEST(Compare, ErrorsExitTwo) {
  Result r = dsv32("compare " + kFix + "ppl.json " + kFix + "bench_base.json");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("kind 'bench' differs"), std::string::npos) << r.out;
  EXPECT_EQ(dsv32("compare " + kFix + "bench_base.json").status, 2);
  EXPECT_EQ(dsv32("compare " + kFix + "verify_dense_naive.json " + kFix + "verify_dense_naive.json").status, 2);
  EXPECT_EQ(dsv32("compare " + kFix + "bad_bench.json " + kFix + "bench_base.json").status, 2);
  EXPECT_EQ(dsv32("compare " + kFix + "bench_base.json " + kFix + "bench_slow.json --alpha 2").status, 2);
}

}  // namespace
