// metrics.jsonl of a run: one JSON object per logged step or evaluation, flushed as written.
#pragma once

#include <cstdio>
#include <utility>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace plume::trainer {

class MetricsLog {
 public:
  // Opens `path` for appending. Lines of steps after `resume_step` (work lost when the run
  // stopped after its last checkpoint) are dropped first, so the log matches the checkpoint.
  static absl::StatusOr<MetricsLog> Open(const std::string& path, int64_t resume_step);
  MetricsLog(MetricsLog&& other) noexcept : file_(other.file_) { other.file_ = nullptr; }
  MetricsLog& operator=(MetricsLog&& other) noexcept {
    std::swap(file_, other.file_);
    return *this;
  }
  ~MetricsLog();

  void Append(const nlohmann::ordered_json& record);

 private:
  explicit MetricsLog(std::FILE* file) : file_(file) {}
  std::FILE* file_;
};

}  // namespace plume::trainer
