// Tokenizer throughput (one core): bytes_per_second of encode on English text, on the mixed test
// corpus, line by line (short calls, so the per-call merge cache rarely hits), and of decode.
// Target: >= 5 MB/s encoding English. Needs the cached tokenizer (scripts/fetch_tokenizer.sh).
//
//   build-tok/bin/bench_tokenizer --benchmark_format=json --benchmark_out=tok.json
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "model/tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const dsv32::Tokenizer* tokenizer() {
  static std::unique_ptr<dsv32::Tokenizer> t = []() -> std::unique_ptr<dsv32::Tokenizer> {
    const std::string path = dsv32::default_tokenizer_path(DSV32_SOURCE_DIR);
    if (!fs::exists(path)) return nullptr;
    return std::make_unique<dsv32::Tokenizer>(dsv32::Tokenizer::load(path));
  }();
  return t.get();
}

// About 512 KB of English: the Debian license texts (GPL, Apache, ...) plus the corpus prose,
// repeated. Falls back to the prose alone where /usr/share/common-licenses is absent.
const std::string& english_text() {
  static const std::string text = [] {
    std::string base = read_file(fs::path(DSV32_SOURCE_DIR) / "tests/tokenizer/corpus/prose_en.txt");
    std::vector<fs::path> files;
    if (fs::is_directory("/usr/share/common-licenses"))
      for (const auto& e : fs::directory_iterator("/usr/share/common-licenses"))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) base += read_file(f);
    std::string out;
    while (out.size() < (512u << 10)) out += base;
    return out;
  }();
  return text;
}

const std::string& corpus_text() {
  static const std::string text = [] {
    std::string out;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(fs::path(DSV32_SOURCE_DIR) / "tests/tokenizer/corpus"))
      files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) out += read_file(f);
    return out;
  }();
  return text;
}

bool need_tokenizer(benchmark::State& state) {
  if (tokenizer()) return true;
  state.SkipWithError("tokenizer.json not cached: run scripts/fetch_tokenizer.sh");
  return false;
}

void encode_bench(benchmark::State& state, const std::string& text) {
  if (!need_tokenizer(state)) return;
  size_t ids = 0;
  for (auto _ : state) {
    auto out = tokenizer()->encode(text, false);
    ids = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
  state.counters["bytes_per_token"] = double(text.size()) / double(std::max<size_t>(ids, 1));
  state.counters["tokens_per_second"] =
      benchmark::Counter(double(ids) * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_tokenizer_encode_english(benchmark::State& state) { encode_bench(state, english_text()); }
void BM_tokenizer_encode_corpus(benchmark::State& state) { encode_bench(state, corpus_text()); }

// One encode per line: the cost a short prompt sees (no warm merge cache, per-call setup).
void BM_tokenizer_encode_english_lines(benchmark::State& state) {
  if (!need_tokenizer(state)) return;
  std::vector<std::string> lines;
  std::stringstream ss(english_text().substr(0, 128u << 10));
  for (std::string l; std::getline(ss, l);) lines.push_back(l + "\n");
  int64_t bytes = 0;
  for (auto _ : state)
    for (const auto& l : lines) {
      auto out = tokenizer()->encode(l, false);
      benchmark::DoNotOptimize(out.data());
      bytes += int64_t(l.size());
    }
  state.SetBytesProcessed(bytes);
}

void BM_tokenizer_decode_english(benchmark::State& state) {
  if (!need_tokenizer(state)) return;
  const auto ids = tokenizer()->encode(english_text(), false);
  for (auto _ : state) {
    auto text = tokenizer()->decode(ids);
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(english_text().size()));
}

BENCHMARK(BM_tokenizer_encode_english)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_tokenizer_encode_corpus)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_tokenizer_encode_english_lines)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_tokenizer_decode_english)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
