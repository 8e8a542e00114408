// Internal to verify/: RAII handles and attribute helpers over the HDF5 C API. Every call that can
// fail is checked and turned into a dsv32::Error whose message starts with the file name and the
// object (dataset or attribute) at fault. The HDF5 error stack is silenced once per process.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/error.h"

namespace dsv32::h5 {

// Turns off HDF5's automatic error-stack printing and its atexit cleanup (idempotent; call before
// any other HDF5 function). Without the atexit handler a file left open after a failed write or
// close (full disk) is not flushed again at exit, which crashed inside libhdf5; every writer
// closes its files itself.
void quiet();

class Id {
 public:
  Id() = default;
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Id(Id&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  Id& operator=(Id&& o) noexcept {
    if (this != &o) { reset(); id_ = std::exchange(o.id_, -1); close_ = o.close_; }
    return *this;
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t release() { return std::exchange(id_, -1); }  // caller closes
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// Checks an id / status; on failure throws "<file>: <what>: <action> failed".
inline hid_t check(hid_t id, const std::string& where) {
  if (id < 0) fail(where + " failed");
  return id;
}
inline void check_status(herr_t st, const std::string& where) {
  if (st < 0) fail(where + " failed");
}

// A dataset's dimensions and element count, checked: the shape's product must not overflow, and
// the data must fit in what the file stores for it (see h5.cpp). Throws Error naming `where`.
struct Extent {
  std::vector<hsize_t> dims;
  int64_t elements = 0;
};
Extent dataset_extent(hid_t ds, const std::string& where);

// Attributes on an object (group or dataset). Strings are written as fixed-length UTF-8 (NUL
// padded): no variable-length data, so no global heap for a reader to parse (libhdf5 1.10's
// H5HG_read is where corrupt files overflow the heap). Reading accepts fixed-length strings and,
// with allow_vlen (dumps from h5py: `attrs[k] = "text"` is variable-length), variable-length ones.
void write_attr_string(hid_t obj, const char* name, const std::string& value, const std::string& where);
void write_attr_int(hid_t obj, const char* name, int64_t value, const std::string& where);
void write_attr_strings(hid_t obj, const char* name, const std::vector<std::string>& values,
                        const std::string& where);
bool has_attr(hid_t obj, const char* name);
std::string read_attr_string(hid_t obj, const char* name, const std::string& where, bool allow_vlen = true);
int64_t read_attr_int(hid_t obj, const char* name, const std::string& where);
std::vector<std::string> read_attr_strings(hid_t obj, const char* name, const std::string& where,
                                           bool allow_vlen = true);

}  // namespace dsv32::h5
