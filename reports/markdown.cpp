// The Markdown renderer of the report (report.h): the same sections and tables as the HTML page;
// plots are named with a pointer to index.html, since Markdown viewers strip inline SVG.
#include "reports/report.h"

namespace dsv32::reports {
namespace {

// Pipes inside cells would split the column.
std::string md_cell(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '|') o += "\\|";
    else if (c == '\n') o += ' ';
    else o += c;
  }
  return o.empty() ? " " : o;
}

std::string table_md(const Table& t) {
  std::string s = "**" + t.caption + "**\n\n|";
  // Appended piecewise: `" " + md_cell(h)` trips GCC 12's -Wrestrict false positive.
  for (auto& h : t.head) s.append(" ").append(md_cell(h)).append(" |");
  s += "\n|";
  for (size_t c = 0; c < t.head.size(); ++c) s += c < t.numeric.size() && t.numeric[c] ? "---:|" : "---|";
  s += "\n";
  for (auto& r : t.rows) {
    s += "|";
    for (auto& v : r) s.append(" ").append(md_cell(v)).append(" |");
    s += "\n";
  }
  return s + "\n";
}

struct ItemMd {
  std::string operator()(const Paragraph& p) const { return p.text + "\n\n"; }
  std::string operator()(const LineChart& c) const {
    return "*Plot: " + c.title + " (" + c.direction + ") — see index.html.*\n\n";
  }
  std::string operator()(const BarChart& c) const {
    return "*Plot: " + c.title + " (" + c.direction + ") — see index.html.*\n\n";
  }
  std::string operator()(const Table& t) const { return table_md(t); }
};

}  // namespace

std::string render_markdown(const ReportInput& in) {
  std::string s = "# " + in.title + "\n\nGenerated " + in.generated + " by dsv32 " + in.generator_commit + " from " +
                  std::to_string(in.files.size()) + " result file(s).\n\n";
  Table src = sources_table(in);
  if (!src.rows.empty()) s += table_md(src);
  for (auto& sec : build_sections(in)) {
    s += "## " + sec.title + "\n\n";
    if (!sec.has_data) s += "_no data_\n\n";
    for (auto& item : sec.items) s += std::visit(ItemMd{}, item);
  }
  return s;
}

}  // namespace dsv32::reports
