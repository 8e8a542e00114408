// dsv32 report: renders result files (verify, ppl, bench, ops JSON; reports/RESULTS.md) into one
// self-contained HTML page and a Markdown twin, records them in the SQLite history, and plots the
// history's trends. Missing kinds give "no data" sections; malformed input is an error (exit 2).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "app/args.h"
#include "app/command.h"
#include "app/common.h"
#include "kernels/error.h"
#include "model/atomic_file.h"
#include "reports/history.h"
#include "reports/report.h"

namespace dsv32::app {
namespace {

// Temp + rename: a killed or disk-full run leaves the previous page, never a truncated one.
void write_file(const std::string& path, const std::string& text) { write_file_atomic(path, text); }

int run(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  std::string dir = "reports/latest", history, title = "dsv32 report";
  bool record = false;
  ArgParser p("report", "Render result JSON files into DIR/index.html (self-contained, inline SVG) and DIR/report.md.");
  p.allow_positional(&files, "[RESULT.json ...]");
  p.add("--dir", &dir, "DIR", "output directory");
  p.add("--history", &history, "DB", "add a trends section from this SQLite history (and record into it)");
  p.add_flag("--record", &record, "insert the results into the history (--history, default reports/history.sqlite)");
  p.add("--title", &title, "T", "page title");
  p.epilog(
      "Sections: accuracy by tensor and mode (verify), PPL/KLD by mode (ppl), throughput by mode and\n"
      "context (bench), per-op fraction of peak (ops), trends (--history). A kind with no input says\n"
      "\"no data\". Malformed JSON: one-line error naming the file and key, exit 2.\n"
      "examples:\n"
      "  dsv32 report verify.json ppl.json bench.json ops.json --dir reports/latest\n"
      "  dsv32 report bench.json --record --history reports/history.sqlite   # record, then plot trends");
  if (!p.parse(args)) return 0;

  reports::ReportInput in;
  in.title = title;
  in.generated = utc_now();
  in.generator_commit = git_commit().substr(0, 12);
  for (auto& f : files) in.files.push_back(reports::load_result(f));  // all parsed before anything is written

  if (record || !history.empty()) {
    const std::string db = history.empty() ? "reports/history.sqlite" : history;
    reports::History h(db);
    if (record) {
      int n = 0;
      for (auto& f : in.files) n += h.record(f);
      std::printf("recorded %zu result file(s), %d metrics into %s\n", in.files.size(), n, db.c_str());
    }
    if (!history.empty()) {
      in.with_history = true;
      in.history_path = db;
      in.trends = reports::trend_charts(h.points());
    }
  }

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail("--dir " + dir + ": " + ec.message());
  write_file(dir + "/index.html", reports::render_html(in));
  write_file(dir + "/report.md", reports::render_markdown(in));
  std::printf("wrote %s/index.html and %s/report.md (%zu input file(s)%s)\n", dir.c_str(), dir.c_str(),
              in.files.size(), in.with_history ? ", with trends" : "");
  return 0;
}

const Command kCmd{"report", "render result JSON into an HTML page + Markdown; record and plot history", &run};

}  // namespace
}  // namespace dsv32::app
