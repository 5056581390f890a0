// plume-eval's report: a table for the terminal, eval.json (metrics, configuration, provenance)
// and a self-contained report.html with SVG charts (the runs' loss curves from metrics.jsonl and
// the evaluated metrics per checkpoint).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "trainer/evaluator.h"
#include "trainer/train_config.h"

namespace plume::trainer {

inline constexpr char kReportJsonFile[] = "eval.json";
inline constexpr char kReportHtmlFile[] = "report.html";

// A run's training log (metrics.jsonl): training loss and validation loss by step.
struct RunCurves {
  std::string run_dir;
  std::vector<std::pair<int64_t, double>> train_loss;
  std::vector<std::pair<int64_t, double>> val_loss;
};

// Reads <run_dir>/metrics.jsonl; unreadable lines (a torn last line) are skipped.
absl::StatusOr<RunCurves> ReadRunCurves(const std::string& run_dir);

struct EvalReport {
  std::string plume_version;
  std::string date;          // UTC, ISO 8601
  std::string command_line;
  int threads = 0;           // LibTorch intra-op threads used
  EvalOptions options;
  DataConfig data;           // how the corpora were read
  std::vector<const EvalCorpus*> corpora;
  std::vector<CheckpointResult> checkpoints;  // in evaluation order
  std::vector<RunCurves> runs;                // of the checkpoints' runs, when they have a log
};

// The metrics a report compares, lowest is best for all.
struct MetricColumn {
  const char* key;    // JSON key
  const char* title;  // table heading
  double EvalMetrics::*field;
};
const std::vector<MetricColumn>& MetricColumns();

// Per corpus and metric, the index in report.checkpoints of the best (lowest) evaluated one.
// Empty unless at least two checkpoints were evaluated.
std::map<std::string, std::map<std::string, size_t>> BestCheckpoints(const EvalReport& report);

std::string FormatTable(const EvalReport& report);
nlohmann::ordered_json ReportJson(const EvalReport& report);
std::string ReportHtml(const EvalReport& report);

// Writes eval.json and report.html into `output_dir` (created when missing), each atomically.
absl::Status WriteReport(const EvalReport& report, const std::string& output_dir);

}  // namespace plume::trainer
