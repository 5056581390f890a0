#include "services/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"

namespace plume::services {
namespace {

constexpr size_t kMinKeyLength = 16;
constexpr size_t kMaxKeyLength = 512;

}  // namespace

ApiKeys::Digest ApiKeys::Hash(absl::string_view key) {
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest.data());
  return digest;
}

absl::StatusOr<ApiKeys> ApiKeys::FromFile(const std::string& path) {
  absl::StatusOr<std::string> text = core::ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the API keys file: ", text.status().message()));
  }
  return FromText(*text, path);
}

absl::StatusOr<ApiKeys> ApiKeys::FromText(absl::string_view text, absl::string_view source) {
  ApiKeys keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    if (line.size() < kMinKeyLength || line.size() > kMaxKeyLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line_number, ": an API key must have ", kMinKeyLength, " to ",
          kMaxKeyLength, " characters (this one has ", line.size(), ")"));
    }
    for (char c : line) {
      if (c <= ' ' || c > '~') {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ":", line_number,
            ": an API key may only contain printable ASCII characters without spaces"));
      }
    }
    keys.digests_.push_back(Hash(line));
  }
  if (keys.digests_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the API keys file has no keys (one key per line)"));
  }
  return keys;
}

absl::Status ApiKeys::Check(absl::string_view authorization) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing API key: send metadata 'authorization: Bearer <key>'");
  }
  constexpr absl::string_view kScheme = "Bearer ";
  if (authorization.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme)) {
    return absl::UnauthenticatedError(
        "the authorization metadata must be 'Bearer <key>'");
  }
  const Digest presented = Hash(absl::StripAsciiWhitespace(authorization.substr(kScheme.size())));
  // Every digest is compared (no early exit), each in constant time.
  int matches = 0;
  for (const Digest& digest : digests_) {
    matches |= CRYPTO_memcmp(digest.data(), presented.data(), digest.size()) == 0;
  }
  if (matches == 0) return absl::UnauthenticatedError("invalid API key");
  return absl::OkStatus();
}

}  // namespace plume::services
