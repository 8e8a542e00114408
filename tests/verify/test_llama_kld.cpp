// llama.cpp interop (verify/llama_kld.h): llama-perplexity's chunk boundaries against hand-worked
// cases, the --kl-divergence-base file layout byte by byte, write/read round trip, resume, KL of a
// file against itself, and one-line errors for malformed files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "kernels/error.h"
#include "tests/verify/synth_dump.h"
#include "tests/verify/verify_test_util.h"
#include "verify/llama_kld.h"

using namespace dsv32;
using dsv32::test::tmp_path;
using dsv32::test::error_of;

namespace {

std::vector<float> random_logits(int64_t rows, int64_t V, uint32_t seed, float spread = 4.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, spread);
  std::vector<float> v(size_t(rows * V));
  for (auto& x : v) x = d(g);
  return v;
}

std::vector<char> bytes_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

// Text tokens 10..19, BOS 0, ctx 4. llama-perplexity: stream = [0,10,...,19] (11 tokens) -> 2 chunks
// (11/4); chunk 0 = [0,10,11,12]; chunk 1 = stream[4..8) = [13,14,15,16] with BOS over 13. Scored:
// position 2 (ctx/2) .. ctx-2 = 2, i.e. one token per chunk: 12 (chunk 0) and 16 (chunk 1).
TEST(LlamaChunks, MatchHandWorkedBoundaries) {
  std::vector<int32_t> text;
  for (int t = 10; t < 20; ++t) text.push_back(t);
  ChunkPlan p = plan_chunks(text, 0, 4, 0, false);
  ASSERT_EQ(p.n_chunks, 2);
  EXPECT_EQ(p.stream.size(), 11u);
  EXPECT_EQ(p.chunk(0), (std::vector<int32_t>{0, 10, 11, 12}));
  EXPECT_EQ(p.chunk(1), (std::vector<int32_t>{0, 14, 15, 16}));
  EXPECT_EQ(p.first(), 2);
  EXPECT_EQ(p.scored_per_chunk(), 1);
  EXPECT_EQ(p.target(0, 2), 12);
  EXPECT_EQ(p.target(1, 2), 16);
  // The file stores the stream itself: chunk 1's first token is the text's 13, not BOS.
  EXPECT_EQ(p.stream[4], 13);

  // Legacy: no BOS prepended, chunks [0,11,12,13] and [0,15,16,17]: one token later than llama's.
  ChunkPlan l = plan_chunks(text, 0, 4, 0, true);
  ASSERT_EQ(l.n_chunks, 2);
  EXPECT_EQ(l.chunk(1), (std::vector<int32_t>{0, 15, 16, 17}));
  EXPECT_EQ(l.target(0, 2), 13);
  EXPECT_EQ(l.target(1, 2), 17);

  // Odd ctx 5: first = 2, scored positions 2 and 3 predict stream[3], stream[4].
  ChunkPlan o = plan_chunks(text, 0, 5, 0, false);
  ASSERT_EQ(o.n_chunks, 2);  // 11/5
  EXPECT_EQ(o.scored_per_chunk(), 2);
  EXPECT_EQ(o.target(1, 2), 17);  // stream[5+3] = 17
  EXPECT_EQ(o.target(1, 3), 18);

  // No BOS (a vocabulary without one): nothing prepended, nothing replaced.
  ChunkPlan n = plan_chunks(text, -1, 4, 0, false);
  ASSERT_EQ(n.n_chunks, 2);
  EXPECT_EQ(n.chunk(1), (std::vector<int32_t>{14, 15, 16, 17}));
  // --chunks caps; too short a text gives 0 chunks.
  EXPECT_EQ(plan_chunks(text, 0, 4, 1, false).n_chunks, 1);
  EXPECT_EQ(plan_chunks(text, 0, 12, 0, false).n_chunks, 0);
}

// A file assembled by hand from the documented layout (odd n_vocab 3, so each row is padded to
// 2*2+4 = 8 uint16) reads back field by field: the reader follows the layout, not our writer.
TEST(LlamaFile, ReaderFollowsTheByteLayout) {
  const std::string path = tmp_path("hand.kld");
  {
    std::ofstream f(path, std::ios::binary);
    f.write("_logits_", 8);
    const int32_t dims[3] = {4, 3, 1};  // n_ctx 4 -> 4-1-2 = 1 scored row per chunk
    f.write(reinterpret_cast<const char*>(dims), 12);
    const int32_t toks[4] = {0, 2, 1, 2};
    f.write(reinterpret_cast<const char*>(toks), 16);
    uint16_t row[8] = {};
    const float scale = 0.5f, mn = -3.0f;
    std::memcpy(row, &scale, 4);
    std::memcpy(row + 2, &mn, 4);
    row[4] = 6, row[5] = 2, row[6] = 0, row[7] = 0xffff;  // the last is padding
    f.write(reinterpret_cast<const char*>(row), sizeof row);
  }
  LlamaLogitsReader r(path);
  EXPECT_EQ(r.header().n_ctx, 4);
  EXPECT_EQ(r.header().n_vocab, 3);
  EXPECT_EQ(r.header().n_chunk, 1);
  EXPECT_EQ(r.header().tokens, (std::vector<int32_t>{0, 2, 1, 2}));
  LlamaRow row = r.row(0, 0);
  EXPECT_EQ(row.logp(0), 0.0f);   // 0.5*6 - 3
  EXPECT_EQ(row.logp(1), -2.0f);
  EXPECT_EQ(row.logp(2), -3.0f);
  EXPECT_EQ(row.argmax(), 0);
  EXPECT_EQ(llama_row_u16(3), 8);
  EXPECT_EQ(llama_row_u16(4), 8);
}

// Encoding keeps every log-prob above the floor to half a code step: scale = 16/65535 at most, so
// |decoded - exact| <= scale/2 + float rounding of min_log_prob (|min| <= 16 + ln V, 2^-24 relative).
TEST(LlamaFile, EncodeKeepsLogProbsToHalfACodeStep) {
  const int64_t V = 1001;
  auto logits = random_logits(1, V, 7);
  std::vector<uint16_t> buf(size_t(llama_row_u16(V)));
  llama_encode_row(logits.data(), V, buf.data());
  LlamaRow r = llama_decode_row(buf.data(), V);
  const RowStats rs = row_stats(logits.data(), V);
  const float mx = *std::max_element(logits.begin(), logits.end());
  EXPECT_LE(r.scale, 16.0f / 65535.0f * (1 + 1e-6f));
  const double tol = r.scale / 2 + (16 + std::log(double(V))) * 4 * std::ldexp(1.0, -24);
  int kept = 0;
  for (int64_t i = 0; i < V; ++i) {
    if (logits[size_t(i)] > mx - 16) {
      EXPECT_NEAR(r.logp(i), rs.logp(logits.data(), int32_t(i)), tol) << i;
      ++kept;
    } else {
      EXPECT_EQ(r.codes[size_t(i)], 0) << i;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_EQ(r.argmax(), rs.argmax);
}

TEST(LlamaFile, WriteReadRoundTripAndResume) {
  const int64_t V = 37;  // odd: padded rows
  LlamaLogitsHeader h{10, int32_t(V), 3, {}};
  for (int i = 0; i < 30; ++i) h.tokens.push_back(i % V);
  const int64_t rows = h.rows_per_chunk();  // 10 - 1 - 5 = 4
  ASSERT_EQ(rows, 4);
  auto logits = random_logits(3 * rows, V, 11);
  const std::string full = tmp_path("full.kld"), part = tmp_path("part.kld");
  {
    LlamaLogitsWriter w(full, h);
    for (int c = 0; c < 3; ++c) w.append_chunk(logits.data() + c * rows * V);
  }
  EXPECT_EQ(int64_t(bytes_of(full).size()), h.file_bytes());
  LlamaLogitsReader r(full);
  EXPECT_EQ(r.header().tokens, h.tokens);
  std::vector<uint16_t> buf(size_t(llama_row_u16(V)));
  for (int c = 0; c < 3; ++c)
    for (int j = 0; j < rows; ++j) {
      llama_encode_row(logits.data() + (c * rows + j) * V, V, buf.data());
      LlamaRow want = llama_decode_row(buf.data(), V), got = r.row(c, j);
      EXPECT_EQ(got.codes, want.codes);
      EXPECT_EQ(got.scale, want.scale);
      EXPECT_EQ(got.min_logp, want.min_logp);
    }
  // Interrupted after chunk 1 plus half a chunk; resuming keeps chunk 0..1 and appends chunk 2.
  {
    LlamaLogitsWriter w(part, h);
    w.append_chunk(logits.data());
    w.append_chunk(logits.data() + rows * V);
  }
  { std::ofstream(part, std::ios::binary | std::ios::app).write("torn tail", 9); }
  {
    LlamaLogitsWriter w(part, h, 2);
    w.append_chunk(logits.data() + 2 * rows * V);
  }
  EXPECT_EQ(bytes_of(part), bytes_of(full));
  // A resume into a file of another stream is refused.
  LlamaLogitsHeader other = h;
  other.tokens[3] = 5;
  EXPECT_NE(error_of([&] { LlamaLogitsWriter w(full, other, 1); }).find("header"), std::string::npos);
}

TEST(LlamaFile, KlOfAFileAgainstItselfIsZero) {
  const int64_t V = 257;
  LlamaLogitsHeader h{6, int32_t(V), 2, std::vector<int32_t>(12, 1)};
  const int64_t rows = h.rows_per_chunk();
  auto a = random_logits(2 * rows, V, 3), b = random_logits(2 * rows, V, 4);
  const std::string pa = tmp_path("a.kld"), pb = tmp_path("b.kld");
  {
    LlamaLogitsWriter wa(pa, h), wb(pb, h);
    for (int c = 0; c < 2; ++c) {
      wa.append_chunk(a.data() + c * rows * V);
      wb.append_chunk(b.data() + c * rows * V);
    }
  }
  LlamaLogitsReader ra(pa), ra2(pa), rb(pb);
  for (int c = 0; c < 2; ++c)
    for (int j = 0; j < rows; ++j) {
      LlamaRow x = ra.row(c, j);
      EXPECT_EQ(llama_kl(x, ra2.row(c, j)), 0.0);
      EXPECT_GT(llama_kl(x, rb.row(c, j)), 0.1);  // independent N(0,4²) logits: KL of order 10
      // Against the exact logits it was made from, KL = Σ p_b·δ with |δ| <= half a code step
      // (1.22e-4) plus the float rounding bound of the test above: |KL| <= 1.3e-4.
      const float* row = a.data() + (c * rows + j) * V;
      EXPECT_LE(std::fabs(llama_kl(x, row, row_stats(row, V), V)), 1.3e-4);
    }
}

TEST(LlamaFile, MalformedFilesAreOneLineErrors) {
  const std::string path = tmp_path("bad.kld");
  auto write = [&](const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; };
  write("_logitz_");
  EXPECT_NE(error_of([&] { LlamaLogitsReader r(path); }).find("magic"), std::string::npos);
  write("_logits_\x04");
  EXPECT_NE(error_of([&] { LlamaLogitsReader r(path); }).find("header"), std::string::npos);
  auto header = [](int32_t ctx, int32_t vocab, int32_t chunks) {
    std::string s = "_logits_";
    const int32_t d[3] = {ctx, vocab, chunks};
    s.append(reinterpret_cast<const char*>(d), 12);
    return s;
  };
  write(header(-4, 3, 1));
  EXPECT_NE(error_of([&] { LlamaLogitsReader r(path); }).find("n_ctx"), std::string::npos);
  write(header(4, 0, 1));
  EXPECT_NE(error_of([&] { LlamaLogitsReader r(path); }).find("n_vocab"), std::string::npos);
  write(header(4, 3, 0));
  EXPECT_NE(error_of([&] { LlamaLogitsReader r(path); }).find("n_chunk"), std::string::npos);
  write(header(4, 3, 1) + std::string(16, '\0'));  // tokens but no rows
  const std::string e = error_of([&] { LlamaLogitsReader r(path); });
  EXPECT_NE(e.find(path + ": size"), std::string::npos) << e;
  std::string toks(16, '\0');
  toks[4] = 9;  // tokens[1] = 9 >= n_vocab 3
  write(header(4, 3, 1) + toks + std::string(16, '\0'));
  EXPECT_NE(error_of([&] { LlamaLogitsReader r(path); }).find("tokens[1]"), std::string::npos);
  EXPECT_NE(error_of([&] { LlamaLogitsReader r("/nonexistent.kld"); }).find("/nonexistent.kld"), std::string::npos);
}
