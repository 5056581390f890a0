#include "trainer/corpus.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "core/utf8.h"
#include "nlohmann/json.hpp"

namespace plume::trainer {
namespace fs = std::filesystem;
namespace {

bool HasGlobChars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

absl::Status CheckUtf8(std::string* text, const std::string& where, bool replace) {
  const size_t bad = core::FindInvalidUtf8(*text);
  if (bad == text->size()) return absl::OkStatus();
  if (replace) {
    *text = core::ReplaceInvalidUtf8(*text);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      where, ": invalid UTF-8 at byte offset ", bad,
      " (set data.replace_invalid_utf8: true to replace invalid bytes with U+FFFD)"));
}

absl::Status ReadTextFile(const std::string& path, const DataConfig& data, std::vector<Document>* out) {
  ASSIGN_OR_RETURN(std::string text, core::ReadFile(path));
  RETURN_IF_ERROR(CheckUtf8(&text, path, data.replace_invalid_utf8));
  if (data.document_separator.empty()) {
    if (!text.empty()) out->push_back({"", std::move(text)});
    return absl::OkStatus();
  }
  for (absl::string_view piece : absl::StrSplit(text, data.document_separator)) {
    if (!piece.empty()) out->push_back({"", std::string(piece)});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> StringField(const nlohmann::json& object, const std::string& field,
                                        const std::string& where) {
  auto it = object.find(field);
  if (it == object.end()) return absl::InvalidArgumentError(absl::StrCat(where, ": no field '", field, "'"));
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": field '", field, "' is not a string"));
  }
  return it->get<std::string>();
}

absl::Status ReadJsonlFile(const std::string& path, const DataConfig& data, bool prompt_completion,
                           std::vector<Document>* out) {
  ASSIGN_OR_RETURN(std::string text, core::ReadFile(path));
  RETURN_IF_ERROR(CheckUtf8(&text, path, data.replace_invalid_utf8));
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const std::string where = absl::StrCat(path, ":", line_number);
    const auto object = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
    if (object.is_discarded() || !object.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON object"));
    }
    Document doc;
    if (prompt_completion) {
      ASSIGN_OR_RETURN(doc.prompt, StringField(object, data.prompt_field, where));
      ASSIGN_OR_RETURN(doc.text, StringField(object, data.completion_field, where));
    } else {
      ASSIGN_OR_RETURN(doc.text, StringField(object, data.text_field, where));
    }
    if (!doc.text.empty()) out->push_back(std::move(doc));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ExpandCorpusPaths(const std::vector<std::string>& patterns) {
  std::set<std::string> files;
  for (const std::string& pattern : patterns) {
    bool matched = false;
    std::vector<std::string> matches;
    if (HasGlobChars(pattern)) {
      glob_t g{};
      if (::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) matches.push_back(g.gl_pathv[i]);
      }
      globfree(&g);
    } else {
      matches.push_back(pattern);
    }
    for (const std::string& match : matches) {
      std::error_code ec;
      if (fs::is_directory(match, ec)) {
        for (const auto& entry : fs::recursive_directory_iterator(match, ec)) {
          if (entry.is_regular_file()) {
            files.insert(entry.path().string());
            matched = true;
          }
        }
      } else if (fs::is_regular_file(match, ec)) {
        files.insert(match);
        matched = true;
      }
    }
    if (!matched) {
      return absl::NotFoundError(absl::StrCat("corpus path '", pattern, "' matches no file"));
    }
  }
  return std::vector<std::string>(files.begin(), files.end());
}

absl::StatusOr<std::vector<Document>> ReadDocuments(const std::vector<std::string>& files,
                                                    const DataConfig& data) {
  std::vector<Document> docs;
  for (const std::string& file : files) {
    CorpusFormat format = data.format;
    if (format == CorpusFormat::kAuto) {
      format = absl::EndsWith(file, ".jsonl") ? CorpusFormat::kJsonl : CorpusFormat::kText;
    }
    if (format == CorpusFormat::kText) {
      RETURN_IF_ERROR(ReadTextFile(file, data, &docs));
    } else {
      RETURN_IF_ERROR(ReadJsonlFile(file, data, format == CorpusFormat::kPromptCompletion, &docs));
    }
  }
  return docs;
}

}  // namespace plume::trainer
