// libFuzzer target: the dump reader (verify/dump_read.cpp) -- open, every /meta field, every
// dataset read in full. Containment is off (DSV32_H5_CONTAIN=0) so that a bug in our code crashes
// in-process where ASan sees it; a crash whose frames are all inside libhdf5 is libhdf5's (the
// CLI contains those: verify/h5_guard.h).
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "verify/dump.h"

// DSV32_FUZZ_CONTAINED=1 keeps the containment on: scripts/fuzz.sh replays libhdf5's crashes
// that way to check that each becomes a dsv32::Error.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!std::getenv("DSV32_FUZZ_CONTAINED")) setenv("DSV32_H5_CONTAIN", "0", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dsv32::fuzz::unique_scratch_path("dump");
  dsv32::fuzz::write_file(path, data, size);
  dsv32::fuzz::expect_ok_or_error([&] {
    dsv32::DumpReader r(path);
    for (auto& n : r.tensors()) {
      dsv32::DumpTensor t = r.read(n);
      if (t.rows() > 0) (void)t.row_elems();
    }
    (void)r.positions().size();
  });
  std::remove(path.c_str());
  return 0;
}
