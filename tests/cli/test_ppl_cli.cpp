// dsv32 ppl on the tiny preset (index_topk = 64) with the real DeepSeek tokenizer and the
// default text. Skips when the tokenizer or the datasets are not prepared (scripts/test does both).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "tests/cli/cli_util.h"
#include "tests/model/tiny_model.h"

namespace dsv32::testing {
namespace {
namespace fs = std::filesystem;

class Ppl : public ::testing::Test {
 protected:
  void SetUp() override {
    text_ = std::string(DSV32_SOURCE_DIR) + "/datasets/data/default.txt";
    tok_ = std::string(DSV32_SOURCE_DIR) + "/.cache/tokenizer/tokenizer.json";
    if (!fs::exists(text_)) GTEST_SKIP() << "no " << text_ << ": run datasets/prepare.sh";
    if (!fs::exists(tok_)) GTEST_SKIP() << "no " << tok_ << ": run scripts/fetch_tokenizer.sh";
    model_ = tiny_checkpoint();
    dir_ = fs::path(DSV32_BUILD_DIR) / ("ppl-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string base_args(int ctx, int chunks) const {
    return "ppl --quiet --model " + model_ + " --text " + text_ + " --tokenizer " + tok_ + " --ctx " +
           std::to_string(ctx) + " --chunks " + std::to_string(chunks);
  }
  std::string path(const std::string& f) const { return (dir_ / f).string(); }
  std::string text_, tok_, model_;
  fs::path dir_;
};

TEST_F(Ppl, KlOfARunAgainstItselfIsZero) {
  auto r = run_cli(base_args(96, 3) + " --attn sparse --mla absorbed --save-logits " + path("base.h5") +
                   " --json " + path("a.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  r = run_cli(base_args(96, 3) + " --attn sparse --mla absorbed --kl-base " + path("base.h5") + " --json " + path("b.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto a = read_json(path("a.json")), b = read_json(path("b.json"));
  EXPECT_EQ(a["ppl"], b["ppl"]);
  // Same model, same mode, same tokens: identical logits. The only difference left is the base's
  // storage: log-probs rounded to float32, |δ log p| ≤ |log p|·2^-24 with |log p| ≲ 2·ln(V) for
  // the tokens that carry mass, so KL = Σ p·δ ≤ 2·ln(V)·2^-24 ≈ 1.4e-6.
  EXPECT_LE(b["kl"]["kld_max"].get<double>(), 2 * std::log(129280.0) * std::ldexp(1.0, -24));
  EXPECT_EQ(b["kl"]["same_top1_pct"].get<double>(), 100.0);
  EXPECT_NEAR(b["kl"]["ppl_ratio"].get<double>(), 1.0, 1e-6);  // base NLL stored as float32
  EXPECT_EQ(b["tokens_scored"], 3 * (96 - 1 - 48));
}

TEST_F(Ppl, DenseAndSparseAgreeWithinTopkAndDifferBeyond) {
  // ctx 64 = index_topk: every query sees ≤ 64 positions, so sparse ≡ dense exactly.
  auto r = run_cli(base_args(64, 2) + " --compare --json " + path("c64.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto c = read_json(path("c64.json"));
  ASSERT_EQ(c["modes"].size(), 4u);
  for (auto& m : c["modes"])
    if (m["attn"] == "sparse") {
      // KL against dense/naive: only naive/absorbed rounding (~1e-6 relative in the logits) remains.
      EXPECT_LT(m["kl"]["kld_max"].get<double>(), 1e-9) << m.dump();
    }
  r = run_cli(base_args(160, 2) + " --compare --json " + path("c160.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  c = read_json(path("c160.json"));
  double kl_sparse = 0, kl_dense_absorbed = 1;
  for (auto& m : c["modes"]) {
    if (m["attn"] == "sparse") kl_sparse = std::max(kl_sparse, m["kl"]["kld_mean"].get<double>());
    if (m["attn"] == "dense" && m["mla"] == "absorbed") kl_dense_absorbed = m["kl"]["kld_mean"].get<double>();
  }
  EXPECT_GT(kl_sparse, 1e-6) << "queries past position 64 attend to a subset: distributions must move";
  EXPECT_LT(kl_dense_absorbed, 1e-9) << "naive vs absorbed differ only in rounding";
  EXPECT_NE(r.out.find("| sparse/absorbed"), std::string::npos) << r.out;
}

TEST_F(Ppl, BadInputIsAOneLineError) {
  auto r = run_cli(base_args(64, 1) + " --text /nonexistent.txt");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("/nonexistent.txt: cannot open"), std::string::npos) << r.out;
  r = run_cli(base_args(100000, 1));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("fewer than one chunk"), std::string::npos) << r.out;
  r = run_cli(base_args(64, 1) + " --kl-base " + path("missing.h5"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("missing.h5"), std::string::npos) << r.out;
  r = run_cli(base_args(64, 1) + " --tokenizer /nonexistent/tokenizer.json");
  EXPECT_EQ(r.status, 2);
  // A base made with another --ctx scores other tokens: refused, not silently misaligned.
  ASSERT_EQ(run_cli(base_args(64, 2) + " --save-logits " + path("b64.h5")).status, 0);
  r = run_cli(base_args(96, 1) + " --kl-base " + path("b64.h5"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("signature"), std::string::npos) << r.out;
}

TEST_F(Ppl, ExistingStateNeedsResumeOrFresh) {
  const std::string args = base_args(64, 2) + " --json " + path("s.json");
  ASSERT_EQ(run_cli(args + " --save-logits " + path("s.h5")).status, 0);
  EXPECT_FALSE(fs::exists(path("s.json.state"))) << "a finished run's JSON holds the results";
  { std::ofstream(path("s.json.state")) << "{}\n"; }
  auto r = run_cli(args);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("--resume"), std::string::npos) << r.out;
  EXPECT_EQ(run_cli(args + " --fresh").status, 0);
}

}  // namespace
}  // namespace dsv32::testing
