// SQLite history of result headline metrics (see history.h).
#include "reports/history.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <set>

#include "kernels/error.h"

namespace dsv32::reports {
namespace {

const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS runs(
  id INTEGER PRIMARY KEY,
  git_commit TEXT NOT NULL, machine TEXT NOT NULL, preset TEXT NOT NULL, kind TEXT NOT NULL,
  time TEXT NOT NULL, source TEXT, recorded_at TEXT,
  UNIQUE(git_commit, machine, preset, kind, time));
CREATE TABLE IF NOT EXISTS metrics(
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  mode TEXT NOT NULL, metric TEXT NOT NULL, series TEXT NOT NULL,
  value REAL NOT NULL, unit TEXT NOT NULL, higher_is_better INTEGER NOT NULL,
  PRIMARY KEY(run_id, mode, metric, series));
CREATE INDEX IF NOT EXISTS runs_key ON runs(git_commit, machine, preset);
PRAGMA user_version = 1;
)";

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return b;
}

// RAII prepared statement; every failure names the database file.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const char* sql, const std::string& path) {
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) fail(path + ": " + sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(s); }
  Stmt& text(int i, const std::string& v) { sqlite3_bind_text(s, i, v.c_str(), -1, SQLITE_TRANSIENT); return *this; }
  Stmt& real(int i, double v) { sqlite3_bind_double(s, i, v); return *this; }
  Stmt& integer(int i, int64_t v) { sqlite3_bind_int64(s, i, v); return *this; }
  std::string col(int i) const {
    auto* p = sqlite3_column_text(s, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
};

void exec(sqlite3* db, const char* sql, const std::string& path) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown error";
    sqlite3_free(err);
    fail(path + ": " + m);
  }
}

std::string short_commit(const std::string& c) { return c.size() > 10 ? c.substr(0, 8) : c; }

}  // namespace

std::vector<Metric> headline_metrics(const ResultFile& r) {
  std::vector<Metric> out;
  for (auto& v : r.verify) {
    double worst = -1;
    int failed = 0;
    for (auto& t : v.tensors) {
      if (t.has_nmse && std::isfinite(t.nmse)) worst = std::max(worst, t.nmse);
      failed += t.status == "FAIL" || t.status == "fail";
    }
    if (worst >= 0) out.push_back({v.mode, "nmse_max", "worst tensor", "NMSE", false, worst});
    out.push_back({v.mode, "tensors_failed", "all tensors", "tensors", false, double(failed)});
    if (v.has_logits && std::isfinite(v.kl_mean)) out.push_back({v.mode, "logits_kl_mean", "logits", "nats", false, v.kl_mean});
  }
  for (auto& p : r.ppl) {
    if (p.tagged) continue;  // --modes experiments (kN, ref1, random-indexer) stay out of the trends
    const std::string s = "ctx " + std::to_string(p.ctx);
    out.push_back({p.mode, "ppl", s, "ppl", false, p.ppl});
    if (p.has_kl) out.push_back({p.mode, "kld_mean", s, "nats", false, p.kld_mean});
    if (std::isfinite(p.tokens_per_s)) out.push_back({p.mode, "ppl_tokens_per_s", s, "tokens/s", true, p.tokens_per_s});
  }
  for (auto& rc : r.recall)  // the indexer's recall at the checkpoint's own index_topk
    for (size_t k = 0; k < rc.topk.size(); ++k)
      if (rc.topk[k] == rc.index_topk)
        for (size_t l = 0; l < rc.layers.size(); ++l)
          out.push_back({"layer " + std::to_string(l), "indexer_recall",
                         "top-" + std::to_string(rc.index_topk) + " ctx " + std::to_string(rc.ctx), "share", true,
                         rc.layers[l][k]});
  for (auto& b : r.bench) out.push_back({b.mode, "tokens_per_s", b.test, "tokens/s", true, median(b.tokens_per_s)});
  for (auto& o : r.ops) {
    if (!o.real_time.empty()) out.push_back({"kernels", "real_time", o.name, o.time_unit, false, median(o.real_time)});
    double pk = std::max(o.pct_peak_flops, o.pct_peak_bw);
    if (pk >= 0) out.push_back({"kernels", "pct_peak", o.name, "% of peak", true, pk});
  }
  return out;
}

History::History(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string m = db_ ? sqlite3_errmsg(db_) : "cannot open";
    sqlite3_close(db_);
    db_ = nullptr;
    fail(path + ": " + m);
  }
  sqlite3_busy_timeout(db_, 5000);  // CI jobs may record concurrently
  exec(db_, "PRAGMA foreign_keys = ON;", path_);
  exec(db_, kSchema, path_);
}

History::~History() { sqlite3_close(db_); }

int History::record(const ResultFile& r) {
  const std::vector<Metric> ms = headline_metrics(r);
  const std::string time = r.context.time.empty() ? now_utc() : r.context.time;
  exec(db_, "BEGIN IMMEDIATE;", path_);
  try {
    Stmt del(db_, "DELETE FROM runs WHERE git_commit=?1 AND machine=?2 AND preset=?3 AND kind=?4 AND time=?5;", path_);
    del.text(1, r.context.git_commit).text(2, r.context.machine).text(3, r.context.preset).text(4, r.kind).text(5, time);
    if (sqlite3_step(del.s) != SQLITE_DONE) fail(path_ + ": " + sqlite3_errmsg(db_));
    Stmt ins(db_, "INSERT INTO runs(git_commit, machine, preset, kind, time, source, recorded_at) VALUES(?1,?2,?3,?4,?5,?6,?7);", path_);
    ins.text(1, r.context.git_commit).text(2, r.context.machine).text(3, r.context.preset).text(4, r.kind)
        .text(5, time).text(6, r.path).text(7, now_utc());
    if (sqlite3_step(ins.s) != SQLITE_DONE) fail(path_ + ": " + sqlite3_errmsg(db_));
    const int64_t run = sqlite3_last_insert_rowid(db_);
    Stmt m(db_, "INSERT OR REPLACE INTO metrics VALUES(?1,?2,?3,?4,?5,?6,?7);", path_);
    for (auto& x : ms) {
      sqlite3_reset(m.s);
      m.integer(1, run).text(2, x.mode).text(3, x.metric).text(4, x.series).real(5, x.value).text(6, x.unit)
          .integer(7, x.higher_is_better);
      if (sqlite3_step(m.s) != SQLITE_DONE) fail(path_ + ": " + sqlite3_errmsg(db_));
    }
    exec(db_, "COMMIT;", path_);
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
    throw;
  }
  return int(ms.size());
}

std::vector<HistoryPoint> History::points() const {
  Stmt q(db_,
         "SELECT r.git_commit, r.machine, r.preset, r.kind, r.time, m.mode, m.metric, m.series, m.unit, "
         "m.higher_is_better, m.value FROM metrics m JOIN runs r ON r.id = m.run_id ORDER BY r.time, r.id;",
         path_);
  std::vector<HistoryPoint> out;
  int rc;
  while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
    HistoryPoint p{q.col(0), q.col(1), q.col(2), q.col(3), q.col(4), {}};
    p.m = {q.col(5), q.col(6), q.col(7), q.col(8), sqlite3_column_int(q.s, 9) != 0, sqlite3_column_double(q.s, 10)};
    out.push_back(std::move(p));
  }
  if (rc != SQLITE_DONE) fail(path_ + ": " + sqlite3_errmsg(db_));
  return out;
}

std::vector<LineChart> trend_charts(const std::vector<HistoryPoint>& pts) {
  // Chart key -> (run key -> x index), (line key -> series index).
  struct Build {
    LineChart chart;
    std::map<std::pair<std::string, std::string>, int> runs;  // (time, commit), sorted by time
    std::map<std::string, size_t> lines;
    std::vector<std::map<std::pair<std::string, std::string>, double>> values;
  };
  std::map<std::string, Build> charts;
  std::vector<std::string> order;
  for (auto& p : pts) {
    const std::string key = p.kind + "\x1f" + p.m.metric + "\x1f" + p.machine + "\x1f" + p.preset;
    auto [it, fresh] = charts.try_emplace(key);
    Build& b = it->second;
    if (fresh) {
      order.push_back(key);
      b.chart.title = p.m.metric + " (" + p.kind + ") — preset " + p.preset + ", " + p.machine;
      b.chart.x_label = "run (oldest → newest), git commit";
      b.chart.y_label = p.m.metric + " [" + p.m.unit + "]";
      b.chart.direction = p.m.higher_is_better ? "↑ higher is better" : "↓ lower is better";
      b.chart.log_y = p.m.metric == "nmse_max" || p.m.metric == "kld_mean" || p.m.metric == "logits_kl_mean";
    }
    b.runs.emplace(std::make_pair(p.time, p.git_commit), 0);
    const std::string line = p.m.mode + " · " + p.m.series;
    auto [li, lfresh] = b.lines.try_emplace(line, b.values.size());
    if (lfresh) {
      b.values.emplace_back();
      b.chart.series.push_back({line, {}, {}, {}, {}});
    }
    b.values[li->second][{p.time, p.git_commit}] = p.m.value;
  }
  std::vector<LineChart> out;
  for (auto& key : order) {
    Build& b = charts[key];
    int i = 0;
    for (auto& [run, idx] : b.runs) {
      idx = i++;
      b.chart.x_ticks.push_back({double(idx), short_commit(run.second)});
    }
    for (size_t s = 0; s < b.chart.series.size(); ++s)
      for (auto& [run, v] : b.values[s]) {
        b.chart.series[s].x.push_back(b.runs[run]);
        b.chart.series[s].y.push_back(v);
        b.chart.series[s].labels.push_back(short_commit(run.second) + " " + run.first);
      }
    // Many kernels make an unreadable chart; keep the first 12 lines and say so.
    if (b.chart.series.size() > 12) {
      b.chart.note = "showing 12 of " + std::to_string(b.chart.series.size()) + " series";
      b.chart.series.resize(12);
    }
    out.push_back(std::move(b.chart));
  }
  return out;
}

}  // namespace dsv32::reports
