#include "services/request_log.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/grpc_status.h"

namespace plume::services {
namespace {

std::string Ms(absl::Duration d) { return absl::StrFormat("%.1f", absl::ToDoubleMilliseconds(d)); }

}  // namespace

std::string RequestLog::Format(const RequestLogEntry& e) {
  std::string line = absl::StrCat("request id=", e.id, " method=", e.method,
                                  " code=", StatusCodeName(e.code), " peer=", e.peer);
  if (e.prompt_tokens) absl::StrAppend(&line, " prompt_tokens=", *e.prompt_tokens);
  if (e.completion_tokens) absl::StrAppend(&line, " completion_tokens=", *e.completion_tokens);
  if (e.truncated_prompt_tokens > 0) {
    absl::StrAppend(&line, " truncated_prompt_tokens=", e.truncated_prompt_tokens);
  }
  if (!e.finish.empty()) absl::StrAppend(&line, " finish=", e.finish);
  if (e.queue) absl::StrAppend(&line, " queue_ms=", Ms(*e.queue));
  if (e.time_to_first_token) absl::StrAppend(&line, " ttft_ms=", Ms(*e.time_to_first_token));
  absl::StrAppend(&line, " total_ms=", Ms(e.total));
  if (!e.error.empty()) absl::StrAppend(&line, " error=\"", absl::CHexEscape(e.error), "\"");
  if (e.prompt) absl::StrAppend(&line, " prompt=\"", absl::CHexEscape(*e.prompt), "\"");
  return line;
}

void RequestLog::Write(const RequestLogEntry& entry) {
  std::string line = Format(entry);
  line += '\n';
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace plume::services
