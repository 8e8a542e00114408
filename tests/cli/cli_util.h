// Runs the dsv32 CLI (DSV32_BIN) from tests and captures its output and exit status.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace dsv32::testing {

struct CliResult {
  int status = -1;
  std::string out;  // stdout + stderr
};

// `limit`: a shell prefix for the command (see run_cli_full_disk).
inline CliResult run_cli(const std::string& args, const std::string& limit = "") {
  CliResult r;
  std::string cmd = limit.empty() ? std::string(DSV32_BIN) + " " + args + " 2>&1"
                                  : "sh -c \"" + limit + "exec " + std::string(DSV32_BIN) + " " + args + "\" 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

// A full disk without root: `ulimit -f BLOCKS` (512-byte blocks in dash, POSIX sh) with SIGXFSZ
// ignored makes every write past the limit fail with EFBIG, as ENOSPC would. Args go through sh:
// no quotes in them.
inline CliResult run_cli_full_disk(int blocks, const std::string& args) {
  return run_cli(args, "ulimit -f " + std::to_string(blocks) + "; trap '' XFSZ; ");
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

}  // namespace dsv32::testing
