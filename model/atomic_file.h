// Whole-file writes that a kill or a full disk cannot leave half done: the text goes to
// PATH.tmp, is fsync'd, and is renamed over PATH (atomic within a directory). Readers see the
// old file or the new one, never a truncated one. Throws dsv32::Error naming the file.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "kernels/error.h"

namespace dsv32 {

inline void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path + ": cannot write (" + std::strerror(errno) + ")");
  const char* p = text.data();
  size_t left = text.size();
  int err = 0;
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) { err = w < 0 ? errno : EIO; break; }
    p += w;
    left -= size_t(w);
  }
  if (!err && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;
  if (!err && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err) {
    ::unlink(tmp.c_str());
    fail(path + ": cannot write (" + std::strerror(err) + ")");
  }
}

}  // namespace dsv32
