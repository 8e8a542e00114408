// llama.cpp interoperability for `dsv32 ppl` and `dsv32 kld`: the chunking of llama-perplexity and
// its `--kl-divergence-base` logits file, so that perplexity and KL divergence can be computed
// between dsv32 and llama.cpp on the same chunks, in either direction.
//
// Chunking (llama-perplexity, tools/perplexity/perplexity.cpp, non-strided path):
//   * the file is tokenized WITH BOS prepended (when the vocabulary adds one): stream = [BOS] + text;
//   * n_chunk = |stream| / n_ctx (integer division), optionally capped by --chunks;
//   * chunk i is stream[i·n_ctx, (i+1)·n_ctx); for evaluation its first token is replaced by BOS
//     (chunk 0 starts with BOS already, so it is unchanged; for i > 0 one text token is dropped);
//   * positions j = n_ctx/2 .. n_ctx-2 are scored, predicting stream[i·n_ctx + j + 1].
// dsv32's earlier chunking ("legacy") cut the stream without the prepended BOS, so every chunk after
// the first started one token later than llama-perplexity's.
//
// The logits file (little-endian, packed, written by `llama-perplexity --kl-divergence-base F`):
//   char    magic[8] = "_logits_"
//   int32   n_ctx, n_vocab, n_chunk
//   int32   tokens[n_chunk · n_ctx]       the stream above (original tokens; BOS is substituted at
//                                         evaluation, not stored, except the stream's own first one)
//   then for every chunk, n_ctx - 1 - n_ctx/2 scored rows, each of nv = 2·⌈n_vocab/2⌉ + 4 uint16:
//     [0..1] float scale, [2..3] float min_log_prob, [4 .. 4+n_vocab) codes, then padding to nv.
//   The log-probability of id i is scale·code_i + min_log_prob. The range stored is the top 16 nats
//   below the row's maximum logit (floor = max(min logit, max logit − 16)), cut into 65535 steps;
//   ids at or below the floor get code 0. KL(base ‖ new) as llama.cpp computes it sums
//   p_base·(log p_base − log p_new) over the ids whose decoded base log-prob exceeds −16.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "verify/ppl.h"

namespace dsv32 {

// The token stream and chunks of one perplexity run.
struct ChunkPlan {
  std::vector<int32_t> stream;  // what llama.cpp's logits file stores as `tokens` (first n_chunk·ctx)
  int64_t ctx = 0, n_chunks = 0;
  int32_t bos = -1;             // substituted at each chunk's position 0 when >= 0
  int64_t first() const { return ctx / 2; }                 // first scored position
  int64_t scored_per_chunk() const { return ctx - 1 - ctx / 2; }
  // Chunk i as evaluated (BOS at position 0 when bos >= 0).
  std::vector<int32_t> chunk(int64_t i) const;
  // The token predicted at position j of chunk i (the stream's, never the substituted BOS).
  int32_t target(int64_t i, int64_t j) const { return stream[size_t(i * ctx + j + 1)]; }
};

// llama: stream = [bos] + text_tokens (bos < 0: no BOS anywhere); legacy: stream = text_tokens with
// each chunk's first token still replaced by bos. max_chunks <= 0: every chunk that fits.
ChunkPlan plan_chunks(const std::vector<int32_t>& text_tokens, int32_t bos, int64_t ctx, int64_t max_chunks,
                      bool legacy);

// Row width in uint16 of the logits file for a vocabulary of n_vocab.
inline int64_t llama_row_u16(int64_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }

// One decoded row of a logits file.
struct LlamaRow {
  float scale = 0, min_logp = 0;
  std::vector<uint16_t> codes;  // n_vocab
  float logp(int64_t id) const { return scale * float(codes[size_t(id)]) + min_logp; }
  int32_t argmax() const;       // lowest id among the largest codes
};

// Encodes a logits row [V] the way llama-perplexity does into out[llama_row_u16(V)].
void llama_encode_row(const float* logits, int64_t V, uint16_t* out);
LlamaRow llama_decode_row(const uint16_t* in, int64_t V);

// KL(base ‖ new), llama.cpp's sum over ids with base log-prob > −16; new as exact logits + stats.
double llama_kl(const LlamaRow& base, const float* new_logits, const RowStats& new_rs, int64_t V);
// KL(base ‖ new) with both sides decoded from files (0 exactly when they are the same row).
double llama_kl(const LlamaRow& base, const LlamaRow& other);

struct LlamaLogitsHeader {
  int32_t n_ctx = 0, n_vocab = 0, n_chunk = 0;
  std::vector<int32_t> tokens;  // n_chunk · n_ctx
  int64_t rows_per_chunk() const { return int64_t(n_ctx) - 1 - n_ctx / 2; }
  int64_t header_bytes() const { return 20 + 4 * int64_t(tokens.size()); }
  int64_t row_bytes() const { return 2 * llama_row_u16(n_vocab); }
  int64_t file_bytes() const { return header_bytes() + int64_t(n_chunk) * rows_per_chunk() * row_bytes(); }
};

// Reads and validates a logits file: magic, positive sizes within limits, tokens in [0, n_vocab),
// exact file size. Bad input throws Error "PATH: <field>: <what>".
class LlamaLogitsReader {
 public:
  explicit LlamaLogitsReader(const std::string& path);
  ~LlamaLogitsReader();
  LlamaLogitsReader(const LlamaLogitsReader&) = delete;
  LlamaLogitsReader& operator=(const LlamaLogitsReader&) = delete;
  const LlamaLogitsHeader& header() const { return h_; }
  const std::string& path() const { return path_; }
  // Scored row r (0-based) of chunk c; checks that scale and min_log_prob are finite.
  LlamaRow row(int64_t chunk, int64_t r);

 private:
  std::string path_;
  FILE* f_ = nullptr;
  LlamaLogitsHeader h_;
  std::vector<uint16_t> buf_;
};

// Writes a logits file chunk by chunk. resume_chunks > 0 reopens an existing file written with the
// same header and keeps its first resume_chunks chunks (the rest, a torn tail, is cut off).
class LlamaLogitsWriter {
 public:
  LlamaLogitsWriter(const std::string& path, const LlamaLogitsHeader& header, int64_t resume_chunks = 0);
  ~LlamaLogitsWriter();
  LlamaLogitsWriter(const LlamaLogitsWriter&) = delete;
  LlamaLogitsWriter& operator=(const LlamaLogitsWriter&) = delete;
  // rows_per_chunk() logits rows [V] of the next chunk, contiguous.
  void append_chunk(const float* logits);
  int64_t chunks_written() const { return written_; }

 private:
  std::string path_;
  FILE* f_ = nullptr;
  LlamaLogitsHeader h_;
  int64_t written_ = 0;
  std::vector<uint16_t> buf_;
};

}  // namespace dsv32
