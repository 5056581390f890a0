#include "trainer/metrics_log.h"

#include <filesystem>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "core/status_macros.h"

namespace plume::trainer {

absl::StatusOr<MetricsLog> MetricsLog::Open(const std::string& path, int64_t resume_step) {
  if (std::filesystem::exists(path)) {
    ASSIGN_OR_RETURN(std::string text, core::ReadFile(path));
    std::string kept;
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      const auto record = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
      // A torn last line (killed mid-write) is not valid JSON: drop it too.
      if (record.is_discarded() || !record.contains("step")) continue;
      if (record["step"].get<int64_t>() > resume_step) continue;
      absl::StrAppend(&kept, line, "\n");
    }
    RETURN_IF_ERROR(core::WriteFileAtomically(path, kept));
  }
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (file == nullptr) return core::ErrnoStatus("open", path);
  return MetricsLog(file);
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsLog::Append(const nlohmann::ordered_json& record) {
  const std::string line = record.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace plume::trainer
