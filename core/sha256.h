// SHA-256 digests (OpenSSL) for cache keys and provenance.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plume::core {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view data);
  std::string HexDigest();  // finishes the digest: 64 lowercase hex characters

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string Sha256Hex(absl::string_view data);

// Digest of a file's contents, read in blocks.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);

}  // namespace plume::core
