#include "trainer/evaluator.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/checkpoint.h"
#include "core/gpt.h"
#include "core/lm_head_loss.h"
#include "core/sha256.h"
#include "core/status_macros.h"
#include "trainer/run_setup.h"

namespace plume::trainer {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kIgnore = -100;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Messages of loaders carry "\n---> HINT: ..." lines; a report line must stay one line.
std::string OneLine(absl::string_view message) {
  std::string line = absl::StrReplaceAll(message, {{"\n---> HINT: ", " (hint: "}});
  if (line.size() != message.size()) line += ")";
  return absl::StrReplaceAll(line, {{"\n", " "}});
}

struct WindowRef {
  const TokenizedDocument* doc;
  RollingWindow window;
};

absl::StatusOr<core::Tokenizer> LoadTokenizer(const std::string& path) {
  if (fs::is_directory(path)) return core::Tokenizer::FromDirectory(path);
  return core::Tokenizer::FromTokenizerJson(path);
}

// The run's fingerprint of a tokenizer directory (as plume-train computes it), or the digest of
// a single tokenizer.json.
absl::StatusOr<std::string> Fingerprint(const std::string& path) {
  if (fs::is_directory(path)) return TokenizerFingerprint(path);
  return core::Sha256OfFile(path);
}

}  // namespace

absl::Status EvalOptions::Validate() const {
  if (max_length < 0) return absl::InvalidArgumentError(absl::StrCat("max_length=", max_length, " must be >= 0"));
  if (stride < 0) return absl::InvalidArgumentError(absl::StrCat("stride=", stride, " must be >= 0"));
  if (max_length > 0 && stride > max_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("stride=", stride, " exceeds max_length=", max_length, " (every token must be predicted)"));
  }
  if (batch_size < 1) return absl::InvalidArgumentError(absl::StrCat("batch_size=", batch_size, " must be >= 1"));
  if (max_new_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_new_tokens=", max_new_tokens, " must be >= 1"));
  }
  return absl::OkStatus();
}

ScoreStats ScoreDocuments(core::GptImpl& model, const std::vector<TokenizedDocument>& docs, int max_length,
                          int stride, int batch_size) {
  TORCH_CHECK(max_length >= 1 && stride >= 1 && stride <= max_length && batch_size >= 1,
              "ScoreDocuments: invalid window settings");
  const auto start = Clock::now();
  c10::InferenceMode inference;
  ScoreStats stats;
  std::vector<WindowRef> windows;
  for (const TokenizedDocument& doc : docs) {
    const int64_t scored = static_cast<int64_t>(doc.ids.size()) - doc.context;
    for (const RollingWindow& w : RollingWindows(doc.context, scored, max_length, stride)) {
      TORCH_CHECK(w.scored >= 1 && w.scored <= w.length && w.begin + w.length < static_cast<int64_t>(doc.ids.size()),
                  "ScoreDocuments: window outside its document");
      windows.push_back({&doc, w});
      stats.tokens += w.scored;
      stats.positions += w.length;
    }
  }
  stats.windows = static_cast<int64_t>(windows.size());
  // Longest first, so each batch pads little: [R, T] with T its first window's length.
  std::stable_sort(windows.begin(), windows.end(),
                   [](const WindowRef& a, const WindowRef& b) { return a.window.length > b.window.length; });
  const int64_t budget = static_cast<int64_t>(batch_size) * max_length;  // tokens per forward pass
  const torch::Tensor& head = model.wte->weight;                         // [V, C]
  for (size_t first = 0; first < windows.size();) {
    const int64_t T = windows[first].window.length;
    const size_t rows = std::min<size_t>(windows.size() - first, std::max<int64_t>(1, budget / T));
    auto inputs = torch::zeros({static_cast<int64_t>(rows), T}, torch::kInt64);        // [R, T]
    auto targets = torch::full({static_cast<int64_t>(rows), T}, kIgnore, torch::kInt64);  // [R, T]
    auto in = inputs.accessor<int64_t, 2>();
    auto tg = targets.accessor<int64_t, 2>();
    for (size_t r = 0; r < rows; ++r) {
      const auto& [doc, w] = windows[first + r];
      const int32_t* s = doc->ids.data() + w.begin;
      for (int p = 0; p < w.length; ++p) in[r][p] = s[p];
      // Right padding: causal attention keeps it out of the real positions.
      for (int p = w.length - w.scored; p < w.length; ++p) tg[r][p] = s[p + 1];
    }
    auto hidden = model.Hidden(inputs);                                      // [R, T, C]
    auto flat_targets = targets.view({-1});                                  // [R*T]
    auto keep = flat_targets.ne(kIgnore).nonzero().squeeze(1);               // [N]
    auto rows_hidden = hidden.view({-1, hidden.size(-1)}).index_select(0, keep);  // [N, C]
    auto losses = core::LmHeadTokenLosses(rows_hidden, head, flat_targets.index_select(0, keep));  // [N]
    stats.nll += losses.to(torch::kFloat64).sum().item<double>();
    ++stats.forward_passes;
    first += rows;
  }
  stats.seconds = SecondsSince(start);
  return stats;
}

absl::StatusOr<std::string> GreedyContinuation(core::GptImpl& model, const core::Tokenizer& tokenizer,
                                               const std::string& prompt, int max_new_tokens) {
  const std::optional<int32_t> eot = tokenizer.eos_id();
  if (!eot) return absl::InvalidArgumentError("the tokenizer has no <|endoftext|> token");
  ASSIGN_OR_RETURN(std::vector<int32_t> prompt_ids, tokenizer.Encode(prompt, core::SpecialTokens::kAsText));
  const int n_positions = model.config().n_positions;
  const int new_tokens = std::min(max_new_tokens, n_positions - 1);
  std::vector<int32_t> ids = {*eot};
  // Keep the end of a long prompt: it is what the continuation follows.
  const size_t keep = std::min<size_t>(prompt_ids.size(), static_cast<size_t>(n_positions - new_tokens - 1));
  ids.insert(ids.end(), prompt_ids.end() - keep, prompt_ids.end());

  c10::InferenceMode inference;
  auto kv = model.NewKvCache(1, static_cast<int>(ids.size()) + new_tokens);
  std::vector<int64_t> step_ids(ids.begin(), ids.end());
  int past = 0;
  std::vector<int32_t> generated;
  for (int i = 0; i < new_tokens; ++i) {
    auto tokens = torch::tensor(step_ids, torch::kInt64);  // [N]
    core::StepSegment segment{0, past, static_cast<int>(step_ids.size()), false};
    auto logits = model.ForwardStep(tokens, {segment}, kv);  // [1, V]
    past += static_cast<int>(step_ids.size());
    const int32_t next = static_cast<int32_t>(logits[0].argmax().item<int64_t>());
    if (next == *eot) break;
    generated.push_back(next);
    step_ids = {next};
  }
  return tokenizer.Decode(generated);
}

Evaluator::Evaluator(const std::vector<EvalCorpus>& corpora, EvalOptions options)
    : corpora_(corpora), options_(std::move(options)) {}

CheckpointResult Evaluator::Evaluate(const CheckpointRef& checkpoint) {
  const auto start = Clock::now();
  CheckpointResult result;
  result.ref = checkpoint;
  absl::Status status;
  try {
    status = EvaluateInto(result);
  } catch (const std::exception& e) {
    // c10::Error's what() carries a backtrace after the first line.
    const std::string what = e.what();
    status = absl::InternalError(what.substr(0, what.find('\n')));
  }
  if (!status.ok()) {
    result.error = OneLine(status.message());
    result.corpora.clear();
    result.continuations.clear();
  }
  result.total_seconds = SecondsSince(start);
  return result;
}

absl::Status Evaluator::EvaluateInto(CheckpointResult& result) {
  const std::string& dir = result.ref.dir;
  const auto load_start = Clock::now();
  ASSIGN_OR_RETURN(core::GptConfig config, core::LoadCheckpointConfig(dir));
  result.config = config;
  ASSIGN_OR_RETURN(result.config_sha256, core::Sha256OfFile(dir + "/" + core::kConfigFile));

  result.tokenizer_source = options_.tokenizer.empty() ? dir : options_.tokenizer;
  absl::StatusOr<core::Tokenizer> tokenizer = LoadTokenizer(result.tokenizer_source);
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(),
                        absl::StrCat("cannot read the tokenizer of ", result.tokenizer_source, ": ",
                                     tokenizer.status().message(),
                                     options_.tokenizer.empty() ? " (pass --tokenizer to give one)" : ""));
  }
  ASSIGN_OR_RETURN(result.tokenizer_fingerprint, Fingerprint(result.tokenizer_source));
  result.tokenizer_vocab_size = tokenizer->vocab_size();
  if (tokenizer->vocab_size() > config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer mismatch: the tokenizer of ", result.tokenizer_source, " has ", tokenizer->vocab_size(),
        " tokens but the model's vocab_size is ", config.vocab_size,
        "; token ids would index past the embedding (use the tokenizer the model was trained with)"));
  }
  if (!tokenizer->eos_id()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the tokenizer of ", result.tokenizer_source, " has no ", core::kEndOfText,
        " token, which starts every document's first window (the harness's prefix token)"));
  }
  result.max_length = options_.max_length > 0 ? options_.max_length : config.n_positions;
  if (result.max_length > config.n_positions) {
    return absl::InvalidArgumentError(absl::StrCat("max_length=", result.max_length,
                                                   " exceeds the model's n_positions=", config.n_positions));
  }
  result.stride = options_.stride > 0 ? options_.stride : result.max_length;
  if (result.stride > result.max_length) {
    return absl::InvalidArgumentError(absl::StrCat("stride=", result.stride, " exceeds the window of ",
                                                   result.max_length, " tokens (the model's n_positions)"));
  }

  ASSIGN_OR_RETURN(result.weights_sha256, core::Sha256OfFile(dir + "/" + core::kWeightsFile));
  ASSIGN_OR_RETURN(std::shared_ptr<core::GptImpl> model, core::LoadModel(dir));
  model->eval();
  result.load_seconds = SecondsSince(load_start);
  // One full window first: thread-pool start-up and first allocations stay out of tokens/s.
  ScoreDocuments(*model, {TokenizedDocument{std::vector<int32_t>(result.max_length + 1, *tokenizer->eos_id()), 1}},
                 result.max_length, result.stride, 1);

  ASSIGN_OR_RETURN(const auto* tokenized, Tokenized(*tokenizer, result.tokenizer_fingerprint));
  for (size_t c = 0; c < corpora_.size(); ++c) {
    const EvalCorpus& corpus = corpora_[c];
    CorpusResult out;
    out.corpus = corpus.name;
    out.stats = ScoreDocuments(*model, (*tokenized)[c], result.max_length, result.stride, options_.batch_size);
    out.sums = {out.stats.nll, out.stats.tokens, corpus.words, corpus.bytes,
                static_cast<int64_t>(corpus.documents.size())};
    out.metrics = EvalMetrics::From(out.sums);
    out.tokens_per_second = static_cast<double>(out.stats.tokens) / std::max(out.stats.seconds, 1e-9);
    if (!std::isfinite(out.metrics.token_cross_entropy)) {
      return absl::InternalError(absl::StrCat("the loss on ", corpus.name, " is not finite"));
    }
    result.corpora.push_back(std::move(out));
  }
  for (const std::string& prompt : options_.prompts) {
    ASSIGN_OR_RETURN(std::string text, GreedyContinuation(*model, *tokenizer, prompt, options_.max_new_tokens));
    result.continuations.push_back({prompt, std::move(text)});
  }
  return absl::OkStatus();
}

absl::StatusOr<const std::vector<std::vector<TokenizedDocument>>*> Evaluator::Tokenized(
    const core::Tokenizer& tokenizer, const std::string& fingerprint) {
  if (auto it = tokenized_.find(fingerprint); it != tokenized_.end()) return &it->second;
  const int32_t eot = *tokenizer.eos_id();
  std::vector<std::vector<TokenizedDocument>> all;
  for (const EvalCorpus& corpus : corpora_) {
    std::vector<std::string> texts, prompts;
    bool any_prompt = false;
    for (const Document& doc : corpus.documents) {
      texts.push_back(doc.text);
      prompts.push_back(doc.prompt);
      any_prompt |= !doc.prompt.empty();
    }
    // As in training: special-token text in a corpus is ordinary text.
    ASSIGN_OR_RETURN(auto text_ids, tokenizer.EncodeBatch(texts, core::SpecialTokens::kAsText, options_.threads));
    std::vector<std::vector<int32_t>> prompt_ids(texts.size());
    if (any_prompt) {
      ASSIGN_OR_RETURN(prompt_ids, tokenizer.EncodeBatch(prompts, core::SpecialTokens::kAsText, options_.threads));
    }
    std::vector<TokenizedDocument> docs(texts.size());
    for (size_t d = 0; d < texts.size(); ++d) {
      docs[d].ids.push_back(eot);
      docs[d].ids.insert(docs[d].ids.end(), prompt_ids[d].begin(), prompt_ids[d].end());
      docs[d].context = static_cast<int64_t>(docs[d].ids.size());
      docs[d].ids.insert(docs[d].ids.end(), text_ids[d].begin(), text_ids[d].end());
    }
    all.push_back(std::move(docs));
  }
  return &tokenized_.emplace(fingerprint, std::move(all)).first->second;
}

}  // namespace plume::trainer
