// libFuzzer target: encoding with a fixed byte-level BPE tokenizer and the round-trip property
// decode(encode(x)) == x for every valid UTF-8 x (invalid UTF-8 must be a dsv32::Error). The
// tokenizer is fuzz/tokenizer/tiny.json (256 byte tokens, a few merges, added tokens, the
// DeepSeek-style pre-tokenizer), or $DSV32_FUZZ_TOKENIZER (e.g. .cache/tokenizer/tokenizer.json).
#include <cstdlib>
#include <string>

#include "fuzz/fuzz_util.h"
#include "model/tokenizer/tokenizer.h"

static const dsv32::Tokenizer& tokenizer() {
  static const dsv32::Tokenizer t = [] {
    const char* env = std::getenv("DSV32_FUZZ_TOKENIZER");
    return dsv32::Tokenizer::load(env ? env : DSV32_SOURCE_DIR "/fuzz/tokenizer/tiny.json");
  }();
  return t;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const dsv32::Tokenizer& t = tokenizer();
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<int32_t> ids;
  try {
    ids = t.encode(text, false);
  } catch (const dsv32::Error&) {
    return 0;  // invalid UTF-8
  }
  if (t.decode(ids) != text) std::abort();  // pieces overlapped, tore or went missing
  return 0;
}
