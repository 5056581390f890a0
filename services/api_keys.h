// API keys for plume-serve: a file with one key per line ('#' comments and blank lines are
// ignored). Clients send `authorization: Bearer <key>` metadata. Only SHA-256 digests of the keys
// are kept, and a presented key is checked against every digest with CRYPTO_memcmp, so the time
// a check takes does not depend on how much of a key matched or on which key it was. Keys are
// never logged or put in error messages.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plume::services {

class ApiKeys {
 public:
  // Loads `path`. Errors name the file and line (never the key): an empty file (no key would
  // ever be accepted), a key shorter than 16 or longer than 512 characters, or characters
  // outside printable ASCII without spaces.
  static absl::StatusOr<ApiKeys> FromFile(const std::string& path);
  // The same from the file's text; `source` names it in errors.
  static absl::StatusOr<ApiKeys> FromText(absl::string_view text, absl::string_view source);

  // OK when `authorization` (the metadata value) is "Bearer <key>" for a configured key;
  // otherwise UNAUTHENTICATED saying what is missing (without echoing what was sent).
  absl::Status Check(absl::string_view authorization) const;

  size_t size() const { return digests_.size(); }

 private:
  using Digest = std::array<unsigned char, 32>;
  static Digest Hash(absl::string_view key);
  std::vector<Digest> digests_;
};

}  // namespace plume::services
