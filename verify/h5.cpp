#include "verify/h5.h"

#include <filesystem>

#include <algorithm>
#include <cstring>

#include "model/checked.h"

namespace dsv32::h5 {

void quiet() {
  static const bool done = [] {
    H5dont_atexit();  // fails harmlessly if the library was already initialised
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

static Id vlen_string_type() {
  Id t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

static void write_strings(hid_t obj, const char* name, const std::vector<std::string>& values,
                          bool scalar, const std::string& where) {
  const std::string w = where + ": attribute '" + name + "'";
  if (H5Aexists(obj, name) > 0) check_status(H5Adelete(obj, name), w + ": delete");
  size_t len = 1;  // a fixed-length string type is at least one byte wide
  for (auto& v : values) len = std::max(len, v.size());
  Id type(check(H5Tcopy(H5T_C_S1), w + ": type"), H5Tclose);
  check_status(H5Tset_size(type, len), w + ": type size");
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  H5Tset_cset(type, H5T_CSET_UTF8);
  hsize_t n = values.size();
  Id space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
  Id attr(check(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), w + ": create"),
          H5Aclose);
  std::vector<char> buf(values.size() * len, 0);
  for (size_t i = 0; i < values.size(); ++i) std::memcpy(buf.data() + i * len, values[i].data(), values[i].size());
  if (!values.empty()) check_status(H5Awrite(attr, type, buf.data()), w + ": write");
}

void write_attr_string(hid_t obj, const char* name, const std::string& value, const std::string& where) {
  write_strings(obj, name, {value}, true, where);
}
void write_attr_strings(hid_t obj, const char* name, const std::vector<std::string>& values,
                        const std::string& where) {
  write_strings(obj, name, values, false, where);
}

void write_attr_int(hid_t obj, const char* name, int64_t value, const std::string& where) {
  const std::string w = where + ": attribute '" + name + "'";
  if (H5Aexists(obj, name) > 0) check_status(H5Adelete(obj, name), w + ": delete");
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id attr(check(H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT), w + ": create"),
          H5Aclose);
  check_status(H5Awrite(attr, H5T_NATIVE_INT64, &value), w + ": write");
}

// Deflate expands at most 1032:1, so a dataset claiming more than ~1100 bytes per stored byte
// (plus a MiB of slack for small and compact datasets) is a corrupt or hostile shape -- e.g. 2^61
// rows of never-written chunks in a 20 KB file -- and nothing to allocate memory for.
Extent dataset_extent(hid_t ds, const std::string& where) {
  Id space(check(H5Dget_space(ds), where + ": dataspace"), H5Sclose);
  Id type(check(H5Dget_type(ds), where + ": type"), H5Tclose);
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) fail(where + ": bad dataspace");
  Extent e;
  e.dims.resize(size_t(rank));
  if (rank > 0) check_status(H5Sget_simple_extent_dims(space, e.dims.data(), nullptr), where + ": dimensions");
  e.elements = checked_product(e.dims, where + ": shape");
  const int64_t bytes = checked_mul(e.elements, int64_t(std::max<size_t>(H5Tget_size(type), 1)), where + ": shape");
  // The storage size comes from the file's own metadata, so a corrupt file can claim anything:
  // it counts only up to the file's real size on disk.
  int64_t stored = int64_t(H5Dget_storage_size(ds));
  if (const hid_t f = H5Iget_file_id(ds); f >= 0) {
    const ssize_t len = H5Fget_name(f, nullptr, 0);
    std::string fname(len > 0 ? size_t(len) : 0, '\0');
    if (len > 0) H5Fget_name(f, fname.data(), size_t(len) + 1);
    H5Fclose(f);
    std::error_code ec;
    const auto on_disk = std::filesystem::file_size(fname, ec);
    if (!ec) stored = std::min<int64_t>(stored, int64_t(on_disk));
  }
  constexpr int64_t kMaxRatio = 1100, kSlack = 1 << 20;
  if (bytes > kSlack && (stored <= 0 || bytes / kMaxRatio > stored))
    fail(where + ": shape claims " + std::to_string(bytes) + " bytes of data but the file stores " +
         std::to_string(stored) + " for it (corrupt shape?)");
  return e;
}

bool has_attr(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

static Id open_attr(hid_t obj, const char* name, const std::string& w) {
  if (H5Aexists(obj, name) <= 0) fail(w + ": missing");
  return Id(check(H5Aopen(obj, name, H5P_DEFAULT), w + ": open"), H5Aclose);
}

std::vector<std::string> read_attr_strings(hid_t obj, const char* name, const std::string& where,
                                           bool allow_vlen) {
  const std::string w = where + ": attribute '" + name + "'";
  Id attr = open_attr(obj, name, w);
  Id type(check(H5Aget_type(attr), w + ": type"), H5Tclose);
  if (H5Tget_class(type) != H5T_STRING) fail(w + ": not a string");
  Id space(check(H5Aget_space(attr), w + ": dataspace"), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n < 0) fail(w + ": bad dataspace");
  // Attributes are small (object-header storage holds 64 KiB; dense storage is not used for
  // dumps): a million strings or 16 MiB of text is a corrupt dataspace, not a big attribute.
  if (n > (1 << 20)) fail(w + ": " + std::to_string(n) + " strings: corrupt dataspace");
  std::vector<std::string> out;
  const bool vlen = H5Tis_variable_str(type) > 0;
  if (vlen && !allow_vlen)
    fail(w + ": variable-length string (dsv32 writes fixed-length ones; file not written by this version?)");
  if (vlen) {
    Id mem = vlen_string_type();
    std::vector<char*> ptrs(size_t(n), nullptr);
    if (n > 0) check_status(H5Aread(attr, mem, ptrs.data()), w + ": read");
    for (auto* p : ptrs) out.emplace_back(p ? p : "");
    if (n > 0) H5Dvlen_reclaim(mem, space, H5P_DEFAULT, ptrs.data());
  } else {
    size_t len = H5Tget_size(type);
    if (len == 0 || uint64_t(n) * len > (1u << 24)) fail(w + ": fixed-length strings of " + std::to_string(len) +
                                                       " bytes: corrupt type or dataspace");
    Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem, len);
    H5Tset_strpad(mem, H5T_STR_NULLPAD);
    H5Tset_cset(mem, H5Tget_cset(type));  // libhdf5 does not convert between ASCII and UTF-8
    std::vector<char> buf(size_t(n) * len + 1, 0);
    if (n > 0) check_status(H5Aread(attr, mem, buf.data()), w + ": read");
    for (hssize_t i = 0; i < n; ++i) {
      const char* p = buf.data() + size_t(i) * len;
      out.emplace_back(p, strnlen(p, len));
    }
  }
  return out;
}

std::string read_attr_string(hid_t obj, const char* name, const std::string& where, bool allow_vlen) {
  auto v = read_attr_strings(obj, name, where, allow_vlen);
  if (v.size() != 1) fail(where + ": attribute '" + name + "': expected one string");
  return v[0];
}

int64_t read_attr_int(hid_t obj, const char* name, const std::string& where) {
  const std::string w = where + ": attribute '" + name + "'";
  Id attr = open_attr(obj, name, w);
  Id type(check(H5Aget_type(attr), w + ": type"), H5Tclose);
  if (H5Tget_class(type) != H5T_INTEGER) fail(w + ": not an integer");
  Id space(check(H5Aget_space(attr), w + ": dataspace"), H5Sclose);
  if (H5Sget_simple_extent_npoints(space) != 1) fail(w + ": expected one value");
  int64_t v = 0;
  check_status(H5Aread(attr, H5T_NATIVE_INT64, &v), w + ": read");
  return v;
}

}  // namespace dsv32::h5
