// Helpers shared by the verify tests: the message of an expected Error, the repository's tolerance
// profiles, and verify_dumps on two dump files with a tensor lookup in its report.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "kernels/error.h"
#include "verify/compare.h"
#include "verify/dump.h"
#include "verify/profile.h"

namespace dsv32::test {

// What f throws as Error, or "" when it does not throw.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline const ProfileSet& profiles() {
  static const ProfileSet p = ProfileSet::load(DSV32_SOURCE_DIR "/verify/profiles.json");
  return p;
}

inline VerifyReport verify(const std::string& a, const std::string& b, const std::string& profile = "exact",
                           const VerifyOptions& opt = {}) {
  return verify_dumps(DumpReader(a), DumpReader(b), profiles().get(profile), opt);
}

inline const TensorReport& find(const VerifyReport& r, const std::string& name) {
  for (auto& t : r.tensors)
    if (t.name == name) return t;
  ADD_FAILURE() << "no tensor " << name;
  return r.tensors.front();
}

}  // namespace dsv32::test
