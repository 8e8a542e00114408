#include "verify/h5.h"

#include <cstring>

namespace dsv32::h5 {

void quiet() {
  static const bool done = [] {
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
  Id type = vlen_string_type();
  hsize_t n = values.size();
  Id space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
  Id attr(check(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), w + ": create"),
          H5Aclose);
  std::vector<const char*> ptrs;
  for (auto& v : values) ptrs.push_back(v.c_str());
  if (!ptrs.empty()) check_status(H5Awrite(attr, type, ptrs.data()), w + ": write");
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

bool has_attr(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

static Id open_attr(hid_t obj, const char* name, const std::string& w) {
  if (H5Aexists(obj, name) <= 0) fail(w + ": missing");
  return Id(check(H5Aopen(obj, name, H5P_DEFAULT), w + ": open"), H5Aclose);
}

std::vector<std::string> read_attr_strings(hid_t obj, const char* name, const std::string& where) {
  const std::string w = where + ": attribute '" + name + "'";
  Id attr = open_attr(obj, name, w);
  Id type(check(H5Aget_type(attr), w + ": type"), H5Tclose);
  if (H5Tget_class(type) != H5T_STRING) fail(w + ": not a string");
  Id space(check(H5Aget_space(attr), w + ": dataspace"), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n < 0) fail(w + ": bad dataspace");
  std::vector<std::string> out;
  if (H5Tis_variable_str(type) > 0) {
    Id mem = vlen_string_type();
    std::vector<char*> ptrs(size_t(n), nullptr);
    if (n > 0) check_status(H5Aread(attr, mem, ptrs.data()), w + ": read");
    for (auto* p : ptrs) out.emplace_back(p ? p : "");
    if (n > 0) H5Dvlen_reclaim(mem, space, H5P_DEFAULT, ptrs.data());
  } else {
    size_t len = H5Tget_size(type);
    Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem, len);
    H5Tset_strpad(mem, H5T_STR_NULLPAD);
    std::vector<char> buf(size_t(n) * len + 1, 0);
    if (n > 0) check_status(H5Aread(attr, mem, buf.data()), w + ": read");
    for (hssize_t i = 0; i < n; ++i) {
      const char* p = buf.data() + size_t(i) * len;
      out.emplace_back(p, strnlen(p, len));
    }
  }
  return out;
}

std::string read_attr_string(hid_t obj, const char* name, const std::string& where) {
  auto v = read_attr_strings(obj, name, where);
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
