// The HTML renderer of the report (report.h): one file, inline CSS and SVG, no external resources.
// A strict Content-Security-Policy makes "nothing fetched at view time" a property the browser
// enforces rather than a promise. The one inline script only marks the page as rendered for the
// headless-browser test (data-rendered = plots whose every datum has a non-empty box / plots).
#include <cstdio>

#include "reports/report.h"

namespace dsv32::reports {
namespace {

const char* kStyle = R"(
:root { color-scheme: light; }
body { margin: 0; background: #fff; color: #1f2328; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 24px 20px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 40px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #d8dee4; }
.meta { color: #59636e; font-size: 13px; margin: 0 0 16px; }
nav a { margin-right: 14px; color: #0969da; text-decoration: none; font-size: 14px; }
p { margin: 8px 0 12px; }
.nodata { color: #59636e; font-style: italic; background: #f6f8fa; padding: 10px 14px; border-radius: 6px; }
figure { margin: 16px 0 20px; }
svg.plot { width: 100%; height: auto; display: block; font-family: system-ui, sans-serif; }
svg .t { font-size: 15px; font-weight: 600; fill: #1f2328; }
svg .dir { font-size: 12px; fill: #59636e; }
svg .legend text, svg .cat, svg .lab { font-size: 12px; fill: #1f2328; }
svg .tick, svg .val { font-size: 11px; fill: #4b535c; }
svg .note { font-size: 11px; fill: #59636e; font-style: italic; }
svg .grid { stroke: #eaeef2; }
svg .axis { stroke: #8c959f; }
svg .line { fill: none; stroke-width: 2; }
svg .whisker { stroke: #1f2328; stroke-width: 1.2; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #d8dee4; padding: 3px 8px; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num, th.num { text-align: right; }
td.bad { color: #cf222e; font-weight: 600; }
td.good { color: #1a7f37; }
details { margin: 8px 0 16px; }
summary { cursor: pointer; color: #0969da; }
.scroll { overflow-x: auto; }
)";

const char* kScript =
    "(function(){var p=document.querySelectorAll('svg.plot'),ok=0;p.forEach(function(s){"
    "var d=s.querySelectorAll('.data'),n=0;d.forEach(function(e){var b=e.getBBox();if(b.width>0&&b.height>0)n++;});"
    "s.setAttribute('data-drawn',String(n));if(n>0&&n===d.length)ok++;});"
    "document.documentElement.setAttribute('data-rendered',ok+'/'+p.length);})();";

std::string cell_class(const Table& t, size_t c, const std::string& v) {
  std::string cls = c < t.numeric.size() && t.numeric[c] ? "num" : "";
  if (v == "FAIL" || v == "fail" || v == "regressed") cls += cls.empty() ? "bad" : " bad";
  else if (v == "pass" || v == "ok") cls += cls.empty() ? "good" : " good";
  return cls.empty() ? "" : " class=\"" + cls + "\"";
}

std::string table_html(const Table& t) {
  std::string s = "<div class=\"scroll\"><table>";
  if (!t.collapsed) s += "<caption>" + html_escape(t.caption) + "</caption>";
  s += "<thead><tr>";
  for (size_t c = 0; c < t.head.size(); ++c)
    s += std::string("<th") + (c < t.numeric.size() && t.numeric[c] ? " class=\"num\"" : "") + ">" + html_escape(t.head[c]) + "</th>";
  s += "</tr></thead><tbody>\n";
  for (auto& r : t.rows) {
    s += "<tr>";
    for (size_t c = 0; c < r.size(); ++c) s += "<td" + cell_class(t, c, r[c]) + ">" + html_escape(r[c]) + "</td>";
    s += "</tr>\n";
  }
  s += "</tbody></table></div>\n";
  if (t.collapsed) s = "<details><summary>" + html_escape(t.caption) + "</summary>\n" + s + "</details>\n";
  return s;
}

struct ItemHtml {
  std::string operator()(const Paragraph& p) const { return "<p>" + html_escape(p.text) + "</p>\n"; }
  std::string operator()(const LineChart& c) const { return "<figure>" + svg_line_chart(c) + "</figure>\n"; }
  std::string operator()(const BarChart& c) const { return "<figure>" + svg_bar_chart(c) + "</figure>\n"; }
  std::string operator()(const Table& t) const { return table_html(t); }
};

}  // namespace

std::string render_html(const ReportInput& in) {
  const std::vector<Section> sections = build_sections(in);
  std::string s =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
      "script-src 'unsafe-inline'; img-src data:\">\n"
      "<link rel=\"icon\" href=\"data:,\">\n<title>" + html_escape(in.title) + "</title>\n<style>" + kStyle +
      "</style>\n</head>\n<body>\n<main>\n<h1>" + html_escape(in.title) + "</h1>\n<p class=\"meta\">generated " +
      html_escape(in.generated) + " by dsv32 " + html_escape(in.generator_commit) + " from " +
      std::to_string(in.files.size()) + " result file" + (in.files.size() == 1 ? "" : "s") + "</p>\n<nav>";
  for (auto& sec : sections) s += "<a href=\"#" + sec.id + "\">" + html_escape(sec.title) + "</a>";
  s += "</nav>\n";
  Table src = sources_table(in);
  if (!src.rows.empty()) s += table_html(src);
  for (auto& sec : sections) {
    s += "<section id=\"" + sec.id + "\">\n<h2>" + html_escape(sec.title) + "</h2>\n";
    if (!sec.has_data) {
      s += "<p class=\"nodata\">no data — " +
           std::string(sec.id == "trends" ? "the history database holds no recorded runs"
                                          : "no result file of this kind was given") + "</p>\n";
    }
    for (auto& item : sec.items) s += std::visit(ItemHtml{}, item);
    s += "</section>\n";
  }
  s += "</main>\n<script>" + std::string(kScript) + "</script>\n</body>\n</html>\n";
  return s;
}

}  // namespace dsv32::reports
