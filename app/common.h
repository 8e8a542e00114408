// Helpers shared by subcommands: version/commit strings, reading id lists, timing, progress.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "reports/provenance.h"

namespace dsv32::app {

inline constexpr const char* kVersion = "0.1.0";
// Where the trained built-in model lives, relative to the source tree (README "Training the built-in
// model"; scripts/install_trained_model.sh puts an export there).
inline constexpr const char* kTrainedModelDir = "datasets/model/tiny-v32";
using reports::git_commit;  // reports/provenance.h
using reports::utc_now;
// Reads comma/whitespace separated integers from a file ("-" = stdin); throws Error naming it.
std::vector<int64_t> read_ids_file(const std::string& path);
// Reads a whole file; throws Error naming it.
std::string read_text_file(const std::string& path);
// printf into a std::string (the report builders: bench's formats, its communication tables).
std::string strprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

struct Stopwatch {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

// A one-line progress bar on stderr ("label [#####     ] 12/40 ETA 3s"), redrawn in place when
// stderr is a terminal and printed at most every 5 % otherwise.
class Progress {
 public:
  Progress(std::string label, int64_t total);
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");

 private:
  std::string label_;
  int64_t total_;
  Stopwatch sw_;
  bool tty_;
  int last_pct_ = -1;
};

}  // namespace dsv32::app
