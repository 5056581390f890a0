// One structured line per finished request on stderr:
//   request id=r-17 method=Complete code=OK peer=ipv4:127.0.0.1:40122 prompt_tokens=5
//       completion_tokens=32 finish=length queue_ms=0.1 ttft_ms=12.5 total_ms=301.2
// Prompt text appears (escaped, as prompt="...") only when configured (log_prompts); API keys
// never appear. Lines from concurrent requests never interleave.
#pragma once

#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

#include <grpcpp/support/status.h>

#include "absl/time/time.h"

namespace plume::services {

struct RequestLogEntry {
  std::string id;
  std::string method;
  std::string peer;
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string error;                  // the status message when code is not OK
  std::optional<int> prompt_tokens;   // when known
  std::optional<int> completion_tokens;
  int truncated_prompt_tokens = 0;
  std::string finish;                 // finish reason of a completion
  std::optional<absl::Duration> queue, time_to_first_token;
  absl::Duration total;
  std::optional<std::string> prompt;  // only set when prompts are logged
};

class RequestLog {
 public:
  RequestLog(std::FILE* out, bool log_prompts) : out_(out), log_prompts_(log_prompts) {}
  bool log_prompts() const { return log_prompts_; }
  void Write(const RequestLogEntry& entry);
  // The line Write prints (without the newline).
  static std::string Format(const RequestLogEntry& entry);

 private:
  std::FILE* out_;
  const bool log_prompts_;
  std::mutex mu_;
};

}  // namespace plume::services
