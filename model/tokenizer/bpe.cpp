// Byte-level BPE merges; see bpe.h.
#include "model/tokenizer/bpe.h"

#include <algorithm>
#include <climits>
#include <cstdio>

#include "kernels/error.h"

namespace dsv32::tok {

const std::array<char32_t, 256>& byte_to_unicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      t[b] = printable ? char32_t(b) : next++;
    }
    return t;
  }();
  return table;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

bool byte_level_to_bytes(std::string_view token, std::string* bytes) {
  // The map's image is U+0021..U+0143, so an inverse table of 324 entries covers it.
  static const std::array<int16_t, 324> inverse = [] {
    std::array<int16_t, 324> inv;
    inv.fill(-1);
    for (int b = 0; b < 256; ++b) inv[byte_to_unicode()[b]] = int16_t(b);
    return inv;
  }();
  bytes->clear();
  const auto* p = reinterpret_cast<const unsigned char*>(token.data());
  const size_t n = token.size();
  for (size_t i = 0; i < n;) {
    char32_t cp;
    if (p[i] < 0x80) {
      cp = p[i++];
    } else if ((p[i] & 0xE0) == 0xC0 && i + 1 < n) {
      cp = char32_t(p[i] & 0x1F) << 6 | (p[i + 1] & 0x3F);
      i += 2;
    } else {
      return false;  // 3- and 4-byte characters are all above U+0143
    }
    if (cp >= inverse.size() || inverse[cp] < 0) return false;
    *bytes += char(inverse[cp]);
  }
  return true;
}

BpeModel::BpeModel() {
  byte_id.fill(-1);
  table_.assign(1024, Entry{0, 0, 0});
  shift_ = 64 - 10;
}

static uint64_t pair_key(int32_t left, int32_t right) {
  // +1 keeps key 0 free as the empty marker (ids are >= 0).
  return (uint64_t(uint32_t(left) + 1) << 32) | (uint32_t(right) + 1);
}

const BpeModel::Entry* BpeModel::find(int32_t left, int32_t right) const {
  const uint64_t key = pair_key(left, right);
  const size_t mask = table_.size() - 1;
  for (size_t i = (key * 0x9E3779B97F4A7C15ull) >> shift_;; i = (i + 1) & mask) {
    const Entry& e = table_[i];
    if (e.key == key) return &e;
    if (e.key == 0) return nullptr;
  }
}

void BpeModel::grow() {
  std::vector<Entry> old;
  old.swap(table_);
  table_.assign(old.size() * 2, Entry{0, 0, 0});
  --shift_;
  count_ = 0;
  for (const Entry& e : old)
    if (e.key) add_merge(int32_t((e.key >> 32) - 1), int32_t((e.key & 0xFFFFFFFF) - 1), e.merged,
                         e.rank);
}

bool BpeModel::add_merge(int32_t left, int32_t right, int32_t merged, int32_t rank) {
  if ((count_ + 1) * 2 > table_.size()) grow();  // load factor <= 1/2 keeps probes short
  const uint64_t key = pair_key(left, right);
  const size_t mask = table_.size() - 1;
  for (size_t i = (key * 0x9E3779B97F4A7C15ull) >> shift_;; i = (i + 1) & mask) {
    Entry& e = table_[i];
    if (e.key == key) return false;
    if (e.key == 0) {
      e = Entry{key, rank, merged};
      ++count_;
      return true;
    }
  }
}

int32_t BpeModel::symbol_of(uint8_t b) const {
  const int32_t id = byte_id[b];
  if (id >= 0) return id;
  if (unk_id >= 0) return unk_id;
  char buf[64];
  std::snprintf(buf, sizeof buf, "byte 0x%02X has no token in the vocab and there is no unk_token",
                b);
  fail(buf);
}

void BpeModel::encode_word(std::string_view bytes, std::vector<int32_t>& out,
                           BpeScratch& s) const {
  if (bytes.size() == 1) {
    out.push_back(symbol_of(uint8_t(bytes[0])));
  } else if (bytes.size() <= 64) {
    encode_small(bytes, out, s);
  } else {
    encode_large(bytes, out, s);
  }
}

// Words of up to 64 bytes (nearly all of them): flat arrays, repeatedly merge the lowest-rank pair
// (leftmost on ties, as HF's heap ordered by (rank, position) does). O(n^2) but n is tiny.
void BpeModel::encode_small(std::string_view bytes, std::vector<int32_t>& out,
                            BpeScratch& s) const {
  const size_t n = bytes.size();
  s.ids.resize(n);
  s.ranks.resize(n);
  s.merged.resize(n);
  int32_t* ids = s.ids.data();
  int32_t* ranks = s.ranks.data();
  int32_t* merged = s.merged.data();
  for (size_t i = 0; i < n; ++i) ids[i] = symbol_of(uint8_t(bytes[i]));
  auto score = [&](size_t i) {  // pair (i, i+1)
    const Entry* e = find(ids[i], ids[i + 1]);
    ranks[i] = e ? e->rank : INT_MAX;
    merged[i] = e ? e->merged : -1;
  };
  size_t m = n;
  for (size_t i = 0; i + 1 < m; ++i) score(i);
  while (m > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < m; ++i)
      if (ranks[i] < ranks[best]) best = i;
    if (ranks[best] == INT_MAX) break;
    ids[best] = merged[best];
    // Drop symbol best+1 and pair best; pairs best-1 and best now see the merged symbol.
    std::copy(ids + best + 2, ids + m, ids + best + 1);
    std::copy(ranks + best + 1, ranks + m - 1, ranks + best);
    std::copy(merged + best + 1, merged + m - 1, merged + best);
    --m;
    if (best > 0) score(best - 1);
    if (best + 1 < m) score(best);
  }
  out.insert(out.end(), ids, ids + m);
}

// Long words (pathological inputs: a megabyte without a break): HF's algorithm, a linked list of
// symbols and a min-heap of candidate merges validated lazily when popped. O(n log n).
void BpeModel::encode_large(std::string_view bytes, std::vector<int32_t>& out,
                            BpeScratch& s) const {
  const int32_t n = int32_t(bytes.size());
  auto& syms = s.syms;
  auto& heap = s.heap;
  syms.resize(n);
  heap.clear();
  for (int32_t i = 0; i < n; ++i) syms[i] = {symbol_of(uint8_t(bytes[i])), i - 1, i + 1 < n ? i + 1 : -1};
  auto later = [](const BpeScratch::Cand& a, const BpeScratch::Cand& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  auto push = [&](int32_t pos) {
    const int32_t next = syms[pos].next;
    if (next < 0) return;
    if (const Entry* e = find(syms[pos].id, syms[next].id)) {
      heap.push_back({e->rank, pos, syms[pos].id, syms[next].id, e->merged});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const BpeScratch::Cand c = heap.back();
    heap.pop_back();
    auto& left = syms[c.pos];
    // Stale when either side has been merged since the candidate was pushed.
    if (left.id != c.left || left.next < 0 || syms[left.next].id != c.right) continue;
    const int32_t gone = left.next;
    left.id = c.merged;
    left.next = syms[gone].next;
    if (left.next >= 0) syms[left.next].prev = c.pos;
    syms[gone].id = -1;
    if (left.prev >= 0) push(left.prev);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = syms[i].next) out.push_back(syms[i].id);
}

}  // namespace dsv32::tok
