// Early-return helpers for absl::Status / absl::StatusOr, as in Abseil-based codebases.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PLUME_CONCAT_INNER_(a, b) a##b
#define PLUME_CONCAT_(a, b) PLUME_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::absl::Status plume_status_ = (expr);         \
    if (!plume_status_.ok()) return plume_status_; \
  } while (0)

// `lhs` = value of StatusOr `rexpr`, or returns its status from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL_(PLUME_CONCAT_(plume_statusor_, __LINE__), lhs, rexpr)
#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                           \
  if (!statusor.ok()) return statusor.status();      \
  lhs = std::move(statusor).value()
