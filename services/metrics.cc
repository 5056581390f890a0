#include "services/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace plume::services {
namespace {

void AtomicAdd(std::atomic<double>& target, double amount) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
  }
}

// Integers exactly (counters can exceed 1e6, where shortest-%g would round), else %.17g.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 9.0e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // The shortest of %.15g..%.17g that reads back as the same double.
  char buffer[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

bool ValidName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(c) || c == '_' || c == ':' || (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

std::string RenderLabels(const Labels& labels, absl::string_view extra_name = "",
                         absl::string_view extra_value = "") {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : labels) {
    absl::StrAppend(&out, first ? "" : ",", name, "=\"", EscapeLabelValue(value), "\"");
    first = false;
  }
  if (!extra_name.empty()) {
    absl::StrAppend(&out, first ? "" : ",", extra_name, "=\"", extra_value, "\"");
  }
  out += "}";
  return out;
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Counter::Increment(double amount) {
  if (amount > 0) AtomicAdd(value_, amount);
}

void Gauge::Add(double amount) { AtomicAdd(value_, amount); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, value);
}

Histogram::Snapshot Histogram::Snap() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(total);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

MetricsRegistry::Series* MetricsRegistry::FindOrAdd(absl::string_view name,
                                                    absl::string_view help, Type type,
                                                    const Labels& labels, bool* added) {
  if (!ValidName(name)) std::abort();  // a programming error, never input-driven
  for (const auto& [label, value] : labels) {
    if (!ValidName(label) || label == "le") std::abort();
  }
  *added = false;
  Family* family = nullptr;
  for (const auto& f : families_) {
    if (f->name == name) family = f.get();
  }
  if (family == nullptr) {
    families_.push_back(std::make_unique<Family>());
    family = families_.back().get();
    family->name = std::string(name);
    family->help = std::string(help);
    family->type = type;
  }
  if (family->type != type) std::abort();
  for (const auto& series : family->series) {
    if (series->labels == labels) return series.get();
  }
  family->series.push_back(std::make_unique<Series>());
  family->series.back()->labels = labels;
  *added = true;
  return family->series.back().get();
}

Counter* MetricsRegistry::AddCounter(absl::string_view name, absl::string_view help,
                                     const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  bool added;
  Series* series = FindOrAdd(name, help, Type::kCounter, labels, &added);
  if (added) series->counter = std::make_unique<Counter>();
  if (series->counter == nullptr) std::abort();  // registered as a callback
  return series->counter.get();
}

Gauge* MetricsRegistry::AddGauge(absl::string_view name, absl::string_view help,
                                 const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  bool added;
  Series* series = FindOrAdd(name, help, Type::kGauge, labels, &added);
  if (added) series->gauge = std::make_unique<Gauge>();
  if (series->gauge == nullptr) std::abort();
  return series->gauge.get();
}

Histogram* MetricsRegistry::AddHistogram(absl::string_view name, absl::string_view help,
                                         std::vector<double> bounds, const Labels& labels) {
  for (size_t i = 1; i < bounds.size(); ++i) {
    if (!(bounds[i] > bounds[i - 1])) std::abort();
  }
  std::lock_guard<std::mutex> lock(mu_);
  bool added;
  Series* series = FindOrAdd(name, help, Type::kHistogram, labels, &added);
  if (added) series->histogram = std::make_unique<Histogram>(std::move(bounds));
  return series->histogram.get();
}

void MetricsRegistry::AddGaugeCallback(absl::string_view name, absl::string_view help,
                                       std::function<double()> read, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  bool added;
  Series* series = FindOrAdd(name, help, Type::kGauge, labels, &added);
  series->read = std::move(read);
}

void MetricsRegistry::AddCounterCallback(absl::string_view name, absl::string_view help,
                                         std::function<double()> read, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  bool added;
  Series* series = FindOrAdd(name, help, Type::kCounter, labels, &added);
  series->read = std::move(read);
}

std::string MetricsRegistry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& family : families_) {
    const char* type = family->type == Type::kCounter ? "counter"
                       : family->type == Type::kGauge ? "gauge"
                                                      : "histogram";
    absl::StrAppend(&out, "# HELP ", family->name, " ", family->help, "\n# TYPE ", family->name,
                    " ", type, "\n");
    for (const auto& series : family->series) {
      if (series->histogram != nullptr) {
        const Histogram::Snapshot snap = series->histogram->Snap();
        for (size_t i = 0; i <= snap.bounds.size(); ++i) {
          const std::string le = i < snap.bounds.size() ? FormatValue(snap.bounds[i]) : "+Inf";
          absl::StrAppend(&out, family->name, "_bucket", RenderLabels(series->labels, "le", le),
                          " ", snap.cumulative[i], "\n");
        }
        absl::StrAppend(&out, family->name, "_sum", RenderLabels(series->labels), " ",
                        FormatValue(snap.sum), "\n", family->name, "_count",
                        RenderLabels(series->labels), " ", snap.cumulative.back(), "\n");
        continue;
      }
      const double value = series->read    ? series->read()
                           : series->counter ? series->counter->value()
                                             : series->gauge->value();
      absl::StrAppend(&out, family->name, RenderLabels(series->labels), " ", FormatValue(value),
                      "\n");
    }
  }
  return out;
}

}  // namespace plume::services
