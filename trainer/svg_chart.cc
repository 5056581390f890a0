#include "trainer/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace plume::trainer {
namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                    "#9467bd", "#8c564b", "#e377c2", "#17becf"};
constexpr int kLeft = 64, kRight = 16, kTop = 48, kBottom = 56;

struct Axis {
  double lo = 0, hi = 1, step = 1;
};

// 1, 2 or 5 times a power of ten, near range / target_ticks.
double NiceStep(double range, int target_ticks) {
  const double raw = range / target_ticks;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / power;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * power;
}

Axis NiceAxis(double lo, double hi, int target_ticks) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  Axis a;
  a.step = NiceStep(hi - lo, target_ticks);
  a.lo = std::floor(lo / a.step) * a.step;
  a.hi = std::ceil(hi / a.step) * a.step;
  return a;
}

// Rough width of a legend entry: swatch, gap, ~6.5 px per character at font-size 11.
double LegendWidth(const std::string& name) { return 28 + 6.5 * static_cast<double>(name.size()); }

std::string Num(double v) {
  if (std::abs(v) < 1e-12) return "0";
  return absl::StrFormat("%.6g", v);
}

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string RenderSvg(const LineChart& chart) {
  double legend = kLeft + kRight;
  for (const ChartSeries& s : chart.series) legend += LegendWidth(s.name);
  const int w = std::max(chart.width, static_cast<int>(std::ceil(legend))), h = chart.height;
  const double plot_w = w - kLeft - kRight, plot_h = h - kTop - kBottom;
  // Plotted y: the value, or its log10 on a log axis (non-positive values cannot be shown).
  auto plotted = [&](double y) { return chart.log_y ? (y > 0 ? std::log10(y) : std::nan("")) : y; };
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const ChartSeries& s : chart.series) {
    for (const auto& [x, value] : s.points) {
      const double y = plotted(value);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  }
  const bool empty = !std::isfinite(xmin);
  const bool categorical = !chart.x_categories.empty();
  Axis xa, ya;
  if (categorical) {
    xa = {-0.5, static_cast<double>(chart.x_categories.size()) - 0.5, 1};
  } else if (!empty) {
    for (double m : chart.x_marks) xmin = std::min(xmin, m), xmax = std::max(xmax, m);
    xa = NiceAxis(xmin, xmax, 6);
  }
  if (!empty) {
    ya = NiceAxis(ymin, ymax, 5);
    // Log axes spanning decades tick at whole powers of ten.
    if (chart.log_y && ya.step < 1 && ymax - ymin >= 2) ya = NiceAxis(std::floor(ymin), std::ceil(ymax), 5);
    if (chart.log_y && ya.step >= 1) ya.step = std::max(1.0, std::round(ya.step));
  }
  auto px = [&](double x) { return kLeft + (x - xa.lo) / (xa.hi - xa.lo) * plot_w; };
  auto py = [&](double y) { return kTop + (1 - (y - ya.lo) / (ya.hi - ya.lo)) * plot_h; };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" class=\"chart\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n<title>%s</title>\n"
      "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n"
      "<text class=\"chart-title\" x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">%s</text>\n",
      HtmlEscape(chart.id), w, h, w, h, HtmlEscape(chart.title), HtmlEscape(chart.title), w, h, kLeft,
      HtmlEscape(chart.title));
  // Legend under the title.
  double lx = kLeft;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const char* color = kPalette[i % std::size(kPalette)];
    absl::StrAppendFormat(&svg,
                          "<g class=\"legend\"><rect x=\"%.1f\" y=\"27\" width=\"12\" height=\"4\" fill=\"%s\"/>"
                          "<text x=\"%.1f\" y=\"33\" font-size=\"11\">%s</text></g>\n",
                          lx, color, lx + 16, HtmlEscape(chart.series[i].name));
    lx += LegendWidth(chart.series[i].name);
  }
  if (empty) {
    absl::StrAppendFormat(&svg, "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"#777\">no data</text>\n</svg>\n",
                          w / 2 - 24, h / 2);
    return svg;
  }
  // Grid, ticks and labels.
  for (double y = ya.lo; y <= ya.hi + ya.step * 1e-6; y += ya.step) {
    absl::StrAppendFormat(&svg,
                          "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                          "<text class=\"tick\" x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                          kLeft, py(y), w - kRight, py(y), kLeft - 6, py(y) + 4,
                          chart.log_y ? Num(std::pow(10.0, y)) : Num(y));
  }
  if (categorical) {
    for (size_t i = 0; i < chart.x_categories.size(); ++i) {
      absl::StrAppendFormat(&svg,
                            "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" font-size=\"11\" "
                            "text-anchor=\"middle\">%s</text>\n",
                            px(static_cast<double>(i)), kTop + plot_h + 16, HtmlEscape(chart.x_categories[i]));
    }
  } else {
    for (double x = xa.lo; x <= xa.hi + xa.step * 1e-6; x += xa.step) {
      absl::StrAppendFormat(&svg,
                            "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" font-size=\"11\" "
                            "text-anchor=\"middle\">%s</text>\n",
                            px(x), kTop + plot_h + 16, Num(x));
    }
  }
  absl::StrAppendFormat(&svg,
                        "<path class=\"axes\" d=\"M%d %d V%.1f H%d\" fill=\"none\" stroke=\"#333\"/>\n"
                        "<text class=\"axis-label\" x=\"%.1f\" y=\"%d\" font-size=\"12\" "
                        "text-anchor=\"middle\">%s</text>\n"
                        "<text class=\"axis-label\" x=\"14\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                        "transform=\"rotate(-90 14 %.1f)\">%s</text>\n",
                        kLeft, kTop, kTop + plot_h, w - kRight, kLeft + plot_w / 2, h - 12,
                        HtmlEscape(chart.x_label), kTop + plot_h / 2, kTop + plot_h / 2,
                        HtmlEscape(chart.y_label));
  for (double m : chart.x_marks) {
    absl::StrAppendFormat(&svg,
                          "<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
                          "stroke-dasharray=\"4 3\"><title>%s</title></line>\n",
                          px(m), kTop, px(m), kTop + plot_h, Num(m));
  }
  // Series.
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& s = chart.series[i];
    const char* color = kPalette[i % std::size(kPalette)];
    std::string d;
    for (const auto& [x, value] : s.points) {
      const double y = plotted(value);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      absl::StrAppendFormat(&d, "%s%.1f %.1f", d.empty() ? "M" : " L", px(x), py(y));
    }
    if (d.empty()) continue;
    absl::StrAppendFormat(&svg,
                          "<path class=\"series\" data-series=\"%s\" d=\"%s\" fill=\"none\" stroke=\"%s\" "
                          "stroke-width=\"2\"/>\n",
                          HtmlEscape(s.name), d, color);
    if (!s.markers) continue;
    for (const auto& [x, value] : s.points) {
      const double y = plotted(value);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      const std::string where = categorical && x >= 0 && x < static_cast<double>(chart.x_categories.size())
                                    ? chart.x_categories[static_cast<size_t>(x)]
                                    : Num(x);
      absl::StrAppendFormat(&svg,
                            "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\">"
                            "<title>%s: %s = %s</title></circle>\n",
                            px(x), py(y), color, HtmlEscape(s.name), HtmlEscape(where), Num(value));
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace plume::trainer
