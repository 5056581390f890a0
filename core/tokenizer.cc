// Tokenizer construction, encoding and decoding. File formats are in tokenizer_files.cc.
#include "core/tokenizer.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <queue>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/pretokenizer.h"
#include "core/tokenizer_impl.h"
#include "core/utf8.h"

namespace plume::core {

struct Tokenizer::Impl::Scratch {
  std::vector<absl::string_view> pieces;
  // Short pieces: ids and the rank of each adjacent pair, merged in place.
  std::vector<int32_t> part_ids;
  std::vector<int32_t> part_ranks;
  // Long pieces: a doubly linked list of parts and a heap of candidate merges.
  struct Node {
    int32_t id;  // -1 once merged into its left neighbour
    int32_t prev;
    int32_t next;  // -1 at the end
  };
  struct Candidate {
    int32_t rank;
    int32_t left;  // node index = byte position, so smaller means further left
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  std::vector<Node> nodes;
  std::vector<Candidate> heap;
};

namespace {

constexpr int32_t kNoRank = INT32_MAX;
// Pieces up to this many bytes use the quadratic in-place merge (fastest for words); longer
// ones the O(n log n) heap, so a 100 KB word without spaces stays fast.
constexpr size_t kShortPiece = 48;

int AvailableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

void Tokenizer::Impl::EncodePiece(absl::string_view piece, Scratch& s,
                                  std::vector<int32_t>* ids) const {
  const size_t n = piece.size();
  if (n == 1) {
    ids->push_back(byte_ids[static_cast<uint8_t>(piece[0])]);
    return;
  }
  if (n <= kShortPiece) {
    auto& part = s.part_ids;
    auto& rank = s.part_ranks;
    part.resize(n);
    rank.resize(n);
    for (size_t i = 0; i < n; ++i) part[i] = byte_ids[static_cast<uint8_t>(piece[i])];
    auto rank_at = [&](size_t i, size_t m) -> int32_t {
      if (i + 1 >= m) return kNoRank;
      const Merge* merge = FindMerge(part[i], part[i + 1]);
      return merge ? merge->rank : kNoRank;
    };
    size_t m = n;
    for (size_t i = 0; i + 1 < m; ++i) rank[i] = rank_at(i, m);
    while (m > 1) {
      size_t best = 0;
      int32_t best_rank = kNoRank;
      for (size_t i = 0; i + 1 < m; ++i) {
        if (rank[i] < best_rank) {
          best_rank = rank[i];
          best = i;
        }
      }
      if (best_rank == kNoRank) break;
      part[best] = FindMerge(part[best], part[best + 1])->id;
      std::memmove(&part[best + 1], &part[best + 2], (m - best - 2) * sizeof(int32_t));
      if (best + 2 < m) {
        std::memmove(&rank[best + 1], &rank[best + 2], (m - best - 2) * sizeof(int32_t));
      }
      --m;
      rank[best] = rank_at(best, m);
      if (best > 0) rank[best - 1] = rank_at(best - 1, m);
    }
    ids->insert(ids->end(), part.begin(), part.begin() + static_cast<ptrdiff_t>(m));
    return;
  }

  // Long piece: linked list + min-heap of (rank, position) with lazy invalidation.
  auto& nodes = s.nodes;
  auto& heap = s.heap;
  nodes.resize(n);
  heap.clear();
  for (size_t i = 0; i < n; ++i) {
    nodes[i] = {byte_ids[static_cast<uint8_t>(piece[i])], static_cast<int32_t>(i) - 1,
                i + 1 < n ? static_cast<int32_t>(i + 1) : -1};
  }
  const auto cmp = std::greater<Scratch::Candidate>();
  auto push_pair = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = nodes[left].next;
    if (right < 0) return;
    const Merge* merge = FindMerge(nodes[left].id, nodes[right].id);
    if (merge == nullptr) return;
    heap.push_back({merge->rank, left});
    std::push_heap(heap.begin(), heap.end(), cmp);
  };
  for (size_t i = 0; i + 1 < n; ++i) push_pair(static_cast<int32_t>(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    const Scratch::Candidate c = heap.back();
    heap.pop_back();
    Scratch::Node& left = nodes[c.left];
    if (left.id < 0 || left.next < 0) continue;
    // Still the same pair? A rank names one pair, so an equal rank means it is.
    const Merge* merge = FindMerge(left.id, nodes[left.next].id);
    if (merge == nullptr || merge->rank != c.rank) continue;
    const int32_t right = left.next;
    left.id = merge->id;
    left.next = nodes[right].next;
    if (left.next >= 0) nodes[left.next].prev = c.left;
    nodes[right].id = -1;
    push_pair(left.prev);
    push_pair(c.left);
  }
  for (int32_t i = 0; i >= 0; i = nodes[i].next) ids->push_back(nodes[i].id);
}

void Tokenizer::Impl::EncodeOrdinary(absl::string_view text, Scratch& s,
                                     std::vector<int32_t>* ids) const {
  constexpr size_t kPiecesPerRound = 4096;  // bounded scratch for huge texts
  while (!text.empty()) {
    s.pieces.clear();
    text.remove_prefix(SplitGpt2Pieces(text, &s.pieces, kPiecesPerRound));
    for (const absl::string_view piece : s.pieces) {
      if (piece.size() > 1) {
        auto it = bytes_to_id.find(piece);
        if (it != bytes_to_id.end() && (data.ignore_merges || whole_piece_is_token[it->second])) {
          ids->push_back(it->second);
          continue;
        }
      }
      EncodePiece(piece, s, ids);
    }
  }
}

void Tokenizer::Impl::EncodeValid(absl::string_view text, SpecialTokens special, Scratch& s,
                                  std::vector<int32_t>* ids) const {
  if (special == SpecialTokens::kAsText || data.added_tokens.empty()) {
    EncodeOrdinary(text, s, ids);
    return;
  }
  // Leftmost-longest added token (as Hugging Face's matcher); `next[k]` caches where added
  // token k occurs next (npos = nowhere further).
  const auto& added = data.added_tokens;
  std::vector<size_t> next(added.size());
  for (size_t k = 0; k < added.size(); ++k) {
    next[k] = added[k].content.empty() ? absl::string_view::npos : text.find(added[k].content);
  }
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best_pos = absl::string_view::npos;
    int best = -1;
    for (const int32_t k : added_by_length) {  // longest first: keeps the longest on ties
      if (next[k] != absl::string_view::npos && next[k] < pos) {
        next[k] = text.find(added[k].content, pos);
      }
      if (next[k] < best_pos) {
        best_pos = next[k];
        best = k;
      }
    }
    if (best < 0) break;
    EncodeOrdinary(text.substr(pos, best_pos - pos), s, ids);
    ids->push_back(added[best].id);
    pos = best_pos + added[best].content.size();
  }
  if (pos < text.size()) EncodeOrdinary(text.substr(pos), s, ids);
}

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::Tokenizer(const Tokenizer&) = default;
Tokenizer& Tokenizer::operator=(const Tokenizer&) = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<Tokenizer> Tokenizer::FromModelData(BpeModelData data) {
  auto impl = std::make_shared<Impl>();
  const int64_t max_vocab = int64_t{1} << 30;
  if (static_cast<int64_t>(data.tokens.size()) > max_vocab) {
    return absl::InvalidArgumentError("vocabulary too large");
  }
  // Added tokens: ids in range (extending the vocabulary if needed), unique non-empty content.
  int64_t size = static_cast<int64_t>(data.tokens.size());
  for (const auto& a : data.added_tokens) {
    if (a.id < 0 || a.id >= max_vocab) {
      return absl::InvalidArgumentError(absl::StrCat("added token \"", a.content, "\" has id ",
                                                     a.id, " outside [0, 2^30)"));
    }
    if (a.content.empty()) return absl::InvalidArgumentError("an added token has empty content");
    if (!IsValidUtf8(a.content)) {
      return absl::InvalidArgumentError(
          absl::StrCat("added token ", a.id, " is not valid UTF-8"));
    }
    size = std::max<int64_t>(size, int64_t{a.id} + 1);
  }
  if (size > 2 * static_cast<int64_t>(data.tokens.size() + data.added_tokens.size()) + 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "added token id ", size - 1, " is far beyond the ", data.tokens.size(),
        "-entry vocabulary; ids must be (nearly) dense"));
  }
  data.tokens.resize(static_cast<size_t>(size));
  impl->is_added.assign(static_cast<size_t>(size), 0);
  for (size_t k = 0; k < data.added_tokens.size(); ++k) {
    const auto& a = data.added_tokens[k];
    if (impl->is_added[a.id]) {
      return absl::InvalidArgumentError(absl::StrCat("two added tokens have id ", a.id));
    }
    for (size_t j = 0; j < k; ++j) {
      if (data.added_tokens[j].content == a.content) {
        return absl::InvalidArgumentError(
            absl::StrCat("added token \"", a.content, "\" is listed twice"));
      }
    }
    impl->is_added[a.id] = 1;
    data.tokens[a.id] = a.content;
    impl->added_by_length.push_back(static_cast<int32_t>(k));
  }
  std::stable_sort(impl->added_by_length.begin(), impl->added_by_length.end(),
                   [&](int32_t x, int32_t y) {
                     return data.added_tokens[x].content.size() >
                            data.added_tokens[y].content.size();
                   });
  // Ordinary tokens: unique bytes; all 256 single bytes present.
  impl->bytes_to_id.reserve(data.tokens.size());
  for (int32_t id = 0; id < static_cast<int32_t>(data.tokens.size()); ++id) {
    if (impl->is_added[id] || data.tokens[id].empty()) continue;
    auto [it, inserted] = impl->bytes_to_id.emplace(data.tokens[id], id);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokens ", it->second, " and ", id, " have the same bytes \"",
          absl::CHexEscape(data.tokens[id]), "\""));
    }
  }
  for (int b = 0; b < 256; ++b) {
    auto it = impl->bytes_to_id.find(absl::string_view(reinterpret_cast<const char*>(&b), 1));
    if (it == impl->bytes_to_id.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the vocabulary has no token for byte 0x%02X; byte-level BPE needs all 256 bytes", b));
    }
    impl->byte_ids[b] = it->second;
  }
  // Merges: parts and result are ordinary tokens; the first of duplicate merges wins.
  impl->merges.reserve(data.merges.size());
  const int32_t num_tokens = static_cast<int32_t>(data.tokens.size());
  for (size_t rank = 0; rank < data.merges.size(); ++rank) {
    const auto [left, right] = data.merges[rank];
    for (const int32_t part : {left, right}) {
      if (part < 0 || part >= num_tokens || impl->is_added[part] || data.tokens[part].empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("merge ", rank, " uses id ", part, ", not an ordinary token"));
      }
    }
    const std::string merged = data.tokens[left] + data.tokens[right];
    auto it = impl->bytes_to_id.find(merged);
    if (it == impl->bytes_to_id.end()) {
      return absl::InvalidArgumentError(absl::StrCat("merge ", rank, " makes \"",
                                                     absl::CHexEscape(merged),
                                                     "\", which is not in the vocabulary"));
    }
    impl->merges.emplace(Impl::PairKey(left, right),
                         Impl::Merge{static_cast<int32_t>(rank), it->second});
  }
  // Which tokens BPE reproduces from their own bytes.
  impl->whole_piece_is_token.assign(data.tokens.size(), 0);
  Impl::Scratch scratch;
  std::vector<int32_t> ids;
  for (const auto& [bytes, id] : impl->bytes_to_id) {
    ids.clear();
    impl->EncodePiece(bytes, scratch, &ids);
    impl->whole_piece_is_token[id] = ids.size() == 1 && ids[0] == id;
  }
  impl->data = std::move(data);
  return Tokenizer(std::move(impl));
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(absl::string_view text,
                                                       SpecialTokens special) const {
  const size_t bad = FindInvalidUtf8(text);
  if (bad != text.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "input is not valid UTF-8: byte 0x%02X at byte offset %d", static_cast<uint8_t>(text[bad]),
        bad));
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 4 + 1);
  Impl::Scratch scratch;
  impl_->EncodeValid(text, special, scratch, &ids);
  return ids;
}

absl::StatusOr<std::vector<std::vector<int32_t>>> Tokenizer::EncodeBatch(
    const std::vector<std::string>& texts, SpecialTokens special, int threads) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  std::vector<size_t> bad(texts.size(), absl::string_view::npos);
  if (threads <= 0) threads = AvailableCpus();
  threads = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), texts.size()));
  // Dynamic assignment in small runs of texts balances uneven sizes.
  std::atomic<size_t> next{0};
  constexpr size_t kRun = 8;
  auto work = [&] {
    Impl::Scratch scratch;
    while (true) {
      const size_t begin = next.fetch_add(kRun);
      if (begin >= texts.size()) break;
      const size_t end = std::min(texts.size(), begin + kRun);
      for (size_t i = begin; i < end; ++i) {
        const size_t b = FindInvalidUtf8(texts[i]);
        if (b != texts[i].size()) {
          bad[i] = b;
          continue;
        }
        out[i].reserve(texts[i].size() / 4 + 1);
        impl_->EncodeValid(texts[i], special, scratch, &out[i]);
      }
    }
  };
  if (threads <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    if (bad[i] != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "text %d is not valid UTF-8: byte 0x%02X at byte offset %d", i,
          static_cast<uint8_t>(texts[i][bad[i]]), bad[i]));
    }
  }
  return out;
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const int32_t> ids) const {
  const auto& tokens = impl_->data.tokens;
  size_t total = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || static_cast<size_t>(id) >= tokens.size()) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", id, " at position ", i,
                                                     " is outside [0, ", tokens.size(), ")"));
    }
    total += tokens[id].size();
  }
  std::string out;
  out.reserve(total);
  for (const int32_t id : ids) out += tokens[id];
  if (IsValidUtf8(out)) return out;
  return ReplaceInvalidUtf8(out);
}

absl::string_view Tokenizer::TokenBytes(int32_t id) const {
  const auto& tokens = impl_->data.tokens;
  if (id < 0 || static_cast<size_t>(id) >= tokens.size()) return {};
  return tokens[id];
}

int Tokenizer::vocab_size() const { return static_cast<int>(impl_->data.tokens.size()); }

std::optional<int32_t> Tokenizer::eos_id() const {
  for (const auto& a : impl_->data.added_tokens) {
    if (a.content == kEndOfText) return a.id;
  }
  return std::nullopt;
}

std::optional<int32_t> Tokenizer::TokenId(absl::string_view token) const {
  for (const auto& a : impl_->data.added_tokens) {
    if (a.content == token) return a.id;
  }
  auto it = impl_->bytes_to_id.find(token);
  if (it == impl_->bytes_to_id.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Tokenizer::SpecialTokenStrings() const {
  std::vector<std::string> out;
  for (const auto& a : impl_->data.added_tokens) out.push_back(a.content);
  return out;
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->is_added.size() && impl_->is_added[id];
}

int Tokenizer::num_merges() const { return static_cast<int>(impl_->data.merges.size()); }

const BpeModelData& Tokenizer::model_data() const { return impl_->data; }

}  // namespace plume::core
