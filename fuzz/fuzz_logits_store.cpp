// libFuzzer target: the --kl-base store reader (verify/logits_store.cpp), then every row the way
// `ppl --kl-base` uses it (ids index a vocab-sized row). Containment off, as in fuzz_dump.cpp.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "verify/logits_store.h"

// DSV32_FUZZ_CONTAINED=1 keeps the containment on: scripts/fuzz.sh replays libhdf5's crashes
// that way to check that each becomes a dsv32::Error.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!std::getenv("DSV32_FUZZ_CONTAINED")) setenv("DSV32_H5_CONTAIN", "0", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dsv32::fuzz::unique_scratch_path("store");
  dsv32::fuzz::write_file(path, data, size);
  dsv32::fuzz::expect_ok_or_error([&] {
    dsv32::LogitsStoreReader r(path);
    if (r.info().vocab > (1 << 20)) return;  // a row of that many floats per input is just slow
    std::vector<float> row(size_t(r.info().vocab), 0.f);
    for (int64_t i = 0; i < r.rows(); ++i) {
      dsv32::BaseRow b = r.row(i);
      volatile float s = row[size_t(b.target)] + row[size_t(b.argmax)];
      for (int32_t id : b.dist.ids) s = s + row[size_t(id)];
      (void)s;
    }
  });
  std::remove(path.c_str());
  return 0;
}
