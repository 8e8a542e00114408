// Shared by the fuzz targets: a per-process scratch file for readers that take a path, and the
// rule every target enforces -- bad input may raise dsv32::Error, nothing else. Any other
// exception escapes LLVMFuzzerTestOneInput, aborts, and libFuzzer records the input as a crash.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/error.h"

namespace dsv32::fuzz {

// /dev/shm when it exists (no disk I/O per execution), else /tmp; one file per process and tag.
inline std::string scratch_path(const char* tag) {
  const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  return std::string(dir) + "/dsv32_fuzz_" + tag + "_" + std::to_string(getpid());
}

// A new name per call: libhdf5 shares the state of an already-open file among opens of the same
// file, so an input whose file libhdf5 failed to close would otherwise poison the next input.
inline std::string unique_scratch_path(const char* tag) {
  static unsigned long n = 0;
  return scratch_path(tag) + "_" + std::to_string(n++);
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// Runs fn; a dsv32::Error is an accepted outcome for malformed input.
template <class Fn>
void expect_ok_or_error(Fn fn) {
  try {
    fn();
  } catch (const Error&) {
  }
}

}  // namespace dsv32::fuzz
