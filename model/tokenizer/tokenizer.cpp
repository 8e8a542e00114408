// Tokenizer encode/decode; loading is in tokenizer_load.cpp, the pipeline is described in
// tokenizer.h.
#include "model/tokenizer/tokenizer.h"

#include <cstring>
#include <string_view>
#include <unordered_map>

#include "kernels/error.h"
#include "model/tokenizer/tokenizer_impl.h"

namespace dsv32 {
namespace {

// True for the whitespace HF's lstrip/rstrip trims (ASCII subset; DeepSeek uses neither flag).
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Everything an encode call needs besides the tokenizer: buffers reused across words, gaps and
// calls (one per thread) so that, after warm-up, encoding allocates only when the output grows.
struct EncodeState {
  tok::MatchScratch match;
  tok::BpeScratch bpe;
  std::vector<tok::Piece> pieces, next;
  std::vector<std::pair<tok::Piece, bool>> matches;
  std::string prefixed;  // text with prefix spaces inserted (ByteLevel add_prefix_space only)
  // Per-call merge cache: word bytes (a view into the text) -> its ids' span in the output.
  // Natural text repeats words constantly, and a view key costs no allocation.
  std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;
};

}  // namespace

// Runs the pre-tokenizer steps and BPE on one gap between added tokens.
static void encode_gap(const Tokenizer::Impl& t, std::string_view text, EncodeState& st,
                       std::vector<int32_t>& out) {
  st.pieces.assign(1, tok::Piece{0, uint32_t(text.size())});
  std::string_view cur = text;
  for (const PreTokStep& step : t.steps) {
    if (step.kind == PreTokStep::Kind::kByteLevel && step.add_prefix_space) {
      // HF prepends ' ' to every piece that does not start with one; rebuild the text so the
      // later steps and BPE see the inserted spaces.
      std::string rebuilt;
      st.next.clear();
      for (tok::Piece p : st.pieces) {
        const uint32_t b = uint32_t(rebuilt.size());
        if (cur[p.begin] != ' ') rebuilt += ' ';
        rebuilt.append(cur.substr(p.begin, p.end - p.begin));
        st.next.push_back({b, uint32_t(rebuilt.size())});
      }
      st.prefixed.swap(rebuilt);
      cur = st.prefixed;
      st.pieces.swap(st.next);
      st.cache.clear();  // its keys pointed into the old text
    }
    if (!step.regex) continue;
    st.next.clear();
    for (tok::Piece p : st.pieces)
      tok::split_piece(cur, p, *step.regex, step.behavior, step.invert, st.match, st.next,
                       st.matches);
    st.pieces.swap(st.next);
  }
  for (tok::Piece p : st.pieces) {
    const std::string_view word = cur.substr(p.begin, p.end - p.begin);
    if (word.size() == 1) {
      t.bpe.encode_word(word, out, st.bpe);
      continue;
    }
    if (t.ignore_merges) {
      if (auto it = t.vocab_bytes.find(std::string(word)); it != t.vocab_bytes.end()) {
        out.push_back(it->second);
        continue;
      }
    }
    auto [it, fresh] = st.cache.try_emplace(word, 0, 0);
    if (!fresh) {
      const auto [off, len] = it->second;
      out.insert(out.end(), out.begin() + off, out.begin() + off + len);
      continue;
    }
    const size_t before = out.size();
    t.bpe.encode_word(word, out, st.bpe);
    it->second = {uint32_t(before), uint32_t(out.size() - before)};
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  const Impl& t = *impl_;
  if (text.size() >= UINT32_MAX) fail("encode: text longer than 4 GiB");
  if (size_t bad = tok::utf8_error_offset(text); bad != std::string_view::npos)
    fail("encode: invalid UTF-8 at byte offset " + std::to_string(bad));
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 16);
  if (add_bos) {
    if (t.bos < 0) fail(t.path + ": no bos_token (tokenizer_config.json missing or without one)");
    out.push_back(t.bos);
  }
  // Scratch lives per thread: creating a JIT stack and match data per call cost ~100 us, which
  // dominated short prompts. The cache's keys point into the previous call's text: clear it.
  thread_local EncodeState st;
  st.cache.clear();

  // Added tokens first, leftmost-longest on the raw text (the normalizer is the identity, so HF's
  // two passes for normalized / non-normalized tokens coincide). Gaps go through the pipeline.
  // lstrip/rstrip drop the whitespace next to a token, as HF's AddedToken options do.
  size_t gap_begin = 0, i = 0;
  int32_t pending_rstrip = 0;
  auto flush_gap = [&](size_t end) {
    size_t b = gap_begin;
    if (pending_rstrip)
      while (b < end && is_space(text[b])) ++b;
    if (b < end) encode_gap(t, text.substr(b, end - b), st, out);
  };
  const size_t n = text.size();
  while (i < n) {
    if (!t.added_first_byte[uint8_t(text[i])]) { ++i; continue; }
    const AddedToken* hit = nullptr;
    for (uint32_t len : t.added_lengths) {
      if (len > n - i) continue;
      auto it = t.added_index.find(std::string(text.substr(i, len)));
      if (it != t.added_index.end()) { hit = &t.added[it->second]; break; }
    }
    if (!hit) { ++i; continue; }
    size_t gap_end = i;
    if (hit->lstrip)
      while (gap_end > gap_begin && is_space(text[gap_end - 1])) --gap_end;
    flush_gap(gap_end);
    out.push_back(hit->id);
    i += hit->content.size();
    gap_begin = i;
    pending_rstrip = hit->rstrip;
  }
  flush_gap(n);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  const Impl& t = *impl_;
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= t.id_bytes.size() || !t.id_defined[id])
      fail("decode: token id " + std::to_string(id) + " is not in " + t.path);
    out += t.id_bytes[id];
  }
  return out;
}

int32_t Tokenizer::bos_id() const { return impl_->bos; }
bool Tokenizer::add_bos_by_default() const { return impl_->add_bos_default; }
int64_t Tokenizer::vocab_size() const { return int64_t(impl_->id_bytes.size()); }

int32_t Tokenizer::token_id(std::string_view token) const {
  const Impl& t = *impl_;
  const std::string key(token);
  if (auto it = t.added_index.find(key); it != t.added_index.end()) return t.added[it->second].id;
  if (auto it = t.vocab_literal.find(key); it != t.vocab_literal.end()) return it->second;
  std::string bytes;
  if (tok::byte_level_to_bytes(token, &bytes))
    if (auto it = t.vocab_bytes.find(bytes); it != t.vocab_bytes.end()) return it->second;
  return -1;
}

}  // namespace dsv32
