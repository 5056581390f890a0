// plume-tokenizer: GPT-2 byte-level BPE from the command line.
//   plume-tokenizer encode  SOURCE [--allow_special]  < text   -> ids on one line
//   plume-tokenizer decode  SOURCE                    < ids    -> text
//   plume-tokenizer inspect SOURCE                             -> vocabulary size, specials
//   plume-tokenizer train --out DIR --vocab_size N [--special_tokens A,B] [FILE...] (or stdin)
// SOURCE is --checkpoint DIR, or --tokenizer tokenizer.json, or --vocab vocab.json --merges
// merges.txt. Errors print one line on stderr and exit non-zero.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "core/tokenizer.h"

ABSL_FLAG(std::string, checkpoint, "", "checkpoint directory holding the tokenizer files");
ABSL_FLAG(std::string, tokenizer, "", "Hugging Face tokenizer.json");
ABSL_FLAG(std::string, vocab, "", "GPT-2 vocab.json (with --merges)");
ABSL_FLAG(std::string, merges, "", "GPT-2 merges.txt (with --vocab)");
ABSL_FLAG(bool, allow_special, false,
          "encode: special-token text (e.g. <|endoftext|>) becomes its id; otherwise it is "
          "encoded as ordinary text");
ABSL_FLAG(std::string, out, "", "train: directory to write vocab.json, merges.txt, tokenizer.json");
ABSL_FLAG(int, vocab_size, 8192, "train: vocabulary size including bytes and special tokens");
ABSL_FLAG(std::string, special_tokens, "<|endoftext|>",
          "train: comma-separated special tokens (empty = none)");
ABSL_FLAG(int, min_frequency, 2, "train: pairs seen fewer times are never merged");
ABSL_FLAG(int, threads, 0, "train: threads; 0 = all cores");

namespace plume {
namespace {

constexpr char kUsage[] =
    "usage: plume-tokenizer encode|decode|inspect (--checkpoint DIR | --tokenizer FILE | "
    "--vocab FILE --merges FILE) [--allow_special] | train --out DIR --vocab_size N [FILE...]";

int Fail(absl::string_view message) {
  std::cerr << "plume-tokenizer: " << message << "\n";
  return 1;
}
int Fail(const absl::Status& status) { return Fail(status.message()); }

std::string ReadStdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

absl::StatusOr<core::Tokenizer> LoadTokenizer() {
  const std::string checkpoint = absl::GetFlag(FLAGS_checkpoint);
  const std::string json = absl::GetFlag(FLAGS_tokenizer);
  const std::string vocab = absl::GetFlag(FLAGS_vocab);
  const std::string merges = absl::GetFlag(FLAGS_merges);
  const int sources = !checkpoint.empty() + !json.empty() + (!vocab.empty() || !merges.empty());
  if (sources != 1) {
    return absl::InvalidArgumentError(
        "give exactly one of --checkpoint DIR, --tokenizer FILE, or --vocab FILE --merges FILE");
  }
  if (!checkpoint.empty()) return core::Tokenizer::FromDirectory(checkpoint);
  if (!json.empty()) return core::Tokenizer::FromTokenizerJson(json);
  if (vocab.empty() || merges.empty()) {
    return absl::InvalidArgumentError("--vocab and --merges go together");
  }
  return core::Tokenizer::FromVocabAndMerges(vocab, merges);
}

int Encode() {
  auto tokenizer = LoadTokenizer();
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  const auto special = absl::GetFlag(FLAGS_allow_special) ? core::SpecialTokens::kAllow
                                                          : core::SpecialTokens::kAsText;
  auto ids = tokenizer->Encode(ReadStdin(), special);
  if (!ids.ok()) return Fail(ids.status());
  std::string line = absl::StrJoin(*ids, " ");
  line += "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  return 0;
}

int Decode() {
  auto tokenizer = LoadTokenizer();
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  std::vector<int32_t> ids;
  const std::string input = ReadStdin();
  for (absl::string_view word : absl::StrSplit(input, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
    int32_t id;
    if (!absl::SimpleAtoi(word, &id)) {
      return Fail(absl::StrCat("\"", word.substr(0, 40), "\" on stdin is not a token id"));
    }
    ids.push_back(id);
  }
  auto text = tokenizer->Decode(ids);
  if (!text.ok()) return Fail(text.status());
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

int Inspect() {
  auto tokenizer = LoadTokenizer();
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  std::cout << "vocab_size  " << tokenizer->vocab_size() << "\n"
            << "merges      " << tokenizer->num_merges() << "\n"
            << "eos_id      "
            << (tokenizer->eos_id() ? absl::StrCat(*tokenizer->eos_id()) : std::string("none"))
            << "\n";
  for (const std::string& s : tokenizer->SpecialTokenStrings()) {
    std::cout << "special     " << *tokenizer->TokenId(s) << " " << s << "\n";
  }
  return 0;
}

// Splits a corpus into ~1 MB texts for parallel counting. Cuts only after a '\n' followed by a
// non-space ASCII byte: there the GPT-2 pattern ends a piece anyway, so counts do not change.
void AppendTexts(const std::string& corpus, std::vector<std::string>* texts) {
  constexpr size_t kTarget = 1 << 20;
  size_t begin = 0;
  while (begin < corpus.size()) {
    size_t cut = corpus.size();
    for (size_t p = begin + kTarget; p + 1 < corpus.size(); ++p) {
      const unsigned char next = static_cast<unsigned char>(corpus[p + 1]);
      if (corpus[p] == '\n' && next < 0x80 && next > ' ') {
        cut = p + 1;
        break;
      }
    }
    texts->push_back(corpus.substr(begin, cut - begin));
    begin = cut;
  }
}

int Train(const std::vector<std::string>& files) {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return Fail("train needs --out DIR");
  core::BpeTrainerOptions options;
  options.vocab_size = absl::GetFlag(FLAGS_vocab_size);
  options.min_frequency = absl::GetFlag(FLAGS_min_frequency);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.special_tokens.clear();
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_special_tokens), ',', absl::SkipEmpty())) {
    options.special_tokens.emplace_back(s);
  }
  if (absl::Status s = options.Validate(); !s.ok()) return Fail(s);
  std::vector<std::string> texts;
  if (files.empty()) {
    AppendTexts(ReadStdin(), &texts);
  } else {
    for (const std::string& f : files) {
      auto contents = core::ReadFile(f);
      if (!contents.ok()) return Fail(contents.status());
      AppendTexts(*contents, &texts);
    }
  }
  auto tokenizer = core::TrainBpe(texts, options);
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) return Fail(absl::StrCat("cannot create ", out, ": ", ec.message()));
  if (absl::Status s = tokenizer->SaveToDirectory(out); !s.ok()) return Fail(s);
  std::cout << "wrote " << out << " (vocab_size " << tokenizer->vocab_size() << ", "
            << tokenizer->num_merges() << " merges)\n";
  return 0;
}

}  // namespace
}  // namespace plume

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(plume::kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) return plume::Fail(plume::kUsage);
  const std::string command = positional[1];
  std::vector<std::string> rest(positional.begin() + 2, positional.end());
  if (command == "train") return plume::Train(rest);
  if (!rest.empty()) {
    return plume::Fail(absl::StrCat(command, " takes no positional arguments (got \"", rest[0],
                                    "\"); input comes from stdin"));
  }
  if (command == "encode") return plume::Encode();
  if (command == "decode") return plume::Decode();
  if (command == "inspect") return plume::Inspect();
  return plume::Fail(absl::StrCat("unknown command \"", command, "\"; ", plume::kUsage));
}
