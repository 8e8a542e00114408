// PCRE2-backed regex and HF's `Split` pre-tokenizer behaviours.
//
// A Regex is compiled once (UTF + UCP, JIT when available) and matched with per-call scratch
// (match data + JIT stack), so a const Tokenizer can encode from several threads at once.
// Subjects must be valid UTF-8: callers validate the whole text once (utf8_error_offset) and every
// piece is cut at a code-point boundary, so matches run with PCRE2_NO_UTF_CHECK.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

typedef struct pcre2_real_code_8 pcre2_code_8;
typedef struct pcre2_real_match_data_8 pcre2_match_data_8;
typedef struct pcre2_real_match_context_8 pcre2_match_context_8;
typedef struct pcre2_real_jit_stack_8 pcre2_jit_stack_8;

namespace dsv32::tok {

// Byte offset of the first invalid UTF-8 sequence in `s`, or npos when `s` is valid. Rejects what
// PCRE2 rejects: truncated/overlong sequences, surrogates, code points above U+10FFFF.
size_t utf8_error_offset(std::string_view s);

// Per-call matching state; one serves every Regex of a tokenizer.
class MatchScratch {
 public:
  MatchScratch();
  ~MatchScratch();
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;
  pcre2_match_data_8* data;
  pcre2_match_context_8* context;
  pcre2_jit_stack_8* jit_stack;
};

class Regex {
 public:
  // `where` names the source of the pattern for errors ("tokenizer.json: pre_tokenizer...").
  Regex(const std::string& pattern, const std::string& where);
  Regex(Regex&& o) noexcept;
  Regex& operator=(Regex&& o) noexcept;
  Regex(const Regex&) = delete;
  ~Regex();
  // First match in subject at or after `start`: true and [*begin, *end), or false.
  bool find(std::string_view subject, size_t start, MatchScratch& s, size_t* begin,
            size_t* end) const;

 private:
  pcre2_code_8* code_ = nullptr;
  bool jit_ = false;
  std::string where_;
};

// HF's SplitDelimiterBehavior.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A piece of the text being pre-tokenized: [begin, end) into the caller's string.
struct Piece {
  uint32_t begin, end;
};

// Splits `piece` of `text` as HF's Split pre-tokenizer does and appends the non-empty results to
// `out`. `matches` is reusable scratch.
void split_piece(std::string_view text, Piece piece, const Regex& re, SplitBehavior behavior,
                 bool invert, MatchScratch& s, std::vector<Piece>& out,
                 std::vector<std::pair<Piece, bool>>& matches);

}  // namespace dsv32::tok
