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
#include <utility>
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

// What defines a byte-level BPE tokenizer, as its files hold it (with raw bytes instead of the
// byte-level text). The loaders and the trainer build one; Tokenizer::FromModelData validates it.
struct BpeModelData {
  struct AddedToken {
    int32_t id = 0;
    std::string content;  // matched literally in the input when special tokens are allowed
    bool special = true;  // Hugging Face's "special" flag (skipped by HF decode when asked)
  };
  std::vector<std::string> tokens;                  // id -> raw bytes; "" = unused id
  std::vector<std::pair<int32_t, int32_t>> merges;  // by rank: ids of the left and right parts
  std::vector<AddedToken> added_tokens;             // may reuse or extend vocabulary ids
  bool ignore_merges = false;  // HF's BPE "ignore_merges": a piece in the vocabulary is one token
};

class Tokenizer {
 public:
  // vocab.json (token string -> id) and merges.txt ("#version" line optional).
  static absl::StatusOr<Tokenizer> FromVocabAndMerges(const std::string& vocab_path,
                                                      const std::string& merges_path);
  // Hugging Face tokenizer.json with a BPE model, ByteLevel pre-tokenizer/decoder, added tokens.
  static absl::StatusOr<Tokenizer> FromTokenizerJson(const std::string& path);
  // tokenizer.json when the directory has one, else vocab.json + merges.txt.
  static absl::StatusOr<Tokenizer> FromDirectory(const std::string& dir);
  // Validates `data` (every merge's parts and result in the vocabulary, all 256 bytes present,
  // unique token bytes, added-token ids in range) and builds the encoder.
  static absl::StatusOr<Tokenizer> FromModelData(BpeModelData data);

  // Writes vocab.json, merges.txt and tokenizer.json into `dir` (an existing directory).
  // vocab.json + merges.txt carry no added-token list: loaded alone they make only
  // "<|endoftext|>" special (GPT-2's convention); tokenizer.json keeps every added token.
  absl::Status SaveToDirectory(const std::string& dir) const;
  // The same files' contents, for callers that write them elsewhere.
  std::string VocabJson() const;
  std::string MergesTxt() const;
  std::string TokenizerJson() const;

  // Invalid UTF-8 in `text` is an InvalidArgument error naming the byte offset (the only
  // behaviour: input is never silently repaired). With kAllow, the leftmost-longest occurrence of
  // an added token's content becomes its id; with kAsText it is encoded like any other text.
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text, SpecialTokens special) const;

  // Encodes many texts on `threads` threads (0 = all cores); results in input order. An invalid
  // text fails the batch with an error naming its index and byte offset.
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
  // Id of an added token's content, or of the ordinary token with exactly these raw bytes.
  std::optional<int32_t> TokenId(absl::string_view token) const;
  std::vector<std::string> SpecialTokenStrings() const;  // added/special tokens, in file order
  bool IsSpecial(int32_t id) const;  // any added token (all are matched only under kAllow)
  int num_merges() const;
  const BpeModelData& model_data() const;

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
// pair until the vocabulary has `vocab_size` entries (special tokens included; fewer when no pair
// is seen `min_frequency` times any more). Ties go to the smaller (left id, right id). Special-
// token text in the corpus separates words and is not learnt. Ids 0..255 are the bytes in
// GPT-2's order, then the merges' tokens, then the specials. Deterministic: the result does not
// depend on `threads` or on how the corpus is cut into texts at piece boundaries.
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
