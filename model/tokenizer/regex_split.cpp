// PCRE2 regex wrapper and HF Split behaviours; see regex_split.h.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/tokenizer/regex_split.h"

#include <pcre2.h>

#include <algorithm>
#include <new>
#include <utility>

#include "kernels/error.h"

namespace dsv32::tok {

size_t utf8_error_offset(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path, 8 bytes at a time: English text spends almost all its time here.
    while (i + 8 <= n) {
      uint64_t w;
      __builtin_memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned c = p[i];
    if (c < 0x80) { ++i; continue; }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return i;  // continuation byte, 0xC0/0xC1 overlong lead, or > 0xF4
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

MatchScratch::MatchScratch() {
  // One ovector pair is enough: only the whole-match bounds are used (rc == 0 then just means
  // "more groups than pairs", and pair 0 is still set).
  data = pcre2_match_data_create(1, nullptr);
  context = pcre2_match_context_create(nullptr);
  // The default 32 KiB JIT stack overflows on long whitespace runs under `\s+(?!\S)`.
  jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  if (!data || !context || !jit_stack) throw std::bad_alloc();
  pcre2_jit_stack_assign(context, nullptr, jit_stack);
}

MatchScratch::~MatchScratch() {
  pcre2_jit_stack_free(jit_stack);
  pcre2_match_context_free(context);
  pcre2_match_data_free(data);
}

Regex::Regex(const std::string& pattern, const std::string& where) : where_(where) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  // \C matches one code unit: inside a UTF-8 character it splits the character, and the pieces
  // then overlap or tear (decode(encode(x)) != x). PCRE2_NEVER_BACKSLASH_C makes it a compile error.
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                        PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &err, &err_off, nullptr);
  if (!code_) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail(where + ": regex does not compile at offset " + std::to_string(err_off) + ": " +
         reinterpret_cast<const char*>(msg));
  }
  // JIT is an optimisation only: without it (unsupported CPU) pcre2_match interprets.
  jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
}

Regex::Regex(Regex&& o) noexcept
    : code_(std::exchange(o.code_, nullptr)), jit_(o.jit_), where_(std::move(o.where_)) {}

Regex& Regex::operator=(Regex&& o) noexcept {
  std::swap(code_, o.code_);
  std::swap(jit_, o.jit_);
  std::swap(where_, o.where_);
  return *this;
}

Regex::~Regex() { pcre2_code_free(code_); }

bool Regex::find(std::string_view subject, size_t start, MatchScratch& s, size_t* begin,
                 size_t* end) const {
  const auto* subj = reinterpret_cast<PCRE2_SPTR>(subject.data());
  int rc = jit_ ? pcre2_jit_match(code_, subj, subject.size(), start, 0, s.data, s.context)
               : pcre2_match(code_, subj, subject.size(), start, PCRE2_NO_UTF_CHECK, s.data,
                             s.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    fail(where_ + ": regex match failed: " + reinterpret_cast<const char*>(msg));
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.data);
  // \K in a lookaround can report a match that starts after it ends or before `start`; such
  // pieces would overlap their neighbours.
  if (ov[0] > ov[1] || ov[0] < start || ov[1] > subject.size())
    fail(where_ + ": regex reported a match [" + std::to_string(ov[0]) + ", " + std::to_string(ov[1]) +
         ") outside the text searched (\\K in a lookaround?)");
  *begin = ov[0];
  *end = ov[1];
  return true;
}

static size_t utf8_char_len(unsigned char c) {
  return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

void split_piece(std::string_view text, Piece piece, const Regex& re, SplitBehavior behavior,
                 bool invert, MatchScratch& s, std::vector<Piece>& out,
                 std::vector<std::pair<Piece, bool>>& matches) {
  const std::string_view sub = text.substr(piece.begin, piece.end - piece.begin);
  if (sub.empty()) return;
  // HF's Pattern::find_matches: the piece as alternating (span, is_match), gaps included.
  matches.clear();
  size_t prev = 0, pos = 0;
  while (pos <= sub.size()) {
    size_t b, e;
    if (!re.find(sub, pos, s, &b, &e)) break;
    if (b != prev) matches.push_back({{uint32_t(prev), uint32_t(b)}, false});
    matches.push_back({{uint32_t(b), uint32_t(e)}, true});
    prev = e;
    // An empty match must not be found again at the same place: step one code point.
    pos = e > b ? e : e + (e < sub.size() ? utf8_char_len(uint8_t(sub[e])) : 1);
  }
  if (prev != sub.size()) matches.push_back({{uint32_t(prev), uint32_t(sub.size())}, false});
  if (invert)
    for (auto& m : matches) m.second = !m.second;

  // Fold the spans as HF's NormalizedString::split does for each behaviour; `acc` reuses `out`'s
  // tail so no extra vector is needed.
  const size_t base = out.size();
  auto push = [&](Piece p) { out.push_back(p); };
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (auto& [p, m] : matches)
        if (!m) push(p);
      break;
    case SplitBehavior::kIsolated:
      for (auto& [p, m] : matches) push(p);
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (auto& [p, m] : matches) {
        if (m && !previous_match && out.size() > base) out.back().end = p.end;
        else push(p);
        previous_match = m;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      // HF folds from the right: a match joins the piece that follows it.
      for (size_t i = matches.size(); i-- > 0;) {
        auto [p, m] = matches[i];
        if (m && !previous_match && out.size() > base) out.back().begin = p.begin;
        else push(p);
        previous_match = m;
      }
      std::reverse(out.begin() + base, out.end());
      break;
    case SplitBehavior::kContiguous:
      for (auto& [p, m] : matches) {
        if (m == previous_match && out.size() > base) out.back().end = p.end;
        else push(p);
        previous_match = m;
      }
      break;
  }
  // Rebase to `text` offsets and drop empty pieces (HF never emits them).
  size_t w = base;
  for (size_t i = base; i < out.size(); ++i) {
    Piece p = out[i];
    if (p.begin == p.end) continue;
    out[w++] = {p.begin + piece.begin, p.end + piece.begin};
  }
  out.resize(w);
}

}  // namespace dsv32::tok
