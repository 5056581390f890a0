// Hand-written SVG line charts for plume-eval's HTML report: no script, no external resources,
// readable in any browser and in the saved file alone.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace plume::trainer {

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y); non-finite y values are skipped
  bool markers = true;                             // a dot (with a value tooltip) per point
};

struct LineChart {
  std::string id;       // the <svg> element's id
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<ChartSeries> series;
  // Non-empty: x values are indices into these labels (one tick each), e.g. checkpoint names.
  std::vector<std::string> x_categories;
  std::vector<double> x_marks;  // dashed vertical lines, e.g. the steps of evaluated checkpoints
  bool log_y = false;           // logarithmic y axis (positive values only), e.g. perplexities
  int width = 640;              // widened when the legend needs more
  int height = 320;
};

// The chart as one <svg> element. Each series is a <path class="series" data-series="NAME">.
std::string RenderSvg(const LineChart& chart);

// Text safe inside HTML/SVG elements and attribute values.
std::string HtmlEscape(absl::string_view text);

}  // namespace plume::trainer
