// A small Prometheus metrics registry: counters, gauges (set, or read from a callback at scrape
// time) and histograms with fixed buckets, rendered in the text exposition format 0.0.4.
// Debian has no maintained Prometheus C++ client, and serving needs only this much.
//
//   MetricsRegistry registry;
//   Counter* ok = registry.AddCounter("plume_requests_total", "RPCs by method and status",
//                                     {{"method", "Complete"}, {"code", "OK"}});
//   ok->Increment();
//   std::string text = registry.Render();
//
// Metric objects live as long as the registry; updating them is lock-free (atomics), so they
// can be touched from the engine's scheduler thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace plume::services {

// Label name -> value, rendered in name order.
using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  void Increment(double amount = 1.0);  // amount >= 0
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, strictly increasing; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (= count)
    double sum = 0.0;
  };
  Snapshot Snap() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket (not cumulative), then +Inf
  std::atomic<double> sum_{0.0};
};

class MetricsRegistry {
 public:
  // Each call registers one time series; series sharing a name are one family (same help and
  // type) and must differ in labels. Adding an existing series returns the existing object.
  // Names and label names must match [a-zA-Z_:][a-zA-Z0-9_:]*.
  Counter* AddCounter(absl::string_view name, absl::string_view help, const Labels& labels = {});
  Gauge* AddGauge(absl::string_view name, absl::string_view help, const Labels& labels = {});
  Histogram* AddHistogram(absl::string_view name, absl::string_view help,
                          std::vector<double> bounds, const Labels& labels = {});
  // A gauge or counter whose value `read` returns at scrape time (e.g. engine statistics).
  void AddGaugeCallback(absl::string_view name, absl::string_view help,
                        std::function<double()> read, const Labels& labels = {});
  void AddCounterCallback(absl::string_view name, absl::string_view help,
                          std::function<double()> read, const Labels& labels = {});

  // The text exposition format (families in registration order).
  std::string Render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> read;
  };
  struct Family {
    std::string name, help;
    Type type;
    std::vector<std::unique_ptr<Series>> series;
  };
  Series* FindOrAdd(absl::string_view name, absl::string_view help, Type type,
                    const Labels& labels, bool* added);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

// Prometheus label value escaping (backslash, double quote, newline).
std::string EscapeLabelValue(absl::string_view value);

}  // namespace plume::services
