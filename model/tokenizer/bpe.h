// Byte-level BPE: the GPT-2 byte<->unicode map and merges by rank on raw bytes.
//
// tokenizer.json spells every vocab entry and merge in byte-level form (byte 0x20 is "Ġ", U+0120).
// At load we map those strings back to raw bytes once, so encoding never builds byte-level
// strings: a word's bytes become one symbol id each, and merges are looked up by (left id,
// right id) in an open-addressing table.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dsv32::tok {

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order.
const std::array<char32_t, 256>& byte_to_unicode();
void append_utf8(std::string& out, char32_t cp);
// Raw bytes of a byte-level token string; false when some character is not in the map (e.g. an
// added token such as "<｜begin▁of▁sentence｜>" that also sits in the vocab).
bool byte_level_to_bytes(std::string_view token, std::string* bytes);

// Reusable buffers for BpeModel::encode_word (one per encode call).
struct BpeScratch {
  std::vector<int32_t> ids, ranks, merged;
  struct Sym { int32_t id, prev, next; };
  struct Cand { int32_t rank, pos, left, right, merged; };
  std::vector<Sym> syms;
  std::vector<Cand> heap;
};

class BpeModel {
 public:
  BpeModel();
  // Registers a merge "left right" -> merged with its rank (its index in model.merges).
  // Returns false when the pair already has a (lower) rank: HF keeps the first.
  bool add_merge(int32_t left, int32_t right, int32_t merged, int32_t rank);
  // Appends the ids of one pre-tokenized word (raw bytes, non-empty) to `out`.
  // Throws Error when a byte has no token (vocab without the full byte alphabet, no unk).
  void encode_word(std::string_view bytes, std::vector<int32_t>& out, BpeScratch& s) const;

  std::array<int32_t, 256> byte_id;  // token of each single byte, -1 when absent
  int32_t unk_id = -1;

 private:
  struct Entry { uint64_t key; int32_t rank, merged; };
  const Entry* find(int32_t left, int32_t right) const;
  void grow();
  void encode_small(std::string_view bytes, std::vector<int32_t>& out, BpeScratch& s) const;
  void encode_large(std::string_view bytes, std::vector<int32_t>& out, BpeScratch& s) const;
  int32_t symbol_of(uint8_t b) const;

  std::vector<Entry> table_;  // open addressing, power-of-two size, key 0 = empty
  size_t count_ = 0;
  int shift_ = 64;
};

}  // namespace dsv32::tok
