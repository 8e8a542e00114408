// Inline SVG line and bar charts (see svg.h). Geometry is in user units of a fixed 760-wide
// viewBox; the page scales it to the column width, so text sizes here are relative to that.
#include "reports/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace dsv32::reports {
namespace {

constexpr double kW = 760, kRight = 24;
// Okabe-Ito: distinguishable with the common colour-vision deficiencies, readable on white.
const char* const kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                "#E69F00", "#56B4E9", "#6b6b6b", "#000000"};
const char* colour(size_t i) { return kPalette[i % 8]; }
// Past 8 series colours repeat, so the line style changes instead.
const char* dash(size_t i) { return i < 8 ? "" : i < 16 ? " stroke-dasharray=\"6 3\"" : " stroke-dasharray=\"2 3\""; }

std::string f1(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

double text_width(const std::string& s, double px) { return 0.56 * px * double(s.size()); }

// 1, 2 or 5 times a power of ten, about range/target.
double nice_step(double range, int target) {
  double raw = range / target, p = std::pow(10.0, std::floor(std::log10(raw))), m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<double> ticks;
  double map(double v, double a, double b) const {  // value -> pixel between a (lo) and b (hi)
    double t = log ? (std::log10(v) - lo) / (hi - lo) : (v - lo) / (hi - lo);
    return a + std::clamp(t, 0.0, 1.0) * (b - a);
  }
  std::string label(double t) const {
    if (!log) return fmt_num(t);
    if (t >= -2 && t <= 3) return fmt_num(std::pow(10.0, t));  // 0.01 .. 1000 read better plainly
    return "1e" + std::to_string(int(std::lround(t)));
  }
};

// Linear axis over [mn, mx]; zero is included when the data sit well above it (throughput
// bars from 0 are honest), otherwise the axis hugs the data so small differences stay visible.
Axis linear_axis(double mn, double mx, bool allow_zero = true) {
  Axis a;
  if (!(mn <= mx)) mn = 0, mx = 1;
  if (allow_zero && mn >= 0 && mn < 0.5 * mx) mn = 0;
  if (mx == mn) {
    if (mn == 0) mx = 1;  // all zeros (e.g. no failed tensors): 0..1, not a negative range
    else mn -= std::fabs(mn) * 0.1, mx += std::fabs(mx) * 0.1;
  }
  double s = nice_step(mx - mn, 5);
  a.lo = std::floor(mn / s) * s;
  a.hi = std::ceil(mx / s) * s;
  for (double t = a.lo; t <= a.hi + s * 1e-9; t += s) a.ticks.push_back(std::fabs(t) < s * 1e-9 ? 0 : t);
  return a;
}

// Log axis in decades; lo/hi and ticks are exponents.
Axis log_axis(double mn_pos, double mx) {
  Axis a;
  a.log = true;
  a.lo = std::floor(std::log10(mn_pos));
  a.hi = std::ceil(std::log10(mx));
  if (a.hi <= a.lo) a.hi = a.lo + 1;
  int every = int(std::ceil((a.hi - a.lo) / 8.0));
  for (double t = a.lo; t <= a.hi; t += every) a.ticks.push_back(t);
  return a;
}

std::string header(double h, const std::string& title, size_t n_series, size_t n_points) {
  char b[256];
  std::snprintf(b, sizeof b,
                "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
                "role=\"img\" data-series=\"%zu\" data-points=\"%zu\"><title>",
                kW, h, n_series, n_points);
  return b + html_escape(title) + "</title>\n";
}

// Title, direction and a wrapping legend; returns the y where the plot area may start.
double draw_heading(std::string& s, const std::string& title, const std::string& direction,
                    const std::vector<std::string>& names, double left) {
  s += "<text class=\"t\" x=\"" + f1(left) + "\" y=\"20\">" + html_escape(title) + "</text>\n";
  s += "<text class=\"dir\" x=\"" + f1(left) + "\" y=\"38\">" + html_escape(direction) + "</text>\n";
  double x = left, y = 56;
  for (size_t i = 0; i < names.size(); ++i) {
    double w = 22 + text_width(names[i], 12) + 16;
    if (x + w > kW - kRight && x > left) x = left, y += 18;
    s += "<g class=\"legend\"><rect x=\"" + f1(x) + "\" y=\"" + f1(y - 9) + "\" width=\"14\" height=\"10\" fill=\"" +
         colour(i) + "\"/><text x=\"" + f1(x + 19) + "\" y=\"" + f1(y) + "\">" + html_escape(names[i]) +
         "</text></g>\n";
    x += w;
  }
  return names.empty() ? 50 : y + 14;
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string fmt_num(double v) {
  char b[32];
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
  double a = std::fabs(v);
  if (a == 0) return "0";
  if (a >= 1e6 || a < 1e-3) std::snprintf(b, sizeof b, "%.2e", v);
  else if (a >= 1000) std::snprintf(b, sizeof b, "%.0f", v);
  else std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

std::string svg_line_chart(const LineChart& c) {
  const double left = 78, plot_h = 240;
  std::vector<std::string> names;
  double ymin = INFINITY, ymax = -INFINITY, ypos = INFINITY, xmin = INFINITY, xmax = -INFINITY;
  std::set<double> xs;
  size_t n_points = 0;
  for (auto& se : c.series) {
    names.push_back(se.name);
    for (size_t i = 0; i < se.y.size(); ++i) {
      double y = se.y[i], e = i < se.err.size() && std::isfinite(se.err[i]) ? se.err[i] : 0;
      if (!std::isfinite(y)) continue;
      ++n_points;
      ymin = std::min(ymin, y - e), ymax = std::max(ymax, y + e);
      if (y > 0) ypos = std::min(ypos, y);
      xmin = std::min(xmin, se.x[i]), xmax = std::max(xmax, se.x[i]);
      xs.insert(se.x[i]);
    }
  }
  std::string body;
  // Always a legend: a trend of one mode must still say which mode it is.
  const double top = draw_heading(body, c.title, c.direction, names, left);
  const double bottom = top + plot_h, right = kW - kRight;
  const bool log_y = c.log_y && std::isfinite(ypos);
  Axis ya = log_y ? log_axis(ypos, ymax) : linear_axis(ymin, ymax);
  const bool log_x = c.log_x && xmin > 0;
  Axis xa;
  if (!c.x_ticks.empty() || xs.size() <= 12) {  // ticks at the given (or at each distinct) x
    xa.lo = std::isfinite(xmin) ? xmin : 0;
    xa.hi = std::isfinite(xmax) ? xmax : 1;
    for (auto& t : c.x_ticks) xa.lo = std::min(xa.lo, t.first), xa.hi = std::max(xa.hi, t.first);
    if (log_x) xa.log = true, xa.lo = std::log10(xa.lo), xa.hi = std::log10(xa.hi);
    if (xa.hi == xa.lo) xa.lo -= 1, xa.hi += 1;
  } else {
    xa = linear_axis(xmin, xmax, false);
  }
  auto px = [&](double x) { return xa.map(x, left + 10, right - 10); };
  auto py = [&](double y) { return ya.map(log_y && y <= 0 ? std::pow(10.0, ya.lo) : y, bottom, top); };

  // Grid and y ticks.
  for (double t : ya.ticks) {
    double y = ya.log ? ya.map(std::pow(10.0, t), bottom, top) : ya.map(t, bottom, top);
    body += "<line class=\"grid\" x1=\"" + f1(left) + "\" x2=\"" + f1(right) + "\" y1=\"" + f1(y) + "\" y2=\"" + f1(y) + "\"/>";
    body += "<text class=\"tick\" x=\"" + f1(left - 6) + "\" y=\"" + f1(y + 4) + "\" text-anchor=\"end\">" + ya.label(t) + "</text>\n";
  }
  // X ticks, dropping labels that would overlap the previous one.
  std::vector<std::pair<double, std::string>> xt = c.x_ticks;
  if (xt.empty()) {
    if (xs.size() <= 12) for (double x : xs) xt.push_back({x, fmt_num(x)});
    else for (double t : xa.ticks) xt.push_back({t, fmt_num(t)});
  }
  double last_end = -1e9;
  for (auto& [x, lab] : xt) {
    double X = px(x), w = text_width(lab, 11);
    body += "<line class=\"axis\" x1=\"" + f1(X) + "\" x2=\"" + f1(X) + "\" y1=\"" + f1(bottom) + "\" y2=\"" + f1(bottom + 4) + "\"/>";
    if (X - w / 2 < last_end + 4) continue;
    body += "<text class=\"tick\" x=\"" + f1(X) + "\" y=\"" + f1(bottom + 17) + "\" text-anchor=\"middle\">" + html_escape(lab) + "</text>\n";
    last_end = X + w / 2;
  }
  body += "<line class=\"axis\" x1=\"" + f1(left) + "\" x2=\"" + f1(right) + "\" y1=\"" + f1(bottom) + "\" y2=\"" + f1(bottom) + "\"/>";
  body += "<line class=\"axis\" x1=\"" + f1(left) + "\" x2=\"" + f1(left) + "\" y1=\"" + f1(top) + "\" y2=\"" + f1(bottom) + "\"/>\n";
  body += "<text class=\"lab\" x=\"" + f1((left + right) / 2) + "\" y=\"" + f1(bottom + 38) + "\" text-anchor=\"middle\">" + html_escape(c.x_label) + "</text>\n";
  body += "<text class=\"lab\" transform=\"translate(16 " + f1((top + bottom) / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
          html_escape(c.y_label + (log_y ? " (log scale)" : "")) + "</text>\n";

  // Lines (broken at missing values), whiskers, then markers on top.
  for (size_t si = 0; si < c.series.size(); ++si) {
    const Series& se = c.series[si];
    std::string d, marks;
    bool pen = false;
    for (size_t i = 0; i < se.y.size(); ++i) {
      if (!std::isfinite(se.y[i])) { pen = false; continue; }
      double X = px(se.x[i]), Y = py(se.y[i]);
      d += pen ? 'L' : 'M';
      d += f1(X) + " " + f1(Y);
      pen = true;
      if (i < se.err.size() && std::isfinite(se.err[i]) && se.err[i] > 0)
        body += "<line class=\"whisker\" stroke=\"" + std::string(colour(si)) + "\" x1=\"" + f1(X) + "\" x2=\"" + f1(X) +
                "\" y1=\"" + f1(py(se.y[i] - se.err[i])) + "\" y2=\"" + f1(py(se.y[i] + se.err[i])) + "\"/>";
      std::string tip = (i < se.labels.size() ? se.labels[i] : fmt_num(se.x[i])) + ": " + fmt_num(se.y[i]);
      if (i < se.err.size() && std::isfinite(se.err[i]) && se.err[i] > 0) tip += " ± " + fmt_num(se.err[i]);
      marks += "<circle class=\"data\" cx=\"" + f1(X) + "\" cy=\"" + f1(Y) + "\" r=\"3\" fill=\"" + colour(si) +
               "\"><title>" + html_escape(se.name + " · " + tip) + "</title></circle>";
    }
    if (!d.empty())
      body += "<path class=\"line\" d=\"" + d + "\" stroke=\"" + colour(si) + "\"" + dash(si) + "/>\n";
    body += marks + "\n";
  }
  double h = bottom + 50;
  if (!c.note.empty()) {
    body += "<text class=\"note\" x=\"" + f1(left) + "\" y=\"" + f1(h) + "\">" + html_escape(c.note) + "</text>\n";
    h += 10;
  }
  return header(h, c.title, c.series.size(), n_points) + body + "</svg>\n";
}

std::string svg_bar_chart(const BarChart& c) {
  size_t max_label = 0;
  for (auto& k : c.categories) max_label = std::max(max_label, k.size());
  const size_t label_chars = std::min<size_t>(max_label, 44);
  const double left = std::max(90.0, 14 + text_width(std::string(label_chars, 'x'), 12)), right = kW - kRight - 48;
  std::string body;
  const double top = draw_heading(body, c.title, c.direction, c.series.size() > 1 ? c.series : std::vector<std::string>{}, 12);
  const size_t ns = c.series.size();
  const double bar = 14, group = double(ns) * (bar + 2) + 10;
  const double bottom = top + std::max<double>(1, double(c.categories.size())) * group;
  double vmax = c.value_max, vmin = INFINITY;
  size_t n_points = 0;
  for (size_t s = 0; s < ns; ++s)
    for (size_t k = 0; k < c.categories.size(); ++k) {
      double v = c.values[s][k], e = s < c.err.size() && k < c.err[s].size() && std::isfinite(c.err[s][k]) ? c.err[s][k] : 0;
      if (std::isfinite(v)) vmax = std::max(vmax, v + e), vmin = std::min(vmin, v - e), ++n_points;
    }
  Axis va = c.dots ? linear_axis(std::isfinite(vmin) ? vmin : 0, vmax, false) : linear_axis(0, vmax > 0 ? vmax : 1);
  auto px = [&](double v) { return va.map(c.dots ? v : std::max(0.0, v), left, right); };
  for (double t : va.ticks) {
    double X = px(t);
    body += "<line class=\"grid\" x1=\"" + f1(X) + "\" x2=\"" + f1(X) + "\" y1=\"" + f1(top) + "\" y2=\"" + f1(bottom) + "\"/>";
    body += "<text class=\"tick\" x=\"" + f1(X) + "\" y=\"" + f1(bottom + 16) + "\" text-anchor=\"middle\">" + va.label(t) + "</text>\n";
  }
  for (size_t k = 0; k < c.categories.size(); ++k) {
    const double g0 = top + double(k) * group + 5;
    std::string lab = c.categories[k];
    if (lab.size() > label_chars) lab = lab.substr(0, label_chars - 1) + "…";
    body += "<text class=\"cat\" x=\"" + f1(left - 8) + "\" y=\"" + f1(g0 + ns * (bar + 2) / 2 + 4) +
            "\" text-anchor=\"end\"><title>" + html_escape(c.categories[k]) + "</title>" + html_escape(lab) + "</text>\n";
    for (size_t s = 0; s < ns; ++s) {
      double v = c.values[s][k];
      if (!std::isfinite(v)) continue;
      double y = g0 + double(s) * (bar + 2), X = px(v);
      double e = s < c.err.size() && k < c.err[s].size() && std::isfinite(c.err[s][k]) ? c.err[s][k] : 0;
      std::string tip = c.categories[k] + (ns > 1 ? " · " + c.series[s] : "") + ": " + fmt_num(v) + (e > 0 ? " ± " + fmt_num(e) : "");
      if (c.dots)
        body += "<line class=\"grid\" x1=\"" + f1(left) + "\" x2=\"" + f1(right) + "\" y1=\"" + f1(y + bar / 2) + "\" y2=\"" +
                f1(y + bar / 2) + "\"/><circle class=\"data\" cx=\"" + f1(X) + "\" cy=\"" + f1(y + bar / 2) + "\" r=\"5\" fill=\"" +
                colour(s) + "\"><title>" + html_escape(tip) + "</title></circle>";
      else
        body += "<rect class=\"data\" x=\"" + f1(left) + "\" y=\"" + f1(y) + "\" width=\"" + f1(std::max(1.0, X - left)) +
                "\" height=\"" + f1(bar) + "\" fill=\"" + colour(s) + "\"><title>" + html_escape(tip) + "</title></rect>";
      if (e > 0)
        body += "<line class=\"whisker\" x1=\"" + f1(px(v - e)) + "\" x2=\"" + f1(px(v + e)) + "\" y1=\"" + f1(y + bar / 2) +
                "\" y2=\"" + f1(y + bar / 2) + "\"/>";
      body += "<text class=\"val\" x=\"" + f1(px(v + e) + 4) + "\" y=\"" + f1(y + bar - 3) + "\">" + fmt_num(v) + "</text>\n";
    }
  }
  body += "<line class=\"axis\" x1=\"" + f1(left) + "\" x2=\"" + f1(left) + "\" y1=\"" + f1(top) + "\" y2=\"" + f1(bottom) + "\"/>";
  body += "<line class=\"axis\" x1=\"" + f1(left) + "\" x2=\"" + f1(right) + "\" y1=\"" + f1(bottom) + "\" y2=\"" + f1(bottom) + "\"/>\n";
  body += "<text class=\"lab\" x=\"" + f1((left + right) / 2) + "\" y=\"" + f1(bottom + 36) + "\" text-anchor=\"middle\">" +
          html_escape(c.value_label) + "</text>\n";
  double h = bottom + 48;
  if (!c.note.empty()) {
    body += "<text class=\"note\" x=\"12\" y=\"" + f1(h) + "\">" + html_escape(c.note) + "</text>\n";
    h += 10;
  }
  return header(h, c.title, ns, n_points) + body + "</svg>\n";
}

}  // namespace dsv32::reports
