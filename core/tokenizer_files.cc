// Tokenizer file formats: GPT-2's vocab.json + merges.txt and Hugging Face's tokenizer.json.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/byte_level.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "core/tokenizer.h"
#include "core/tokenizer_impl.h"
#include "core/utf8.h"

namespace plume::core {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;
using VocabKeys = absl::flat_hash_map<std::string, int32_t>;  // byte-level text -> id

constexpr char kVocabFile[] = "vocab.json";
constexpr char kMergesFile[] = "merges.txt";
constexpr char kTokenizerFile[] = "tokenizer.json";
constexpr int32_t kMaxId = (1 << 30) - 1;

absl::Status Error(const std::string& path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

absl::StatusOr<Json> ParseJson(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  try {
    return Json::parse(text);
  } catch (const std::exception& e) {
    return Error(path, absl::StrCat("not valid JSON: ", e.what()));
  }
}

// Fills data->tokens from a {"byte-level text": id} object. Added-token ids keep their content.
absl::Status ReadVocab(const Json& vocab, const std::string& path, BpeModelData* data,
                       VocabKeys* keys) {
  if (!vocab.is_object()) return Error(path, "the vocabulary must be a JSON object");
  // Ids must be nearly dense: a stray huge id must not make us allocate gigabytes.
  int64_t max_id = -1;
  for (const auto& [key, value] : vocab.items()) {
    if (value.is_number_integer()) max_id = std::max(max_id, value.get<int64_t>());
  }
  const int64_t limit = 2 * static_cast<int64_t>(vocab.size() + data->added_tokens.size()) + 1024;
  if (max_id >= limit) {
    return Error(path, absl::StrCat("vocabulary id ", max_id, " is far beyond its ", vocab.size(),
                                    " entries; ids must be (nearly) dense"));
  }
  for (const auto& [key, value] : vocab.items()) {
    if (!value.is_number_integer()) {
      return Error(path, absl::StrCat("vocabulary entry \"", key, "\" has a non-integer id"));
    }
    const int64_t id = value.get<int64_t>();
    if (id < 0 || id > kMaxId) {
      return Error(path, absl::StrCat("vocabulary entry \"", key, "\" has id ", id,
                                      " outside [0, 2^30)"));
    }
    if (!keys->emplace(key, static_cast<int32_t>(id)).second) {
      return Error(path, absl::StrCat("vocabulary entry \"", key, "\" is listed twice"));
    }
    if (static_cast<size_t>(id) >= data->tokens.size()) data->tokens.resize(id + 1);
    if (!data->tokens[id].empty()) {
      return Error(path, absl::StrCat("id ", id, " is used by two vocabulary entries"));
    }
    data->tokens[id] = ByteLevelToBytes(key);
    if (data->tokens[id].empty()) return Error(path, "the vocabulary has an empty entry");
  }
  for (const auto& a : data->added_tokens) {
    if (static_cast<size_t>(a.id) < data->tokens.size()) data->tokens[a.id].clear();
  }
  return absl::OkStatus();
}

absl::Status AddMerge(absl::string_view left, absl::string_view right, const VocabKeys& keys,
                      const std::string& where, BpeModelData* data) {
  auto l = keys.find(left);
  auto r = keys.find(right);
  if (l == keys.end() || r == keys.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": merge \"", left, " ", right, "\" uses \"",
                     l == keys.end() ? left : right, "\", which is not in the vocabulary"));
  }
  data->merges.emplace_back(l->second, r->second);
  return absl::OkStatus();
}

// merges.txt: an optional "#version" line, then one "left right" pair per line.
absl::Status ReadMergesTxt(const std::string& path, const VocabKeys& keys, BpeModelData* data) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  if (!IsValidUtf8(text)) {
    return Error(path, absl::StrCat("not valid UTF-8 at byte offset ", FindInvalidUtf8(text)));
  }
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::ConsumeSuffix(&line, "\r");
    if (line.empty() || (line_number == 1 && absl::StartsWith(line, "#version"))) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      return Error(path, absl::StrCat("line ", line_number, ": expected \"left right\", got \"",
                                      line, "\""));
    }
    RETURN_IF_ERROR(AddMerge(parts[0], parts[1], keys,
                             absl::StrCat(path, ": line ", line_number), data));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tokenizer> Build(BpeModelData data, const std::string& path) {
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromModelData(std::move(data));
  if (!tokenizer.ok()) return Error(path, tokenizer.status().message());
  return tokenizer;
}

// Checks a {"type": ...} component that must be absent/null or have one of `types`.
absl::Status CheckType(const Json& root, const char* field, std::vector<std::string> types,
                       const std::string& path) {
  if (!root.contains(field) || root[field].is_null()) return absl::OkStatus();
  const Json& c = root[field];
  const std::string type = c.is_object() ? c.value("type", std::string()) : std::string();
  for (const auto& t : types) {
    if (type == t) return absl::OkStatus();
  }
  return Error(path, absl::StrCat(field, " \"", type,
                                  "\" is not supported; Plume reads byte-level BPE (GPT-2 style) "
                                  "tokenizers only"));
}

}  // namespace

absl::StatusOr<Tokenizer> Tokenizer::FromVocabAndMerges(const std::string& vocab_path,
                                                        const std::string& merges_path) {
  ASSIGN_OR_RETURN(const Json vocab, ParseJson(vocab_path));
  BpeModelData data;
  VocabKeys keys;
  RETURN_IF_ERROR(ReadVocab(vocab, vocab_path, &data, &keys));
  RETURN_IF_ERROR(ReadMergesTxt(merges_path, keys, &data));
  // GPT-2's convention: "<|endoftext|>" in the vocabulary is its special token.
  if (auto it = keys.find(kEndOfText); it != keys.end()) {
    data.added_tokens.push_back({it->second, kEndOfText, true});
    data.tokens[it->second].clear();
  }
  return Build(std::move(data), vocab_path);
}

absl::StatusOr<Tokenizer> Tokenizer::FromTokenizerJson(const std::string& path) {
  ASSIGN_OR_RETURN(const Json root, ParseJson(path));
  try {
    if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) {
      return Error(path, "no \"model\" object; is this a Hugging Face tokenizer.json?");
    }
    const Json& model = root["model"];
    if (model.contains("type") && model["type"] != "BPE") {
      return Error(path, absl::StrCat("model.type is ", model["type"].dump(),
                                      "; only \"BPE\" is supported"));
    }
    if (model.contains("dropout") && !model["dropout"].is_null()) {
      return Error(path, "model.dropout is set; BPE dropout is not supported");
    }
    for (const char* field : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(field) && !model[field].is_null() && model[field] != "") {
        return Error(path, absl::StrCat("model.", field, " is not supported"));
      }
    }
    if (model.value("byte_fallback", false)) {
      return Error(path, "model.byte_fallback is not supported (byte-level BPE needs none)");
    }
    RETURN_IF_ERROR(CheckType(root, "normalizer", {}, path));
    RETURN_IF_ERROR(CheckType(root, "pre_tokenizer", {"ByteLevel"}, path));
    RETURN_IF_ERROR(CheckType(root, "decoder", {"ByteLevel"}, path));
    RETURN_IF_ERROR(CheckType(root, "post_processor", {"ByteLevel"}, path));
    if (!root.contains("pre_tokenizer") || root["pre_tokenizer"].is_null()) {
      return Error(path, "pre_tokenizer is missing; expected ByteLevel");
    }
    const Json& pre = root["pre_tokenizer"];
    if (pre.value("add_prefix_space", false)) {
      return Error(path, "pre_tokenizer.add_prefix_space is true; only false (GPT-2) is supported");
    }
    if (!pre.value("use_regex", true)) {
      return Error(path, "pre_tokenizer.use_regex is false; only GPT-2's pattern is supported");
    }

    BpeModelData data;
    data.ignore_merges = model.value("ignore_merges", false);
    if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
      for (const Json& a : root["added_tokens"]) {
        if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
            !a.contains("content") || !a["content"].is_string()) {
          return Error(path, "added_tokens entries need an integer \"id\" and a \"content\"");
        }
        const int64_t id = a["id"].get<int64_t>();
        if (id < 0 || id > kMaxId) {
          return Error(path, absl::StrCat("added token id ", id, " outside [0, 2^30)"));
        }
        data.added_tokens.push_back({static_cast<int32_t>(id), a["content"].get<std::string>(),
                                     a.value("special", true)});
      }
    }
    if (!model.contains("vocab")) return Error(path, "model.vocab is missing");
    VocabKeys keys;
    RETURN_IF_ERROR(ReadVocab(model["vocab"], path, &data, &keys));
    if (!model.contains("merges") || !model["merges"].is_array()) {
      return Error(path, "model.merges is missing or not an array");
    }
    size_t index = 0;
    for (const Json& m : model["merges"]) {
      const std::string where = absl::StrCat(path, ": model.merges[", index++, "]");
      if (m.is_string()) {  // "left right" (tokenizers < 0.20)
        const std::string s = m.get<std::string>();
        std::vector<absl::string_view> parts = absl::StrSplit(s, ' ');
        if (parts.size() != 2) return absl::InvalidArgumentError(where + ": expected \"a b\"");
        RETURN_IF_ERROR(AddMerge(parts[0], parts[1], keys, where, &data));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        RETURN_IF_ERROR(AddMerge(m[0].get<std::string>(), m[1].get<std::string>(), keys, where,
                                 &data));
      } else {
        return absl::InvalidArgumentError(where + ": expected \"a b\" or [\"a\", \"b\"]");
      }
    }
    return Build(std::move(data), path);
  } catch (const std::exception& e) {  // a field of the wrong JSON type
    return Error(path, absl::StrCat("unexpected structure: ", e.what()));
  }
}

absl::StatusOr<Tokenizer> Tokenizer::FromDirectory(const std::string& dir) {
  const std::string json = dir + "/" + kTokenizerFile;
  std::error_code ec;
  if (std::filesystem::exists(json, ec)) return FromTokenizerJson(json);
  const std::string vocab = dir + "/" + kVocabFile;
  const std::string merges = dir + "/" + kMergesFile;
  if (std::filesystem::exists(vocab, ec) && std::filesystem::exists(merges, ec)) {
    return FromVocabAndMerges(vocab, merges);
  }
  return absl::NotFoundError(absl::StrCat("no tokenizer in ", dir, ": expected ", kTokenizerFile,
                                          " or ", kVocabFile, " + ", kMergesFile));
}

namespace {

// The vocabulary as {"byte-level text": id} in id order; added tokens under their content.
OrderedJson VocabObject(const BpeModelData& data, const std::vector<uint8_t>& is_added) {
  OrderedJson vocab = OrderedJson::object();
  // Appended directly: ordered_map's operator[] searches linearly. Keys are unique (checked).
  auto& entries = vocab.get_ref<OrderedJson::object_t&>();
  entries.reserve(data.tokens.size());
  for (size_t id = 0; id < data.tokens.size(); ++id) {
    if (data.tokens[id].empty()) continue;
    entries.emplace_back(is_added[id] ? data.tokens[id] : BytesToByteLevel(data.tokens[id]),
                         OrderedJson(id));
  }
  return vocab;
}

}  // namespace

std::string Tokenizer::VocabJson() const {
  return VocabObject(impl_->data, impl_->is_added).dump() + "\n";
}

std::string Tokenizer::MergesTxt() const {
  std::string out = "#version: 0.2\n";
  for (const auto& [left, right] : impl_->data.merges) {
    absl::StrAppend(&out, BytesToByteLevel(impl_->data.tokens[left]), " ",
                    BytesToByteLevel(impl_->data.tokens[right]), "\n");
  }
  return out;
}

std::string Tokenizer::TokenizerJson() const {
  const BpeModelData& data = impl_->data;
  auto byte_level = [](bool add_prefix_space, bool trim_offsets) {
    OrderedJson j;
    j["type"] = "ByteLevel";
    j["add_prefix_space"] = add_prefix_space;
    j["trim_offsets"] = trim_offsets;
    j["use_regex"] = true;
    return j;
  };
  OrderedJson root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  root["added_tokens"] = OrderedJson::array();
  for (const auto& a : data.added_tokens) {
    OrderedJson t;
    t["id"] = a.id;
    t["content"] = a.content;
    t["single_word"] = false;
    t["lstrip"] = false;
    t["rstrip"] = false;
    t["normalized"] = !a.special;
    t["special"] = a.special;
    root["added_tokens"].push_back(std::move(t));
  }
  root["normalizer"] = nullptr;
  root["pre_tokenizer"] = byte_level(false, true);
  root["post_processor"] = byte_level(true, false);
  root["decoder"] = byte_level(true, true);
  OrderedJson model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = nullptr;
  model["continuing_subword_prefix"] = "";
  model["end_of_word_suffix"] = "";
  model["fuse_unk"] = false;
  model["byte_fallback"] = false;
  model["ignore_merges"] = data.ignore_merges;
  model["vocab"] = VocabObject(data, impl_->is_added);
  model["merges"] = OrderedJson::array();
  for (const auto& [left, right] : data.merges) {
    model["merges"].push_back(
        absl::StrCat(BytesToByteLevel(data.tokens[left]), " ", BytesToByteLevel(data.tokens[right])));
  }
  root["model"] = std::move(model);
  return root.dump(2) + "\n";
}

absl::Status Tokenizer::SaveToDirectory(const std::string& dir) const {
  RETURN_IF_ERROR(WriteFileDurably(dir + "/" + kVocabFile, VocabJson()));
  RETURN_IF_ERROR(WriteFileDurably(dir + "/" + kMergesFile, MergesTxt()));
  return WriteFileDurably(dir + "/" + kTokenizerFile, TokenizerJson());
}

}  // namespace plume::core
