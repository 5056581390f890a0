// Byte-level BPE tokenizer, exactly GPT-2's: the GPT-2 pre-tokenisation pattern with Unicode
// character classes, the byte<->unicode table, merges applied by rank, and added/special tokens.
// Loads and saves vocab.json + merges.txt and Hugging Face tokenizer.json.
//
// Immutable after construction and safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace plume::core {

// Whether special-token text in the input (e.g. "<|endoftext|>") becomes the special token's id
// or is encoded as ordinary text. Every API that encodes user text takes this explicitly.
enum class SpecialTokens { kAsText, kAllow };

inline constexpr char kEndOfText[] = "<|endoftext|>";

class Tokenizer {
 public:
  // vocab.json (token string -> id) and merges.txt ("#version" line optional).
  static absl::StatusOr<Tokenizer> FromVocabAndMerges(const std::string& vocab_path,
                                                      const std::string& merges_path);
  // Hugging Face tokenizer.json with a BPE model, ByteLevel pre-tokenizer/decoder, added tokens.
  static absl::StatusOr<Tokenizer> FromTokenizerJson(const std::string& path);
  // tokenizer.json when the directory has one, else vocab.json + merges.txt.
  static absl::StatusOr<Tokenizer> FromDirectory(const std::string& dir);

  // Writes vocab.json, merges.txt and tokenizer.json into `dir` (an existing directory).
  absl::Status SaveToDirectory(const std::string& dir) const;

  // Invalid UTF-8 in `text` is an InvalidArgument error naming the byte offset.
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text, SpecialTokens special) const;

  // Encodes many texts on `threads` threads (0 = all cores); results in input order.
  absl::StatusOr<std::vector<std::vector<int32_t>>> EncodeBatch(
      const std::vector<std::string>& texts, SpecialTokens special, int threads = 0) const;

  // Concatenated token bytes; invalid UTF-8 in the result is replaced by U+FFFD. An id outside
  // [0, vocab_size) is an InvalidArgument error naming it.
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids) const;

  // The raw bytes token `id` stands for (may be part of a UTF-8 character); empty when out of
  // range. For incremental detokenisation.
  absl::string_view TokenBytes(int32_t id) const;

  int vocab_size() const;
  std::optional<int32_t> eos_id() const;                       // id of "<|endoftext|>", if any
  std::optional<int32_t> TokenId(absl::string_view token) const;  // exact vocabulary entry
  std::vector<std::string> SpecialTokenStrings() const;        // added/special tokens
  bool IsSpecial(int32_t id) const;

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  Tokenizer(const Tokenizer&);
  Tokenizer& operator=(const Tokenizer&);
  ~Tokenizer();

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// Byte-level BPE training (as GPT-2 / Hugging Face tokenizers' ByteLevel BPE trainer):
// pre-tokenise with the GPT-2 pattern, start from the 256 byte tokens, merge the most frequent
// pair until the vocabulary has `vocab_size` entries (special tokens included). Deterministic.
struct BpeTrainerOptions {
  int vocab_size = 8192;                                  // total, including specials and bytes
  std::vector<std::string> special_tokens = {kEndOfText};  // appended after the merges
  int min_frequency = 2;                                  // pairs seen fewer times never merge
  int threads = 0;                                        // pre-tokenisation threads; 0 = all
  absl::Status Validate() const;
};

absl::StatusOr<Tokenizer> TrainBpe(const std::vector<std::string>& texts,
                                   const BpeTrainerOptions& options);

}  // namespace plume::core
