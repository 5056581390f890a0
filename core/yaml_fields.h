// Reads a YAML mapping into struct fields, with errors that name the file, line and key.
// Every key must be read or Finish() reports it as unknown — configuration typos never pass
// silently.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace plume::core {

class YamlFields {
 public:
  // Parses `text`; the root must be a mapping (an empty document is an empty mapping).
  static absl::StatusOr<YamlFields> Parse(absl::string_view text, absl::string_view source);
  static absl::StatusOr<YamlFields> ParseFile(const std::string& path);

  // Copies the value of `key` into *out when present; leaves *out unchanged when absent.
  template <typename T>
  absl::Status Read(absl::string_view key, T* out) {
    YAML::Node value = node_[std::string(key)];
    if (!value) return absl::OkStatus();
    used_.insert(std::string(key));
    try {
      *out = value.as<T>();
    } catch (const YAML::Exception&) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(value), ": key '", Path(key), "' has an invalid value"));
    }
    return absl::OkStatus();
  }

  // A string or a list of strings (a single string becomes a one-element list).
  absl::Status ReadStringList(absl::string_view key, std::vector<std::string>* out);

  // The mapping under `key` (an empty mapping when absent).
  absl::StatusOr<YamlFields> Child(absl::string_view key);

  bool Has(absl::string_view key) const { return bool(node_[std::string(key)]); }

  // Error for the first key that was never read, e.g. "train.yaml:7: unknown key 'optim.lr'".
  absl::Status Finish() const;

  const std::string& source() const { return source_; }

  // "file:line" of a node, for callers' own validation messages.
  std::string Where(const YAML::Node& node) const;
  std::string Where(absl::string_view key) const;

 private:
  YamlFields(YAML::Node node, std::string source, std::string prefix)
      : node_(std::move(node)), source_(std::move(source)), prefix_(std::move(prefix)) {}
  std::string Path(absl::string_view key) const { return prefix_ + std::string(key); }

  YAML::Node node_;
  std::string source_;
  std::string prefix_;  // "parent.child." for nested mappings
  std::set<std::string> used_;
};

}  // namespace plume::core
