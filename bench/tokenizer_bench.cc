// Tokenizer throughput: GPT-2 encoding of given files with Plume on 1 thread and as a batch on
// all threads, and the time of one pathological input (a long word without spaces).
//   tokenizer_bench VOCAB_JSON MERGES_TXT NAME=FILE... [--word FILE]
// Prints "key value" lines that bench/run_tokenizer_bench.sh compares with tiktoken (WASM).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "core/tokenizer.h"

namespace {

using plume::core::SpecialTokens;
using plume::core::Tokenizer;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Best of `reps` runs of `fn`, in seconds (the machine is shared and noisy).
template <typename Fn>
double BestOf(int reps, Fn fn) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, Seconds(t0, Clock::now()));
  }
  return best;
}

// Documents of ~16 KB cut at line ends, as a corpus reader would hand them to EncodeBatch.
std::vector<std::string> Documents(const std::string& text) {
  std::vector<std::string> docs;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', std::min(text.size(), begin + (16 << 10)));
    end = end == std::string::npos ? text.size() : end + 1;
    docs.push_back(text.substr(begin, end - begin));
    begin = end;
  }
  return docs;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "tokenizer_bench: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return Fail("usage: tokenizer_bench VOCAB_JSON MERGES_TXT NAME=FILE... [--word FILE]");
  const auto t0 = Clock::now();
  auto tokenizer = Tokenizer::FromVocabAndMerges(argv[1], argv[2]);
  if (!tokenizer.ok()) return Fail(std::string(tokenizer.status().message()));
  std::printf("plume_load_seconds %.3f\n", Seconds(t0, Clock::now()));
  for (int i = 3; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--word" && i + 1 < argc) {
      auto word = plume::core::ReadFile(argv[++i]);
      if (!word.ok()) return Fail(std::string(word.status().message()));
      size_t n = 0;
      const double s = BestOf(1, [&] { n = tokenizer->Encode(*word, SpecialTokens::kAsText)->size(); });
      std::printf("plume_word_bytes %zu\nplume_word_tokens %zu\nplume_word_seconds %.4f\n",
                  word->size(), n, s);
      continue;
    }
    std::vector<std::string> kv = absl::StrSplit(arg, absl::MaxSplits('=', 1));
    if (kv.size() != 2) return Fail("expected NAME=FILE, got " + arg);
    auto text = plume::core::ReadFile(kv[1]);
    if (!text.ok()) return Fail(std::string(text.status().message()));
    const double mb = static_cast<double>(text->size()) / 1e6;
    size_t tokens = 0;
    const double single = BestOf(5, [&] {
      auto ids = tokenizer->Encode(*text, SpecialTokens::kAsText);
      tokens = ids->size();
    });
    const std::vector<std::string> docs = Documents(*text);
    size_t batch_tokens = 0;
    const double batch = BestOf(5, [&] {
      auto out = tokenizer->EncodeBatch(docs, SpecialTokens::kAsText, 0);
      batch_tokens = 0;
      for (const auto& ids : *out) batch_tokens += ids.size();
    });
    std::printf("%s_bytes %zu\n%s_tokens %zu\n", kv[0].c_str(), text->size(), kv[0].c_str(), tokens);
    std::printf("%s_plume_1thread_mbps %.2f\n", kv[0].c_str(), mb / single);
    std::printf("%s_plume_batch_mbps %.2f\n%s_plume_batch_docs %zu\n%s_plume_batch_tokens %zu\n",
                kv[0].c_str(), mb / batch, kv[0].c_str(), docs.size(), kv[0].c_str(),
                batch_tokens);
  }
  return 0;
}
