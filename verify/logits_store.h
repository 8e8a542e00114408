// The base-distribution file of `dsv32 ppl --save-logits BASE.h5` / `--kl-base BASE.h5`.
//
// Storage (HDF5 group /kl_base, one row per scored token, rows appended chunk by chunk so an
// interrupted run keeps what it finished):
//   top_ids   int32 [N, n]   the n most likely ids (absent when n = vocab: full storage)
//   top_logp  f32   [N, n]   their log-probabilities (ids implicit 0..V-1 when n = vocab)
//   rest_logp f32   [N]      log of the probability mass outside the top n (−inf when n = vocab)
//   target    int32 [N]      the correct next token
//   target_logp f32 [N]      its log-probability (for Δp and the PPL ratio)
//   argmax    int32 [N]      the base's top-1 (for "same top-1 %")
// Attributes: top_n, vocab, ctx, signature (text/tokenization/chunking identity: a KL run must
// score exactly the same tokens), attn, mla, model.
// Default n = 64: 4.2·64 + 16 bytes per token instead of 4·129280; KL is then the top-64 + rest
// bucket lower bound (verify/ppl.h), exact with --full-logits.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "verify/ppl.h"

namespace dsv32 {

struct LogitsStoreInfo {
  int64_t top_n = 64, vocab = 0, ctx = 0;
  std::string signature, attn, mla, model;
};

struct BaseRow {
  CompactDist dist;
  int32_t target = 0, argmax = 0;
  float target_logp = 0;
};

class LogitsStoreWriter {
 public:
  // Creates `path`, or with resume reopens it (checking top_n/vocab/signature) and truncates it to
  // keep_rows rows (rows past the last finished chunk are discarded). Throws Error naming the file.
  LogitsStoreWriter(const std::string& path, const LogitsStoreInfo& info, bool resume, int64_t keep_rows);
  ~LogitsStoreWriter();
  void append(const std::vector<BaseRow>& rows);  // flushes to disk
  int64_t rows() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class LogitsStoreReader {
 public:
  explicit LogitsStoreReader(const std::string& path);  // reads everything; throws Error
  ~LogitsStoreReader();
  const LogitsStoreInfo& info() const;
  int64_t rows() const;
  BaseRow row(int64_t i) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsv32
