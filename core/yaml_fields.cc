#include "core/yaml_fields.h"

#include "core/file_io.h"
#include "core/status_macros.h"

namespace plume::core {

absl::StatusOr<YamlFields> YamlFields::Parse(absl::string_view text, absl::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.line + 1, ": invalid YAML: ", e.msg));
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the top level must be a mapping"));
  }
  return YamlFields(root, std::string(source), "");
}

absl::StatusOr<YamlFields> YamlFields::ParseFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return Parse(text, path);
}

absl::StatusOr<YamlFields> YamlFields::Child(absl::string_view key) {
  YAML::Node value = node_[std::string(key)];
  used_.insert(std::string(key));
  if (!value || value.IsNull()) {
    return YamlFields(YAML::Node(YAML::NodeType::Map), source_, Path(key) + ".");
  }
  if (!value.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(value), ": key '", Path(key), "' must be a mapping"));
  }
  return YamlFields(value, source_, Path(key) + ".");
}

absl::Status YamlFields::ReadStringList(absl::string_view key, std::vector<std::string>* out) {
  YAML::Node value = node_[std::string(key)];
  if (!value) return absl::OkStatus();
  used_.insert(std::string(key));
  try {
    if (value.IsScalar()) {
      *out = {value.as<std::string>()};
    } else if (value.IsSequence()) {
      *out = value.as<std::vector<std::string>>();
    } else if (value.IsNull()) {
      out->clear();
    } else {
      throw YAML::Exception(value.Mark(), "not a list");
    }
  } catch (const YAML::Exception&) {
    return absl::InvalidArgumentError(absl::StrCat(Where(value), ": key '", Path(key),
                                                   "' must be a string or a list of strings"));
  }
  return absl::OkStatus();
}

absl::Status YamlFields::Finish() const {
  for (const auto& entry : node_) {
    const std::string key = entry.first.as<std::string>("");
    if (!used_.contains(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(entry.first), ": unknown key '", Path(key), "'"));
    }
  }
  return absl::OkStatus();
}

std::string YamlFields::Where(const YAML::Node& node) const {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return source_;
  return absl::StrCat(source_, ":", mark.line + 1);
}

std::string YamlFields::Where(absl::string_view key) const {
  for (const auto& entry : node_) {
    if (entry.first.as<std::string>("") == key) return Where(entry.first);
  }
  return source_;
}

}  // namespace plume::core
