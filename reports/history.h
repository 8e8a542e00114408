// The result history: an SQLite database (default reports/history.sqlite, git-ignored) with one
// row per recorded run, keyed by git commit, machine, preset and kind, and its metrics keyed by
// mode, metric and series. Each metric stores its unit and direction explicitly (never inferred
// from the unit text). Recording the same run again (same key and time) replaces it.
//
//   runs(id, git_commit, machine, preset, kind, time, source, recorded_at)
//   metrics(run_id, mode, metric, series, value, unit, higher_is_better)
#pragma once
#include <string>
#include <vector>

#include "reports/results.h"
#include "reports/svg.h"

struct sqlite3;

namespace dsv32::reports {

struct Metric {
  std::string mode, metric, series, unit;
  bool higher_is_better = true;
  double value = 0;
};

// The headline numbers of a result file that are worth tracking over time:
//   verify  nmse_max (worst float tensor), tensors_failed, logits kl_mean   (lower is better)
//   ppl     ppl, kld_mean (lower), tokens_per_s (higher) per mode and ctx
//   bench   tokens_per_s median per mode and test (higher)
//   ops     real_time median (lower) and % of peak (higher) per benchmark
std::vector<Metric> headline_metrics(const ResultFile& r);

struct HistoryPoint {
  std::string git_commit, machine, preset, kind, time;
  Metric m;
};

class History {
 public:
  explicit History(const std::string& path);  // creates the file and tables when missing
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;
  // Inserts (or replaces) one run; returns the number of metrics stored.
  int record(const ResultFile& r);
  // Every stored point, oldest run first.
  std::vector<HistoryPoint> points() const;

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

// One chart per (kind, metric, machine, preset); one line per (mode, series); x = runs in time
// order, labelled by short commit.
std::vector<LineChart> trend_charts(const std::vector<HistoryPoint>& pts);

}  // namespace dsv32::reports
