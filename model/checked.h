// Checked size arithmetic for values that come from files (shapes, counts, offsets). A product or
// sum that overflows int64, or a negative factor, throws dsv32::Error naming `where`, so a hostile
// shape can never wrap into a small, plausible element count. The one helper for verify/, app/,
// reports/ and the model loaders (kernels/ must not include model/ and does not read files).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/error.h"

namespace dsv32 {

// a * b; throws "<where>: size a x b overflows" on overflow or a negative factor.
inline int64_t checked_mul(int64_t a, int64_t b, const std::string& where) {
  int64_t r = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
    fail(where + ": size " + std::to_string(a) + " x " + std::to_string(b) + " is negative or overflows");
  return r;
}

// a + b for non-negative sizes; throws on overflow or a negative term.
inline int64_t checked_add(int64_t a, int64_t b, const std::string& where) {
  int64_t r = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r))
    fail(where + ": size " + std::to_string(a) + " + " + std::to_string(b) + " is negative or overflows");
  return r;
}

// The product of dims[first..] (1 for none); throws naming `where` on overflow or a negative dim.
template <class Int>
int64_t checked_product(const std::vector<Int>& dims, const std::string& where, size_t first = 0) {
  int64_t n = 1;
  for (size_t i = first; i < dims.size(); ++i) {
    const Int d = dims[i];
    bool bad = uint64_t(d) > uint64_t(INT64_MAX);
    if constexpr (std::is_signed_v<Int>) bad = d < 0;
    if (bad) fail(where + ": dimension " + std::to_string(d) + " is out of range");
    n = checked_mul(n, int64_t(d), where);
  }
  return n;
}

inline int64_t checked_product(std::initializer_list<int64_t> dims, const std::string& where) {
  return checked_product(std::vector<int64_t>(dims), where);
}

// The sum of non-negative sizes; throws naming `where` on overflow or a negative term.
inline int64_t checked_sum(std::initializer_list<int64_t> terms, const std::string& where) {
  int64_t s = 0;
  for (int64_t t : terms) s = checked_add(s, t, where);
  return s;
}

}  // namespace dsv32
