#include "app/common.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/args.h"
#include "kernels/error.h"

namespace dsv32::app {

std::string read_text_file(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path + ": cannot open");
  ss << f.rdbuf();
  return ss.str();
}

std::vector<int64_t> read_ids_file(const std::string& path) {
  std::string text = read_text_file(path);
  for (char& ch : text)
    if (ch == '\n' || ch == '\r' || ch == '\t' || ch == ' ') ch = ',';
  return parse_int_list(text, path);
}

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), tty_(isatty(2)) {}

void Progress::update(int64_t done, const std::string& extra) {
  int pct = total_ > 0 ? int(100 * done / total_) : 100;
  double el = sw_.seconds();
  // Logs (not a terminal): a line per 10 %, and only once the task has run for 2 s.
  if (!tty_ && (el < 2.0 || (pct / 10 == last_pct_ / 10 && done != total_))) return;
  last_pct_ = pct;
  double eta = done > 0 ? el * double(total_ - done) / double(done) : 0;
  const int width = 30;
  int fill = total_ > 0 ? int(width * done / total_) : width;
  std::fprintf(stderr, "%s%s [%s%s] %lld/%lld %.0fs ETA %.0fs %s%s", tty_ ? "\r" : "", label_.c_str(),
               std::string(fill, '#').c_str(), std::string(width - fill, ' ').c_str(), (long long)done,
               (long long)total_, el, eta, extra.c_str(), tty_ ? "\033[K" : "\n");
  std::fflush(stderr);
}

void Progress::finish(const std::string& extra) {
  if (!tty_ && last_pct_ < 0) return;  // short task: no progress was shown, no summary either
  if (tty_) std::fprintf(stderr, "\r%s done in %.1fs %s\033[K\n", label_.c_str(), sw_.seconds(), extra.c_str());
  else std::fprintf(stderr, "%s done in %.1fs %s\n", label_.c_str(), sw_.seconds(), extra.c_str());
}

std::string strprintf(const char* fmt, ...) {
  va_list a, b;
  va_start(a, fmt);
  va_copy(b, a);
  const int n = std::vsnprintf(nullptr, 0, fmt, a);
  va_end(a);
  std::string s(size_t(n) + 1, '\0');
  std::vsnprintf(s.data(), s.size(), fmt, b);
  va_end(b);
  s.resize(size_t(n));
  return s;
}

}  // namespace dsv32::app
