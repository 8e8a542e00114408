// libFuzzer target: the safetensors header reader (model/safetensors.cpp). Input = a whole
// .safetensors file. Every tensor the reader accepts is read byte for byte, so an offset that
// escapes the mapping is an ASan report, not a silent out-of-bounds read.
#include "fuzz/fuzz_util.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = dsv32::fuzz::scratch_path("st");
  dsv32::fuzz::write_file(path, data, size);
  dsv32::fuzz::expect_ok_or_error([&] {
    dsv32::SafetensorsFile f(path);
    volatile uint8_t sink = 0;
    for (auto& [name, t] : f.tensors())
      for (int64_t i = 0; i < t.nbytes; ++i) sink = sink ^ t.data[i];
    (void)sink;
  });
  return 0;
}
