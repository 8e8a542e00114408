#include "reports/provenance.h"

#include <cstdio>
#include <ctime>

namespace dsv32::reports {

std::string git_commit() {
#ifdef DSV32_SOURCE_DIR
  std::string cmd = std::string("git -C '") + DSV32_SOURCE_DIR + "' rev-parse HEAD 2>/dev/null";
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[128] = {0};
    bool ok = std::fgets(buf, sizeof buf, p) != nullptr;
    pclose(p);
    std::string s = ok ? buf : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (s.size() == 40) return s;
  }
#endif
  return "unknown";
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace dsv32::reports
