#include "trainer/token_dataset.h"

#include <torch/torch.h>

#include <filesystem>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/atomic_directory.h"
#include "core/file_io.h"
#include "core/mapped_file.h"
#include "core/sha256.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"
#include "trainer/corpus.h"

namespace plume::trainer {
namespace fs = std::filesystem;
namespace {

constexpr int kCacheFormatVersion = 1;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Whether document `index` is held out: a fixed pseudo-random choice per (seed, index).
bool IsHeldOut(uint64_t seed, size_t index, double fraction) {
  const double u = static_cast<double>(SplitMix64(seed ^ SplitMix64(index)) >> 11) * 0x1.0p-53;
  return u < fraction;
}

// Tokens of one split being assembled.
struct SplitBuilder {
  std::vector<uint32_t> tokens;
  std::vector<uint8_t> mask;
  int64_t documents = 0;
};

absl::Status AppendDocuments(const std::vector<Document>& docs, const std::vector<size_t>& which,
                             const core::Tokenizer& tokenizer, int32_t eot, int threads,
                             SplitBuilder* out) {
  std::vector<std::string> prompts, texts;
  bool any_prompt = false;
  for (size_t i : which) {
    prompts.push_back(docs[i].prompt);
    texts.push_back(docs[i].text);
    any_prompt |= !docs[i].prompt.empty();
  }
  ASSIGN_OR_RETURN(auto text_ids, tokenizer.EncodeBatch(texts, core::SpecialTokens::kAsText, threads));
  std::vector<std::vector<int32_t>> prompt_ids;
  if (any_prompt) {
    ASSIGN_OR_RETURN(prompt_ids, tokenizer.EncodeBatch(prompts, core::SpecialTokens::kAsText, threads));
  }
  for (size_t d = 0; d < which.size(); ++d) {
    if (any_prompt) {
      for (int32_t id : prompt_ids[d]) {
        out->tokens.push_back(static_cast<uint32_t>(id));
        out->mask.push_back(0);
      }
    }
    for (int32_t id : text_ids[d]) out->tokens.push_back(static_cast<uint32_t>(id));
    out->tokens.push_back(static_cast<uint32_t>(eot));
    if (any_prompt || !out->mask.empty()) out->mask.resize(out->tokens.size(), 1);
  }
  out->documents += static_cast<int64_t>(which.size());
  return absl::OkStatus();
}

absl::Status WriteSplit(const std::string& dir, const std::string& name, const SplitBuilder& split) {
  RETURN_IF_ERROR(core::WriteFileDurably(
      dir + "/" + name + ".tokens",
      absl::string_view(reinterpret_cast<const char*>(split.tokens.data()), split.tokens.size() * sizeof(uint32_t))));
  if (!split.mask.empty()) {
    RETURN_IF_ERROR(core::WriteFileDurably(
        dir + "/" + name + ".mask",
        absl::string_view(reinterpret_cast<const char*>(split.mask.data()), split.mask.size())));
  }
  return absl::OkStatus();
}

// The cache key: corpus settings, every file's path and content digest, the tokenizer.
absl::StatusOr<std::string> CacheKey(const DataConfig& data, const std::vector<std::string>& train_files,
                                     const std::vector<std::string>& validation_files,
                                     const std::string& tokenizer_fingerprint) {
  nlohmann::ordered_json key;
  key["version"] = kCacheFormatVersion;
  key["format"] = static_cast<int>(data.format);
  key["text_field"] = data.text_field;
  key["prompt_field"] = data.prompt_field;
  key["completion_field"] = data.completion_field;
  key["document_separator"] = data.document_separator;
  key["validation_fraction"] = data.validation_fraction;
  key["split_seed"] = data.split_seed;
  key["replace_invalid_utf8"] = data.replace_invalid_utf8;
  key["tokenizer"] = tokenizer_fingerprint;
  for (const auto& [name, files] : {std::pair{"train", &train_files}, std::pair{"validation", &validation_files}}) {
    for (const std::string& file : *files) {
      ASSIGN_OR_RETURN(std::string digest, core::Sha256OfFile(file));
      key[name].push_back({file, digest});
    }
  }
  return core::Sha256Hex(key.dump()).substr(0, 32);
}

}  // namespace

absl::StatusOr<TokenShard> TokenShard::Open(const std::string& dir, const std::string& name) {
  TokenShard shard;
  ASSIGN_OR_RETURN(core::MappedFile tokens, core::MappedFile::Open(dir + "/" + name + ".tokens"));
  if (tokens.size() % sizeof(uint32_t) != 0) {
    return absl::DataLossError(absl::StrCat(dir, "/", name, ".tokens is truncated"));
  }
  shard.size_ = static_cast<int64_t>(tokens.size() / sizeof(uint32_t));
  shard.tokens_ = reinterpret_cast<const uint32_t*>(tokens.data());
  shard.tokens_map_ = std::make_shared<core::MappedFile>(std::move(tokens));
  const std::string mask_path = dir + "/" + name + ".mask";
  if (fs::exists(mask_path)) {
    ASSIGN_OR_RETURN(core::MappedFile mask, core::MappedFile::Open(mask_path));
    if (static_cast<int64_t>(mask.size()) != shard.size_) {
      return absl::DataLossError(absl::StrCat(mask_path, " does not match its tokens"));
    }
    shard.mask_ = reinterpret_cast<const uint8_t*>(mask.data());
    shard.mask_map_ = std::make_shared<core::MappedFile>(std::move(mask));
  }
  return shard;
}

absl::StatusOr<PreparedCorpus> PrepareCorpus(const DataConfig& data, const core::Tokenizer& tokenizer,
                                             const std::string& tokenizer_fingerprint,
                                             const std::string& cache_root, int threads) {
  const std::optional<int32_t> eot = tokenizer.eos_id();
  if (!eot) {
    return absl::InvalidArgumentError(absl::StrCat("the tokenizer has no ", core::kEndOfText,
                                                   " token to separate documents"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> train_files, ExpandCorpusPaths(data.train));
  std::vector<std::string> validation_files;
  if (!data.validation.empty()) {
    ASSIGN_OR_RETURN(validation_files, ExpandCorpusPaths(data.validation));
  }
  ASSIGN_OR_RETURN(std::string key, CacheKey(data, train_files, validation_files, tokenizer_fingerprint));

  PreparedCorpus out;
  out.cache_dir = cache_root + "/" + key;
  if (!fs::exists(out.cache_dir + "/meta.json")) {
    ASSIGN_OR_RETURN(std::vector<Document> docs, ReadDocuments(train_files, data));
    if (docs.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("the training corpus (", absl::StrJoin(data.train, ", "),
                                                     ") holds no documents: the files are empty"));
    }
    std::vector<size_t> train_idx, validation_idx;
    for (size_t i = 0; i < docs.size(); ++i) {
      const bool held_out = validation_files.empty() && IsHeldOut(data.split_seed, i, data.validation_fraction);
      (held_out ? validation_idx : train_idx).push_back(i);
    }
    SplitBuilder train, validation;
    RETURN_IF_ERROR(AppendDocuments(docs, train_idx, tokenizer, *eot, threads, &train));
    if (!validation_files.empty()) {
      ASSIGN_OR_RETURN(std::vector<Document> val_docs, ReadDocuments(validation_files, data));
      std::vector<size_t> all(val_docs.size());
      std::iota(all.begin(), all.end(), 0);
      RETURN_IF_ERROR(AppendDocuments(val_docs, all, tokenizer, *eot, threads, &validation));
    } else {
      RETURN_IF_ERROR(AppendDocuments(docs, validation_idx, tokenizer, *eot, threads, &validation));
    }
    fs::create_directories(cache_root);
    ASSIGN_OR_RETURN(core::AtomicDirectory dir, core::AtomicDirectory::Create(out.cache_dir));
    RETURN_IF_ERROR(WriteSplit(dir.path(), "train", train));
    RETURN_IF_ERROR(WriteSplit(dir.path(), "validation", validation));
    nlohmann::ordered_json meta = {{"version", kCacheFormatVersion},
                                   {"train_documents", train.documents},
                                   {"train_tokens", train.tokens.size()},
                                   {"validation_documents", validation.documents},
                                   {"validation_tokens", validation.tokens.size()}};
    RETURN_IF_ERROR(core::WriteFileDurably(dir.path() + "/meta.json", meta.dump(2) + "\n"));
    RETURN_IF_ERROR(dir.Commit());
  } else {
    out.from_cache = true;
  }
  ASSIGN_OR_RETURN(std::string meta_text, core::ReadFile(out.cache_dir + "/meta.json"));
  const auto meta = nlohmann::json::parse(meta_text, nullptr, false);
  if (meta.is_discarded() || !meta.contains("train_documents")) {
    return absl::DataLossError(absl::StrCat(out.cache_dir, "/meta.json is corrupt; delete the directory"));
  }
  out.train_documents = meta["train_documents"].get<int64_t>();
  out.validation_documents = meta["validation_documents"].get<int64_t>();
  ASSIGN_OR_RETURN(out.train, TokenShard::Open(out.cache_dir, "train"));
  ASSIGN_OR_RETURN(out.validation, TokenShard::Open(out.cache_dir, "validation"));
  return out;
}

WindowSampler::WindowSampler(const TokenShard& shard, int seq_len, uint64_t seed, bool shuffle)
    : shard_(shard), seq_len_(seq_len), seed_(seed), shuffle_(shuffle),
      num_windows_(shard.size() > seq_len ? (shard.size() - 1) / seq_len : 0) {}

int64_t WindowSampler::WindowStart(int64_t sample) {
  const int64_t epoch = sample / num_windows_, index = sample % num_windows_;
  if (!shuffle_) return index * seq_len_;
  if (epoch != epoch_) {
    order_.resize(num_windows_);
    std::iota(order_.begin(), order_.end(), 0);
    // Fisher-Yates with a generator seeded per (seed, epoch): reproducible on any platform.
    std::mt19937_64 rng(SplitMix64(seed_ ^ SplitMix64(static_cast<uint64_t>(epoch))));
    for (int64_t i = num_windows_ - 1; i > 0; --i) {
      const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
      std::swap(order_[i], order_[j]);
    }
    epoch_ = epoch;
  }
  return order_[index] * seq_len_;
}

MicroBatch WindowSampler::Batch(int64_t first, int count) {
  auto inputs = torch::empty({count, seq_len_}, torch::kInt64);
  auto targets = torch::empty({count, seq_len_}, torch::kInt64);
  int64_t* in = inputs.data_ptr<int64_t>();
  int64_t* tg = targets.data_ptr<int64_t>();
  const uint32_t* tokens = shard_.tokens();
  const uint8_t* mask = shard_.mask();
  for (int b = 0; b < count; ++b) {
    const int64_t start = WindowStart(first + b);
    for (int t = 0; t < seq_len_; ++t) {
      in[b * seq_len_ + t] = tokens[start + t];
      const int64_t target_pos = start + t + 1;
      tg[b * seq_len_ + t] = (mask == nullptr || mask[target_pos]) ? tokens[target_pos] : kIgnoreIndex;
    }
  }
  return {inputs, targets};
}

}  // namespace plume::trainer
