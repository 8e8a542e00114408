// The base-distribution file of `dsv32 ppl --save-logits BASE.h5` / `--kl-base BASE.h5`.
//
// Storage (HDF5 group /kl_base, one row per scored token, rows appended chunk by chunk to
// BASE.h5.partial so an interrupted run keeps what it finished for --resume; renamed to BASE.h5
// when the run completes, so --kl-base never reads a half-written store):
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
  // Creates partial_path(path) (verify/dump.h), or with resume reopens it (reading and checking it
  // first, top_n/vocab/signature included) and truncates it to keep_rows rows (rows past the last
  // finished chunk are discarded). Throws Error naming the file. finish() renames it to `path`, so
  // `path` exists only when the run completed; an unfinished store stays as path.partial for
  // --resume.
  
  LogitsStoreWriter(const std::string& path, const LogitsStoreInfo& info, bool resume, int64_t keep_rows);
  ~LogitsStoreWriter();
  void append(const std::vector<BaseRow>& rows);  // flushes to disk
  int64_t rows() const;
  void finish();  // closes and renames into place; throws Error

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class LogitsStoreReader {
 public:
  // Reads everything (first in a contained child, verify/h5_guard.h) and validates it: positive
  // top_n and vocab, dataset shapes, every id in [0, vocab). Throws Error naming file and field.
  explicit LogitsStoreReader(const std::string& path);
  ~LogitsStoreReader();
  const LogitsStoreInfo& info() const;
  int64_t rows() const;
  BaseRow row(int64_t i) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsv32
