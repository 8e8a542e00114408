// The one exception type for bad input: its message is a single line that names the file and the
// field (tensor, key, option) at fault. The CLI prints it and exits 2.
#pragma once
#include <stdexcept>
#include <string>

namespace dsv32 {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// fail("model.safetensors: tensor 'x': data_offsets out of range") throws Error.
[[noreturn]] inline void fail(const std::string& msg) { throw Error(msg); }

}  // namespace dsv32
