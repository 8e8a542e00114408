// dsv32 ppl --modes / --index-topk / --unigram-from and dsv32 recall on the tiny preset
// (index_topk = 64): validation, and what each variant must (and must not) change.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "tests/cli/ppl_fixture.h"

namespace dsv32::testing {
namespace {

void expect_error(const std::string& args, const std::string& needle) {
  CliResult r = run_cli(args);
  EXPECT_EQ(r.status, 2) << args << "\n" << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << args << "\n" << r.out;
  // One error line, the last (a progress line about the text may come before it).
  size_t errors = 0;
  for (size_t at = 0; (at = r.out.find("error:", at)) != std::string::npos; ++at) ++errors;
  EXPECT_EQ(errors, 1u) << r.out;
  EXPECT_EQ(r.out.find('\n', r.out.find("error:")), r.out.size() - 1) << "the error must be the last line:\n" << r.out;
}

TEST_F(Ppl, IndexTopkAndModesAreValidated) {
  const std::string a = base_args(64, 1);
  expect_error(a + " --index-topk 0", "--index-topk: must be at least 1");
  expect_error(a + " --index-topk -3", "--index-topk: must be at least 1");
  expect_error(a + " --index-topk 99999999", "--index-topk: 99999999 exceeds max_position_embeddings");
  expect_error(a + " --index-topk x", "--index-topk");
  expect_error(a + " --modes sparse", "--modes: 'sparse': expected ATTN/MLA");
  expect_error(a + " --modes dense/absorbed,sparse/fast", "--modes: 'sparse/fast'");
  expect_error(a + " --modes sparse/absorbed:k0", "index_topk must be at least 1");
  expect_error(a + " --modes sparse/absorbed:kx", "unknown tag 'kx'");
  expect_error(a + " --modes dense/absorbed:k8", "dense attention has none");
  expect_error(a + " --modes dense/absorbed --compare", "give --compare or --modes");
  expect_error(a + " --modes dense/absorbed,sparse/absorbed:k99999999", "exceeds max_position_embeddings");
  const std::string v3 = tiny_checkpoint(SynthWeights::kFp8, 1, "DeepseekV3ForCausalLM");
  expect_error("ppl --quiet --model " + v3 + " --text " + text_ + " --tokenizer " + tok_ + " --ctx 64 --index-topk 8",
               "has no lightning indexer");
}

TEST_F(Ppl, ModesChangeWhatTheyNameAndNothingElse) {
  auto r = run_cli(base_args(96, 2) + " --modes dense/absorbed,sparse/absorbed,sparse/absorbed:k96,"
                   "sparse/absorbed:k16,sparse/absorbed:random-indexer --json " + path("m.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = read_json(path("m.json"));
  ASSERT_EQ(j["modes"].size(), 5u);
  auto& m = j["modes"];
  EXPECT_EQ(m[0]["label"], "dense/absorbed");
  EXPECT_EQ(m[1]["index_topk"], 64);
  EXPECT_EQ(m[2]["index_topk"], 96);
  EXPECT_EQ(m[3]["index_topk"], 16);
  EXPECT_EQ(m[4]["indexer"], "random");
  EXPECT_EQ(m[1]["kl"]["base"], "dense/absorbed");
  // index_topk = ctx selects every causal key: exactly dense (MODEL §7.8), so KL 0, same PPL.
  EXPECT_EQ(m[2]["ppl"], m[0]["ppl"]);
  EXPECT_EQ(m[2]["kl"]["kld_max"].get<double>(), 0.0);
  // Beyond index_topk the selection matters: k16, the checkpoint's k64 and a random indexer differ
  // from dense and from each other.
  EXPECT_GT(m[3]["kl"]["kld_mean"].get<double>(), 0.0);
  EXPECT_GT(m[1]["kl"]["kld_mean"].get<double>(), 0.0);
  EXPECT_NE(m[4]["ppl"], m[1]["ppl"]);
  EXPECT_NE(m[3]["ppl"], m[1]["ppl"]);
  // A single run with --index-topk gives the same numbers as the tagged variant.
  r = run_cli(base_args(96, 2) + " --attn sparse --index-topk 16 --json " + path("k16.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto k = read_json(path("k16.json"));
  EXPECT_EQ(k["index_topk"], 16);
  EXPECT_EQ(k["ppl"], m[3]["ppl"]);
}

TEST_F(Ppl, UnigramOfUnseenTokensIsVocabularyPlusCount) {
  // A training text none of whose tokens is a scored target: every target gets 1 / (N + V), so
  // the unigram PPL is N + V exactly, N the few training tokens.
  const std::string train = path("train.txt");
  std::ofstream(train) << "\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83";  // snowmen
  auto r = run_cli(base_args(64, 2) + " --attn dense --unigram-from " + train + " --json " + path("u.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = read_json(path("u.json"));
  const int64_t n = j["unigram"]["train_tokens"].get<int64_t>();
  EXPECT_GE(n, 1);
  EXPECT_LE(n, 12);  // 3 snowmen, at most 4 byte-level tokens each
  EXPECT_NEAR(j["unigram"]["ppl"].get<double>(), double(129280 + n), 1e-6 * 129280);
  EXPECT_NEAR(j["unigram"]["ppl_err"].get<double>(), 0.0, 1e-3);
}

TEST_F(Ppl, RecallCommandWritesPerLayerRecall) {
  auto r = run_cli("recall --quiet --model " + model_ + " --text " + text_ + " --tokenizer " + tok_ +
                   " --ctx 96 --chunks 1 --topk 16,64,96 --json " + path("r.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = read_json(path("r.json"));
  EXPECT_EQ(j["kind"], "recall");
  EXPECT_EQ(j["queries_per_layer"], 96 - 48);
  ASSERT_EQ(j["layers"].size(), 4u);  // the tiny preset's 4 layers
  for (auto& l : j["layers"]) {
    auto v = l["recall"].get<std::vector<double>>();
    ASSERT_EQ(v.size(), 3u);
    EXPECT_LE(v[0], v[1]);
    EXPECT_NEAR(v[2], 1.0, 1e-9);  // k = ctx keeps every key
  }
  expect_error("recall --model " + model_ + " --text " + text_ + " --tokenizer " + tok_ + " --topk 0", "--topk: 0");
}

}  // namespace
}  // namespace dsv32::testing
