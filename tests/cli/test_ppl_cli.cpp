// dsv32 ppl on the tiny preset (index_topk = 64) with the real DeepSeek tokenizer and the
// default text. Skips when the tokenizer or the datasets are not prepared (scripts/test does both).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "tests/cli/cli_util.h"
#include "tests/cli/ppl_fixture.h"
#include "tests/model/tiny_model.h"
#include "verify/llama_kld.h"

namespace dsv32::testing {
namespace {
namespace fs = std::filesystem;

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

// llama-perplexity's chunks: the --llama-logits file's token stream is [BOS] + the text's tokens
// (cut to chunks x ctx), so chunk i starts at stream[i*ctx]; the legacy chunking is one token later.
// Reading the file back as a base gives KL ~ 0 and `dsv32 kld` of the file against itself exactly 0.
TEST_F(Ppl, LlamaChunksAndLogitsFileRoundTrip) {
  auto r = run_cli(base_args(64, 2) + " --attn dense --llama-logits " + path("a.kld") + " --json " + path("a.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto ids = run_cli("tokenize --tokenizer " + tok_ + " --file " + text_);
  auto bos = run_cli("tokenize --tokenizer " + tok_ + " --file /dev/null --bos");
  ASSERT_EQ(ids.status, 0);
  std::vector<int32_t> want = {std::stoi(bos.out)};
  std::stringstream ss(ids.out);
  for (std::string t; std::getline(ss, t, ',');) want.push_back(std::stoi(t));
  want.resize(2 * 64);
  LlamaLogitsReader f(path("a.kld"));
  EXPECT_EQ(f.header().n_ctx, 64);
  EXPECT_EQ(f.header().n_chunk, 2);
  EXPECT_EQ(f.header().tokens, want);
  auto a = read_json(path("a.json"));
  EXPECT_EQ(a["tokens_scored"], 2 * (64 - 1 - 32));

  r = run_cli("ppl --quiet --model " + model_ + " --tokenizer " + tok_ + " --attn dense --llama-kl-base " +
              path("a.kld") + " --json " + path("b.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto b = read_json(path("b.json"));
  EXPECT_EQ(a["ppl"], b["ppl"]) << "the base file's tokens are the same chunks";
  // Same logits on both sides; the base is quantized to half a code step (16/65535/2 = 1.22e-4 in
  // log p, plus float rounding), and KL = Σ p_base·δ, so |KL| <= 1.3e-4 per token.
  EXPECT_LE(std::fabs(b["kl"]["kld_max"].get<double>()), 1.3e-4);
  EXPECT_LE(std::fabs(b["kl"]["kld_mean"].get<double>()), 1.3e-4);
  EXPECT_NEAR(b["kl"]["ppl_ratio"].get<double>(), 1.0, 2e-4);

  r = run_cli("kld " + path("a.kld") + " " + path("a.kld") + " --json " + path("k.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto k = read_json(path("k.json"));
  EXPECT_EQ(k["kl"]["kld_max"].get<double>(), 0.0);
  EXPECT_EQ(k["kl"]["same_top1_pct"].get<double>(), 100.0);
  EXPECT_EQ(k["tokens_scored"], 62);

  // The legacy chunking scores other tokens: its file's stream lacks the prepended BOS.
  r = run_cli(base_args(64, 2) + " --attn dense --legacy-chunks --llama-logits " + path("l.kld"));
  ASSERT_EQ(r.status, 0) << r.out;
  LlamaLogitsReader l(path("l.kld"));
  EXPECT_EQ(l.header().tokens[64], want[65]);
  r = run_cli("kld " + path("a.kld") + " " + path("l.kld"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("tokens["), std::string::npos) << r.out;
  r = run_cli(base_args(96, 1) + " --llama-kl-base " + path("a.kld"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("n_ctx"), std::string::npos) << r.out;
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
  r = run_cli(base_args(64, 2) + " --save-logits " + path("b64.h5"));
  ASSERT_EQ(r.status, 0) << r.out;
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
