// The fixture of the dsv32 ppl CLI tests: the tiny preset (index_topk = 64), the real DeepSeek
// tokenizer and the default text; skips when the tokenizer or the datasets are not prepared.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/cli/cli_util.h"
#include "tests/model/tiny_model.h"

namespace dsv32::testing {

class Ppl : public ::testing::Test {
 protected:
  void SetUp() override {
    text_ = std::string(DSV32_SOURCE_DIR) + "/datasets/data/default.txt";
    tok_ = std::string(DSV32_SOURCE_DIR) + "/.cache/tokenizer/tokenizer.json";
    if (!std::filesystem::exists(text_)) GTEST_SKIP() << "no " << text_ << ": run datasets/prepare.sh";
    if (!std::filesystem::exists(tok_)) GTEST_SKIP() << "no " << tok_ << ": run scripts/fetch_tokenizer.sh";
    model_ = tiny_checkpoint();
    dir_ = std::filesystem::path(DSV32_BUILD_DIR) / ("ppl-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string base_args(int ctx, int chunks) const {
    return "ppl --quiet --model " + model_ + " --text " + text_ + " --tokenizer " + tok_ + " --ctx " +
           std::to_string(ctx) + " --chunks " + std::to_string(chunks);
  }
  std::string path(const std::string& f) const { return (dir_ / f).string(); }
  std::string text_, tok_, model_;
  std::filesystem::path dir_;
};

}  // namespace dsv32::testing
