// Conversions between absl::Status (Plume's libraries) and grpc::Status (the wire). The codes are
// the same numbers in both; names are the canonical upper-case ones ("INVALID_ARGUMENT"), used in
// logs and metric labels.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace plume::services {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);
absl::string_view StatusCodeName(grpc::StatusCode code);

}  // namespace plume::services
