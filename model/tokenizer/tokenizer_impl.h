// Internal state of dsv32::Tokenizer, shared by tokenizer_load.cpp (building it from
// tokenizer.json) and tokenizer.cpp (encode/decode). Not part of the public API.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/tokenizer/bpe.h"
#include "model/tokenizer/regex_split.h"
#include "model/tokenizer/tokenizer.h"

namespace dsv32 {

// One step of the flattened pre_tokenizer Sequence.
struct PreTokStep {
  enum class Kind { kSplit, kByteLevel } kind;
  // kSplit: the pattern and HF behaviour. kByteLevel with use_regex: the GPT-2 pattern, Isolated.
  tok::Regex* regex = nullptr;  // points into Impl::regexes (stable: a vector of unique_ptr)
  tok::SplitBehavior behavior = tok::SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // kByteLevel: prepend ' ' to each piece not starting with one
};

struct AddedToken {
  std::string content;
  int32_t id;
  bool special, lstrip, rstrip;
};

struct Tokenizer::Impl {
  std::string path;  // for messages
  tok::BpeModel bpe;
  std::vector<std::unique_ptr<tok::Regex>> regexes;
  std::vector<PreTokStep> steps;

  // Added tokens, matched leftmost-longest on the raw text before pre-tokenization.
  std::vector<AddedToken> added;
  std::unordered_map<std::string, int32_t> added_index;  // content -> index into `added`
  std::vector<uint32_t> added_lengths;                    // distinct content lengths, longest first
  std::array<bool, 256> added_first_byte{};               // bytes an added token can start with

  std::unordered_map<std::string, int32_t> vocab_bytes;  // raw bytes of a vocab token -> id
  std::unordered_map<std::string, int32_t> vocab_literal;  // vocab entries outside the byte alphabet
  bool ignore_merges = false;

  std::vector<std::string> id_bytes;  // id -> bytes decode() emits
  std::vector<bool> id_defined;
  int32_t bos = -1;
  bool add_bos_default = false;
};

}  // namespace dsv32
