// Hand-written inline SVG charts for the report page: a line chart (linear or log y, numeric or
// categorical x) and a horizontal grouped bar chart with optional error whiskers. No JavaScript and
// nothing fetched: the page stays self-contained and renders identically offline.
//
// Every chart is `<svg class="plot" data-series=N data-points=M>` with a visible title, axis labels
// (with units), a "higher/lower is better" line and a legend; every drawn datum carries
// class="data" and a <title> tooltip, which the headless-browser test counts.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace dsv32::reports {

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::vector<double> err;          // optional, same size as y: ± whisker
  std::vector<std::string> labels;  // optional, same size as y: tooltip text per point
};

struct LineChart {
  std::string title, x_label, y_label, direction;  // direction: "lower is better" etc.
  bool log_y = false;
  std::vector<Series> series;
  // Explicit x ticks (categorical axes, e.g. tensors in forward order); empty = nice numeric ticks.
  std::vector<std::pair<double, std::string>> x_ticks;
  bool log_x = false;  // e.g. context lengths 512, 1024, 2048...
  std::string note;    // small print under the plot
};

struct BarChart {
  std::string title, value_label, direction;
  std::vector<std::string> categories;  // one group of bars per category, top to bottom
  std::vector<std::string> series;      // one bar per series within a group
  std::vector<std::vector<double>> values, err;  // [series][category]; NaN = no bar; err optional
  double value_max = 0;  // axis maximum at least this (e.g. 100 for percentages)
  std::string note;
  // Draw a dot with whiskers on an axis that hugs the data instead of a bar from zero: for values
  // like perplexity where 3.21 vs 3.25 matters and zero is meaningless.
  bool dots = false;
};

std::string svg_line_chart(const LineChart& c);
std::string svg_bar_chart(const BarChart& c);

// Escapes &, <, >, " for HTML/SVG text and attributes.
std::string html_escape(const std::string& s);
// Compact number for labels: 3 significant digits, scientific for very small/large magnitudes.
std::string fmt_num(double v);

}  // namespace dsv32::reports
