// The DeepSeek V3/V3.2 tokenizer: a C++ reading of a Hugging Face `tokenizer.json` with a
// byte-level BPE model. The encode pipeline, in HF's order:
//
//   text ──► added/special tokens (leftmost-longest, matched on the raw text) ──► for each gap:
//        ──► normalizer (only the empty Sequence / null is supported)
//        ──► pre_tokenizer: Sequence of Split(regex, behaviour, invert) and ByteLevel steps; each
//            step runs on every piece the previous step produced (!! a regex never sees past its
//            piece, so `\s+(?!\S)` at a piece end behaves as in HF)
//        ──► BPE per piece: bytes -> byte-level symbols -> merges by lowest rank, leftmost first
//
// Regexes run in PCRE2 with UTF + UCP (so \s, \d, \w are Unicode-aware, as in Oniguruma, which HF
// uses) and JIT. Decoding maps byte-level tokens back to raw bytes and emits added tokens verbatim.
//
// Input contract: encode() takes UTF-8. Invalid UTF-8 (bad sequences, overlongs, surrogates)
// throws dsv32::Error naming the byte offset; it never reaches PCRE2 unchecked. decode() returns
// the raw bytes the ids stand for (no U+FFFD substitution), so decode(encode(x)) == x exactly.
//
// Known divergence from the JavaScript tokenizer (transformers.js) the tests compare against:
// JS's \s includes U+FEFF and excludes U+0085; PCRE2 (like Oniguruma in HF) does the opposite.
// We follow HF (so " \u0085 " tokenizes differently from JS; the test corpus avoids both
// characters). Unicode versions differ slightly too (PCRE2 10.42: Unicode 14).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dsv32 {

class Tokenizer {
 public:
  // Reads tokenizer.json, and tokenizer_config.json from the same directory when present (for the
  // BOS token). Throws dsv32::Error ("<file>: <field>: <problem>") on a missing or malformed file.
  static Tokenizer load(const std::string& tokenizer_json_path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of `text` (UTF-8). With add_bos the BOS id is prepended (throws Error when the
  // tokenizer has no BOS token). Thread-safe: encode keeps no state between calls.
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const;
  // The bytes the ids stand for; added/special tokens appear as their text. Throws Error on an id
  // outside [0, vocab_size()) that names no token.
  std::string decode(const std::vector<int32_t>& ids) const;

  // tokenizer_config.json's bos_token, -1 when there is none.
  int32_t bos_id() const;
  // tokenizer_config.json's add_bos_token (false when absent): what HF's Python tokenizer does by
  // default. The CLI makes BOS opt-in (--bos); this is for callers that want HF's default.
  bool add_bos_by_default() const;
  // One past the largest token id (BPE vocab and added tokens): 128815 for DeepSeek V3. The model's
  // embedding table is larger (129280); the extra rows are padding no token maps to.
  int64_t vocab_size() const;
  // Id of a token given its text (vocab entry in byte-level form, or added-token content); -1 if none.
  int32_t token_id(std::string_view token) const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// $DSV32_CACHE_DIR/tokenizer/tokenizer.json when that variable is set and non-empty, else
// <source_dir>/.cache/tokenizer/tokenizer.json (where scripts/fetch_tokenizer.sh puts it). The
// caller passes the source dir (DSV32_SOURCE_DIR is a compile definition of the app and tests only).
std::string default_tokenizer_path(const std::string& source_dir);

}  // namespace dsv32
