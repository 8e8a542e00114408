// The `dsv32 report` page: one self-contained HTML file (inline CSS and SVG, a strict
// Content-Security-Policy so nothing can be fetched at view time) and the same content as Markdown.
//
// Sections, each "no data" when no input of its kind was given:
//   1. accuracy by tensor and mode   (verify: NMSE per tensor in forward order, verdicts)
//   2. PPL / KLD by mode             (ppl)
//   2b. DSA and numerics             (ppl --modes files, recall): dense vs sparse, index_topk, recall
//   3. throughput by mode and context (bench: tokens/s per test, over depth; attention cost)
//   4. per-op fraction of peak       (ops: % of peak FLOP/s and bandwidth)
//   5. trends                        (history database, with --history)
#pragma once
#include <string>
#include <variant>
#include <vector>

#include "reports/results.h"
#include "reports/svg.h"

namespace dsv32::reports {

struct ReportInput {
  std::string title = "dsv32 report";
  std::string generated;              // ISO time the page was made
  std::string generator_commit;       // commit of the dsv32 binary
  std::vector<ResultFile> files;
  bool with_history = false;          // a trends section was asked for
  std::string history_path;
  std::vector<LineChart> trends;      // from trend_charts()
};

// A table whose cells are already formatted; `numeric` columns are right-aligned.
struct Table {
  std::string caption;
  std::vector<std::string> head;
  std::vector<bool> numeric;
  std::vector<std::vector<std::string>> rows;
  bool collapsed = false;  // long detail tables fold away in HTML (<details>)
};
struct Paragraph {
  std::string text;
};
using Item = std::variant<Paragraph, LineChart, BarChart, Table>;

// What each section shows, built once and rendered by both HTML and Markdown (Markdown keeps the
// tables and paragraphs; its plots are only named, pointing at index.html).
struct Section {
  std::string id, title;
  bool has_data = false;
  std::vector<Item> items;
};
std::vector<Section> build_sections(const ReportInput& in);
// "Sparse attention (DSA) and numerics on this model" (reports/dsa.cpp): eval's --modes ppl files
// and recall files; no data without them.
Section dsa_section(const ReportInput& in);
// The input files with their context (commit, machine, preset, device, time).
Table sources_table(const ReportInput& in);

// Table cell formatters shared by the sections: "–" for a missing (non-finite) value; sci shows +inf
// as "inf" (a diverged KLD is a result, not a gap).
std::string fixed(double v, int digits);  // %.{digits}f
std::string sci(double v);                // %.3e

std::string render_html(const ReportInput& in);
std::string render_markdown(const ReportInput& in);

}  // namespace dsv32::reports
