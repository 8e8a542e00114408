// libFuzzer target: tokenizer.json loading (model/tokenizer/tokenizer_load.cpp). Input = the
// JSON. A tokenizer that loads must also encode and decode a fixed mixed-script text without
// anything but dsv32::Error.
#include <string>

#include "fuzz/fuzz_util.h"
#include "model/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = dsv32::fuzz::scratch_path("tok");
  dsv32::fuzz::write_file(path, data, size);
  dsv32::fuzz::expect_ok_or_error([&] {
    dsv32::Tokenizer t = dsv32::Tokenizer::load(path);
    const std::string text = "Hello,  world! \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac 123 <s>\n\tx";
    const auto ids = t.encode(text, true);
    (void)t.decode(ids);
  });
  return 0;
}
