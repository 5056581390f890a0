// Byte-level BPE training: count GPT-2 pre-tokenised words, then repeatedly merge the most
// frequent adjacent pair, updating only the words that contain it (a max-heap with lazy
// re-validation, as Hugging Face tokenizers' BpeTrainer).
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <queue>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/byte_level.h"
#include "core/pretokenizer.h"
#include "core/tokenizer.h"
#include "core/utf8.h"

namespace plume::core {
namespace {

using WordCounts = absl::flat_hash_map<std::string, int64_t>;

struct Word {
  std::vector<int32_t> symbols;
  int64_t count;
};

uint64_t PairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t Left(uint64_t key) { return static_cast<int32_t>(key >> 32); }
int32_t Right(uint64_t key) { return static_cast<int32_t>(key & 0xFFFFFFFFu); }

struct Candidate {
  int64_t count;
  uint64_t pair;
  // Max-heap order: higher count first; among equal counts the smaller pair (determinism).
  bool operator<(const Candidate& o) const {
    return count != o.count ? count < o.count : pair > o.pair;
  }
};

int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// Counts the pre-tokenised words of texts[begin, end), skipping special-token occurrences.
void CountWords(absl::string_view text, const std::vector<std::string>& specials,
                std::vector<absl::string_view>& pieces, WordCounts& counts) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t cut = text.size(), cut_len = 0;
    for (const auto& s : specials) {
      const size_t at = text.find(s, pos);
      if (at < cut || (at == cut && s.size() > cut_len)) {
        cut = at;
        cut_len = s.size();
      }
    }
    pieces.clear();
    SplitGpt2Pieces(text.substr(pos, cut - pos), &pieces);
    for (const absl::string_view p : pieces) ++counts[p];
    pos = cut + cut_len;
  }
}

}  // namespace

absl::Status BpeTrainerOptions::Validate() const {
  for (size_t i = 0; i < special_tokens.size(); ++i) {
    if (special_tokens[i].empty()) return absl::InvalidArgumentError("empty special token");
    if (!IsValidUtf8(special_tokens[i])) {
      return absl::InvalidArgumentError(absl::StrCat("special token ", i, " is not UTF-8"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (special_tokens[j] == special_tokens[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat("special token \"", special_tokens[i], "\" is listed twice"));
      }
    }
  }
  const int64_t minimum = 256 + static_cast<int64_t>(special_tokens.size());
  if (vocab_size < minimum || vocab_size > (1 << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vocab_size ", vocab_size, " must be in [", minimum,
        ", 2^30]: the 256 byte tokens and the special tokens are always in the vocabulary"));
  }
  if (min_frequency < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_frequency ", min_frequency, " must be >= 1"));
  }
  if (threads < 0) return absl::InvalidArgumentError("threads must be >= 0 (0 = all cores)");
  return absl::OkStatus();
}

absl::StatusOr<Tokenizer> TrainBpe(const std::vector<std::string>& texts,
                                   const BpeTrainerOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  for (size_t i = 0; i < texts.size(); ++i) {
    const size_t bad = FindInvalidUtf8(texts[i]);
    if (bad != texts[i].size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "training text %d is not valid UTF-8: byte 0x%02X at byte offset %d", i,
          static_cast<uint8_t>(texts[i][bad]), bad));
    }
  }

  // 1. Word counts, in parallel over texts, merged and sorted (so threads never change results).
  const int threads =
      static_cast<int>(std::min<size_t>(ResolveThreads(options.threads), std::max<size_t>(1, texts.size())));
  std::vector<WordCounts> partial(static_cast<size_t>(threads));
  std::atomic<size_t> next{0};
  auto count_work = [&](int t) {
    std::vector<absl::string_view> pieces;
    for (size_t i; (i = next.fetch_add(1)) < texts.size();) {
      CountWords(texts[i], options.special_tokens, pieces, partial[t]);
    }
  };
  {
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(count_work, t);
    count_work(0);
    for (auto& th : pool) th.join();
  }
  for (int t = 1; t < threads; ++t) {
    for (auto& [w, c] : partial[t]) partial[0][w] += c;
    partial[t] = WordCounts();
  }
  std::vector<std::pair<std::string, int64_t>> sorted(partial[0].begin(), partial[0].end());
  partial[0] = WordCounts();
  std::sort(sorted.begin(), sorted.end());

  // 2. The byte alphabet in GPT-2's id order, and the words as byte-token ids.
  BpeModelData data;
  absl::flat_hash_map<std::string, int32_t> token_ids;
  int32_t byte_id[256];
  for (const uint8_t b : ByteLevelOrder()) {
    byte_id[b] = static_cast<int32_t>(data.tokens.size());
    data.tokens.emplace_back(1, static_cast<char>(b));
    token_ids.emplace(data.tokens.back(), byte_id[b]);
  }
  std::vector<Word> words;
  words.reserve(sorted.size());
  for (auto& [bytes, count] : sorted) {
    Word w{{}, count};
    w.symbols.reserve(bytes.size());
    for (const char c : bytes) w.symbols.push_back(byte_id[static_cast<uint8_t>(c)]);
    words.push_back(std::move(w));
  }
  sorted.clear();
  sorted.shrink_to_fit();

  // 3. Pair counts and where each pair occurs.
  absl::flat_hash_map<uint64_t, int64_t> pair_count;
  absl::flat_hash_map<uint64_t, std::vector<int32_t>> where;
  for (int32_t w = 0; w < static_cast<int32_t>(words.size()); ++w) {
    const auto& s = words[w].symbols;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const uint64_t key = PairKey(s[i], s[i + 1]);
      pair_count[key] += words[w].count;
      auto& list = where[key];
      if (list.empty() || list.back() != w) list.push_back(w);
    }
  }
  std::priority_queue<Candidate> heap;
  for (const auto& [key, count] : pair_count) heap.push({count, key});

  // 4. Merge until the vocabulary is full or no pair is frequent enough.
  const int64_t target = options.vocab_size - static_cast<int64_t>(options.special_tokens.size());
  std::vector<int32_t> seen_at(words.size(), -1);  // last merge that updated the word
  absl::flat_hash_map<uint64_t, int64_t> delta;
  std::vector<int32_t> merged;
  while (static_cast<int64_t>(data.tokens.size()) < target && !heap.empty()) {
    const Candidate top = heap.top();
    heap.pop();
    auto it = pair_count.find(top.pair);
    const int64_t current = it == pair_count.end() ? 0 : it->second;
    if (current != top.count) {  // stale entry
      if (current > 0) heap.push({current, top.pair});
      continue;
    }
    if (top.count < options.min_frequency) break;
    const int32_t a = Left(top.pair), b = Right(top.pair);
    std::string bytes = data.tokens[a] + data.tokens[b];
    int32_t new_id;
    if (auto found = token_ids.find(bytes); found != token_ids.end()) {
      new_id = found->second;  // another merge already made these bytes
    } else {
      new_id = static_cast<int32_t>(data.tokens.size());
      token_ids.emplace(bytes, new_id);
      data.tokens.push_back(std::move(bytes));
    }
    const int32_t merge_index = static_cast<int32_t>(data.merges.size());
    data.merges.emplace_back(a, b);

    delta.clear();
    std::vector<int32_t> occurrences = std::move(where[top.pair]);
    where.erase(top.pair);
    for (const int32_t w : occurrences) {
      if (seen_at[w] == merge_index) continue;
      seen_at[w] = merge_index;
      Word& word = words[w];
      auto& s = word.symbols;
      bool contains = false;
      for (size_t i = 0; i + 1 < s.size() && !contains; ++i) contains = s[i] == a && s[i + 1] == b;
      if (!contains) continue;
      for (size_t i = 0; i + 1 < s.size(); ++i) delta[PairKey(s[i], s[i + 1])] -= word.count;
      merged.clear();
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          merged.push_back(new_id);
          ++i;
        } else {
          merged.push_back(s[i]);
        }
      }
      s.assign(merged.begin(), merged.end());
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t key = PairKey(s[i], s[i + 1]);
        delta[key] += word.count;
        if (s[i] == new_id || s[i + 1] == new_id) {
          auto& list = where[key];
          if (list.empty() || list.back() != w) list.push_back(w);
        }
      }
    }
    for (const auto& [key, d] : delta) {
      if (d == 0) continue;
      const int64_t now = (pair_count[key] += d);
      if (now <= 0) {
        pair_count.erase(key);
      } else if (d > 0) {
        heap.push({now, key});  // raised counts must be visible; lowered ones re-validate lazily
      }
    }
    pair_count.erase(top.pair);
  }

  // 5. Special tokens after the merges.
  for (const auto& special : options.special_tokens) {
    data.added_tokens.push_back({static_cast<int32_t>(data.tokens.size()), special, true});
    data.tokens.push_back(special);
  }
  return Tokenizer::FromModelData(std::move(data));
}

}  // namespace plume::core
