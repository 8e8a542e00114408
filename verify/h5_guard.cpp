#include "verify/h5_guard.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include "kernels/error.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
#define DSV32_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DSV32_SANITIZED 1
#endif

namespace dsv32::h5 {

namespace {
bool g_child = false;

constexpr int kExitError = 85, kExitBadAlloc = 86, kExitOther = 87;

long long file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? (long long)st.st_size : 0;
}

unsigned timeout_seconds(const std::string& path) {
  if (const char* s = std::getenv("DSV32_H5_CHECK_SECONDS")) {
    long v = std::strtol(s, nullptr, 10);
    if (v > 0) return unsigned(v);
  }
  return unsigned(120 + file_size(path) / 20'000'000);
}

// What reading the file may allocate: 4 GiB, or 8x the file for big ones (deflated data expands;
// the readers hold one dataset, or one store, at a time), never more than the machine's memory.
// A corrupt size field asking libhdf5 for 12 GB then fails fast instead of paging the machine.
unsigned long long memory_budget(const std::string& path) {
  const unsigned long long phys =
      (unsigned long long)sysconf(_SC_PHYS_PAGES) * (unsigned long long)sysconf(_SC_PAGESIZE);
  const unsigned long long want = std::max(4ull << 30, 8ull * (unsigned long long)file_size(path));
  return std::min(phys, want);
}

// Bytes currently mapped by this process (first field of /proc/self/statm, in pages).
unsigned long long mapped_bytes() {
  std::ifstream f("/proc/self/statm");
  unsigned long long pages = 0;
  f >> pages;
  return pages * (unsigned long long)sysconf(_SC_PAGESIZE);
}

std::string signal_name(int sig) {
  const char* d = strsignal(sig);
  return "signal " + std::to_string(sig) + (d ? std::string(" (") + d + ")" : "");
}
}  // namespace

bool in_containment_child() { return g_child; }

void contain(const std::string& path, const std::string& what, const std::function<void()>& walk) {
  if (g_child) return;
  // Off only for fuzzing under ASan, where a project bug must crash in-process to be seen.
  if (const char* c = std::getenv("DSV32_H5_CONTAIN"); c && std::string(c) == "0") return;
  const unsigned secs = timeout_seconds(path);
  const unsigned long long budget = memory_budget(path);
  int fds[2];
  if (pipe(fds) != 0) fail(path + ": " + what + ": cannot create a pipe (" + std::strerror(errno) + ")");
  std::fflush(nullptr);  // nothing buffered is written twice
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    fail(path + ": " + what + ": cannot fork the process that checks the file (" + std::strerror(errno) + ")");
  }
  if (pid == 0) {
    g_child = true;
    close(fds[0]);
    struct rlimit core {0, 0};
    setrlimit(RLIMIT_CORE, &core);
#ifndef DSV32_SANITIZED  // sanitizers reserve terabytes of shadow memory up front
    struct rlimit as {};
    as.rlim_cur = as.rlim_max = mapped_bytes() + budget;
    setrlimit(RLIMIT_AS, &as);
#endif
    signal(SIGALRM, SIG_DFL);
    alarm(secs);
    try {
      walk();
    } catch (const Error& e) {
      // A clean, named error: handed to the parent, which raises it without reading the file
      // itself (under no limits a corrupt size might then be allocated for real).
      const std::string m = e.what();
      for (size_t off = 0; off < m.size();) {
        ssize_t n = write(fds[1], m.data() + off, m.size() - off);
        if (n <= 0) break;
        off += size_t(n);
      }
      _exit(kExitError);
    } catch (const std::bad_alloc&) {
      _exit(kExitBadAlloc);
    } catch (...) {
      _exit(kExitOther);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) msg.append(buf, size_t(n));
    else if (n == 0 || errno != EINTR) break;
  }
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) fail(path + ": " + what + ": lost the process that checks the file");
  const std::string w = path + ": " + what + ": ";
  if (WIFEXITED(st)) {
    const int code = WEXITSTATUS(st);
    if (code == 0) return;
    if (code == kExitError) fail(msg.empty() ? w + "unreadable" : msg);
    if (code == kExitBadAlloc)
      fail(w + "reading it needs more memory than this machine has (corrupt sizes in the file?)");
    fail(w + "reading it fails inside libhdf5 or the C++ runtime (exit " + std::to_string(code) +
         "; corrupt file?)");
  }
  const int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
  if (sig == SIGALRM)
    fail(w + "reading it did not finish within " + std::to_string(secs) +
         " s (corrupt file? DSV32_H5_CHECK_SECONDS raises the limit)");
  if (sig == SIGKILL) fail(w + "the process reading it was killed (out of memory? corrupt sizes in the file?)");
  fail(w + "libhdf5 crashes reading it (" + signal_name(sig) + "): corrupt or hostile file");
}

}  // namespace dsv32::h5
