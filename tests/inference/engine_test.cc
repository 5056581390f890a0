// The engine end to end on a tiny random GPT (fp32): batching equivalence, seeds, cancellation,
// queue limits, stops, UTF-8 deltas, truncation, and a 200-request soak with consistent usage.
#include "inference/engine.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "core/utf8.h"
#include "tests/test_util.h"

namespace plume::inference {
namespace {

constexpr int kVocab = 300;
constexpr int32_t kEos = kVocab - 1;

core::GptConfig TinyConfig() {
  core::GptConfig config;
  config.n_layer = 2;
  config.n_head = 4;
  config.n_embd = 32;
  config.n_positions = 128;
  config.vocab_size = kVocab;
  return config;
}

std::shared_ptr<core::GptImpl> TinyModel(uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto model = std::make_shared<core::GptImpl>(TinyConfig());
  // Sharper logits than GPT-2's init, so generations vary and greedy has clear winners.
  torch::NoGradGuard no_grad;
  model->wte->weight.mul_(20.0);
  return model;
}

// 256 single bytes (so most random sequences are not valid UTF-8), then fragments of CJK text
// and emoji split inside characters as byte-level BPE does, then <|endoftext|> (special, EOS).
Vocabulary TestVocab() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, static_cast<char>(b)));
  const std::string text =
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87\xE7\xAB\xA0"  // 日本語の文章
      "\xF0\x9F\x98\x80\xF0\x9F\x8E\x89\xF0\x9F\x91\x8D"                          // 😀🎉👍
      "\xE4\xB8\xAD\xE6\x96\x87 hello";                                           // 中文 hello
  for (size_t i = 0; tokens.size() < kVocab - 1; i = (i + 1) % text.size()) {
    tokens.push_back(text.substr(i, 1 + (i * 7) % 4));
  }
  tokens.push_back("<|endoftext|>");
  return *Vocabulary::Create(tokens, {kEos}, kEos);
}

// Records one request's stream; thread-safe; optionally acts inside OnDelta.
class RecordingSink : public TokenSink {
 public:
  void OnDelta(const Delta& delta) override {
    std::function<void(int)> hook;
    int count;
    {
      std::lock_guard<std::mutex> lock(mu_);
      deltas_.push_back(delta);
      count = static_cast<int>(deltas_.size());
      hook = on_delta;
    }
    cv_.notify_all();
    if (hook) hook(count);
  }
  void OnFinish(const Result& result) override {
    std::lock_guard<std::mutex> lock(mu_);
    result_ = result;
    ++finishes_;
    cv_.notify_all();
  }
  // Waits (at most a minute, so a bug cannot hang the suite) until finished.
  bool WaitFinished() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [this] { return finishes_ > 0; });
  }
  bool WaitDeltas(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60),
                        [&] { return static_cast<int>(deltas_.size()) >= n || finishes_ > 0; });
  }
  std::vector<int32_t> Tokens() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<int32_t> tokens;
    for (const Delta& d : deltas_)
      tokens.insert(tokens.end(), d.token_ids.begin(), d.token_ids.end());
    return tokens;
  }
  std::string Text() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string text;
    for (const Delta& d : deltas_) text += d.text;
    return text;
  }
  std::vector<Delta> deltas() const {
    std::lock_guard<std::mutex> lock(mu_);
    return deltas_;
  }
  Result result() const {
    std::lock_guard<std::mutex> lock(mu_);
    return result_;
  }
  int finishes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return finishes_;
  }

  std::function<void(int delta_count)> on_delta;  // set before Submit

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Delta> deltas_;
  Result result_;
  int finishes_ = 0;
};

std::unique_ptr<Engine> MakeEngine(EngineOptions options, uint64_t model_seed = 0) {
  auto engine = Engine::Create(TinyModel(model_seed), TestVocab(), options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return std::move(engine).value();
}

std::vector<int32_t> RandomPrompt(std::mt19937& rng, int length) {
  std::vector<int32_t> prompt(length);
  for (int32_t& t : prompt) t = static_cast<int32_t>(rng() % (kVocab - 1));
  return prompt;
}

Request MakeRequest(std::vector<int32_t> prompt, int max_tokens, float temperature = 0.0f) {
  Request request;
  request.prompt = std::move(prompt);
  request.params.max_tokens = max_tokens;
  request.params.temperature = temperature;
  return request;
}

// Runs each request alone (one after the other) and returns the completions.
std::vector<std::vector<int32_t>> RunAlone(const std::vector<Request>& requests) {
  EngineOptions options;
  options.max_sequences = 1;
  options.max_step_tokens = 128;
  auto engine = MakeEngine(options);
  std::vector<std::vector<int32_t>> out;
  for (const Request& request : requests) {
    auto sink = std::make_shared<RecordingSink>();
    EXPECT_TRUE(engine->Submit(request, sink).ok());
    EXPECT_TRUE(sink->WaitFinished());
    out.push_back(sink->Tokens());
  }
  return out;
}

// Runs the requests together, the second half joining once the first half is decoding, with a
// small step budget so the longer prompts are prefilled in chunks next to decoding streams.
std::vector<std::vector<int32_t>> RunBatched(const std::vector<Request>& requests) {
  EngineOptions options;
  options.max_sequences = 8;
  options.max_step_tokens = 12;
  auto engine = MakeEngine(options);
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (size_t i = 0; i < requests.size(); ++i) {
    sinks.push_back(std::make_shared<RecordingSink>());
    EXPECT_TRUE(engine->Submit(requests[i], sinks.back()).ok());
    if (i + 1 == requests.size() / 2) {
      EXPECT_TRUE(sinks[0]->WaitDeltas(2));
    }
  }
  std::vector<std::vector<int32_t>> out;
  for (auto& sink : sinks) {
    EXPECT_TRUE(sink->WaitFinished());
    out.push_back(sink->Tokens());
  }
  return out;
}

TEST(EngineTest, BatchedGreedyGenerationEqualsEachRequestAlone) {
  std::mt19937 rng(11);
  std::vector<Request> requests;
  for (int length : {1, 5, 17, 40, 3, 60, 9})
    requests.push_back(MakeRequest(RandomPrompt(rng, length), 24));
  const auto alone = RunAlone(requests);
  const auto batched = RunBatched(requests);
  ASSERT_EQ(alone.size(), batched.size());
  for (size_t i = 0; i < alone.size(); ++i) {
    EXPECT_EQ(alone[i].size(), 24u);
    EXPECT_EQ(alone[i], batched[i]) << "request " << i;
  }
  // Not a degenerate model: the completions differ between requests.
  EXPECT_NE(alone[1], alone[2]);
}

TEST(EngineTest, SameSeedSameTokensAlsoWhenSharingTheBatch) {
  std::mt19937 rng(12);
  std::vector<Request> requests;
  for (int i = 0; i < 6; ++i) {
    Request request = MakeRequest(RandomPrompt(rng, 3 + 7 * i), 20, /*temperature=*/1.0f);
    request.params.top_k = 50;
    request.params.seed = 1000 + i;
    requests.push_back(request);
  }
  const auto alone = RunAlone(requests);
  const auto batched = RunBatched(requests);
  for (size_t i = 0; i < alone.size(); ++i) EXPECT_EQ(alone[i], batched[i]) << "request " << i;
  // The seed matters: another seed gives another completion.
  requests[0].params.seed = 7;
  EXPECT_NE(RunAlone({requests[0]})[0], alone[0]);
}

TEST(EngineTest, CancellationFreesTheSlotAndOtherStreamsContinue) {
  EngineOptions options;
  options.max_sequences = 2;
  auto engine = MakeEngine(options);
  std::mt19937 rng(13);
  auto a = std::make_shared<RecordingSink>();
  auto b = std::make_shared<RecordingSink>();
  auto c = std::make_shared<RecordingSink>();
  Request long_request = MakeRequest(RandomPrompt(rng, 4), 60);
  long_request.params.ignore_eos = true;
  RequestId a_id = 0;
  // Cancel from inside the stream after the third token: it must leave at the next step.
  a->on_delta = [&](int count) {
    if (count == 3) {
      EXPECT_TRUE(engine->Cancel(a_id).ok());
    }
  };
  auto submitted = engine->Submit(long_request, a);
  ASSERT_TRUE(submitted.ok());
  a_id = *submitted;
  ASSERT_TRUE(engine->Submit(long_request, b).ok());
  Request short_request = MakeRequest(RandomPrompt(rng, 6), 5);
  short_request.params.ignore_eos = true;
  ASSERT_TRUE(engine->Submit(short_request, c).ok());  // waits for a slot: both are taken

  ASSERT_TRUE(a->WaitFinished());
  EXPECT_EQ(a->result().finish_reason, FinishReason::kCancelled);
  EXPECT_TRUE(a->result().status.ok());
  EXPECT_EQ(a->result().usage.completion_tokens, 3);
  EXPECT_EQ(a->Tokens().size(), 3u);
  EXPECT_EQ(engine->Cancel(a_id).code(), absl::StatusCode::kNotFound);

  // The freed slot lets the waiting request run while B keeps streaming.
  ASSERT_TRUE(c->WaitFinished());
  EXPECT_EQ(c->result().finish_reason, FinishReason::kLength);
  EXPECT_EQ(c->Tokens().size(), 5u);
  EXPECT_GT(c->result().timings.queue, absl::ZeroDuration());
  ASSERT_TRUE(b->WaitFinished());
  EXPECT_EQ(b->result().finish_reason, FinishReason::kLength);
  EXPECT_EQ(b->Tokens().size(), 60u);
  const EngineStats stats = engine->Stats();
  EXPECT_EQ(stats.running, 0);
  EXPECT_EQ(stats.waiting, 0);
  EXPECT_EQ(stats.finished, 3);
  EXPECT_EQ(stats.generated_tokens, 3 + 5 + 60);
}

TEST(EngineTest, FullQueueIsReportedNotQueued) {
  EngineOptions options;
  options.max_sequences = 1;
  options.max_waiting = 2;
  auto engine = MakeEngine(options);
  // The first request's first delta holds the scheduler thread (a sink must never do this; here
  // it freezes the engine so the queue state is known).
  std::mutex mu;
  std::condition_variable cv;
  bool in_sink = false, release = false;
  auto first = std::make_shared<RecordingSink>();
  first->on_delta = [&](int count) {
    if (count != 1) return;
    std::unique_lock<std::mutex> lock(mu);
    in_sink = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  std::mt19937 rng(14);
  ASSERT_TRUE(engine->Submit(MakeRequest(RandomPrompt(rng, 3), 4), first).ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return in_sink; });
  }
  std::vector<std::shared_ptr<RecordingSink>> queued;
  for (int i = 0; i < 2; ++i) {
    queued.push_back(std::make_shared<RecordingSink>());
    ASSERT_TRUE(engine->Submit(MakeRequest(RandomPrompt(rng, 3), 4), queued.back()).ok());
  }
  auto rejected =
      engine->Submit(MakeRequest(RandomPrompt(rng, 3), 4), std::make_shared<RecordingSink>());
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(rejected.status().message(), "max_waiting")) << rejected.status();
  EXPECT_EQ(engine->Stats().waiting, 2);
  EXPECT_EQ(engine->Stats().rejected, 1);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(first->WaitFinished());
  for (auto& sink : queued) {
    ASSERT_TRUE(sink->WaitFinished());
    EXPECT_EQ(sink->Tokens().size(), 4u);
  }
}

TEST(EngineTest, InvalidRequestsNameTheProblem) {
  EngineOptions options;
  options.max_context = 32;
  auto engine = MakeEngine(options);
  auto sink = std::make_shared<RecordingSink>();
  auto expect = [&](Request request, absl::string_view text) {
    auto result = engine->Submit(std::move(request), sink);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_TRUE(absl::StrContains(result.status().message(), text)) << result.status();
  };
  Request bad = MakeRequest({1, 2}, 4);
  bad.params.top_p = 0.0f;
  expect(bad, "top_p must be in (0, 1]");
  expect(MakeRequest({}, 4), "prompt must not be empty");
  expect(MakeRequest({1, kVocab}, 4), "prompt token 300 at position 1");
  bad = MakeRequest({1, 2}, 4);
  bad.params.stop_token_ids = {kVocab + 5};
  expect(bad, "stop_token_ids");
  expect(MakeRequest(std::vector<int32_t>(32, 1), 4), "truncate_prompt");
  EXPECT_EQ(engine->Submit(MakeRequest({1}, 1), nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sink->finishes(), 0);

  EngineOptions wrong;
  wrong.max_sequences = 8;
  wrong.max_step_tokens = 4;
  auto rejected = Engine::Create(TinyModel(), TestVocab(), wrong);
  EXPECT_TRUE(absl::StrContains(rejected.status().message(), "max_step_tokens"))
      << rejected.status();
  wrong = EngineOptions();
  wrong.max_context = 1000;
  EXPECT_TRUE(absl::StrContains(Engine::Create(TinyModel(), TestVocab(), wrong).status().message(),
                                "n_positions"));
}

TEST(EngineTest, LongPromptsAreTruncatedOnlyWhenAsked) {
  EngineOptions options;
  options.max_context = 32;
  auto engine = MakeEngine(options);
  std::mt19937 rng(15);
  Request request = MakeRequest(RandomPrompt(rng, 40), 8);
  request.params.ignore_eos = true;
  request.truncate_prompt = true;
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(engine->Submit(request, sink).ok());
  ASSERT_TRUE(sink->WaitFinished());
  EXPECT_EQ(sink->result().truncated_prompt_tokens, 16);  // keeps 32 - 8 = 24
  EXPECT_EQ(sink->result().usage.prompt_tokens, 24);
  EXPECT_EQ(sink->result().usage.completion_tokens, 8);

  // The same completion as submitting the kept tokens directly.
  Request kept =
      MakeRequest(std::vector<int32_t>(request.prompt.begin() + 16, request.prompt.end()), 8);
  kept.params.ignore_eos = true;
  auto direct = std::make_shared<RecordingSink>();
  ASSERT_TRUE(engine->Submit(kept, direct).ok());
  ASSERT_TRUE(direct->WaitFinished());
  EXPECT_EQ(direct->Tokens(), sink->Tokens());
  EXPECT_EQ(direct->result().truncated_prompt_tokens, 0);

  // A prompt that fits but leaves little room ends at the context with "length".
  Request tight = MakeRequest(RandomPrompt(rng, 30), 8);
  tight.params.ignore_eos = true;
  auto tight_sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(engine->Submit(tight, tight_sink).ok());
  ASSERT_TRUE(tight_sink->WaitFinished());
  EXPECT_EQ(tight_sink->result().finish_reason, FinishReason::kLength);
  EXPECT_EQ(tight_sink->result().usage.completion_tokens, 2);
}

// Forces a token with logit_bias (+100 beats any logit of the tiny model).
Request Forced(int32_t token, int max_tokens) {
  Request request = MakeRequest({1, 2, 3}, max_tokens);
  request.params.logit_bias = {{token, 100.0f}};
  return request;
}

Result RunOne(Engine& engine, const Request& request,
              std::shared_ptr<RecordingSink> sink = nullptr) {
  if (sink == nullptr) sink = std::make_shared<RecordingSink>();
  EXPECT_TRUE(engine.Submit(request, sink).ok());
  EXPECT_TRUE(sink->WaitFinished());
  return sink->result();
}

TEST(EngineTest, EosStopTokensMinTokensAndIgnoreEos) {
  auto engine = MakeEngine({});
  Result result = RunOne(*engine, Forced(kEos, 10));
  EXPECT_EQ(result.finish_reason, FinishReason::kEos);
  EXPECT_EQ(result.stop_token, kEos);
  EXPECT_EQ(result.usage.completion_tokens, 1);

  Request request = Forced(kEos, 10);
  request.params.min_tokens = 4;  // EOS impossible for the first 4 tokens
  auto sink = std::make_shared<RecordingSink>();
  result = RunOne(*engine, request, sink);
  EXPECT_EQ(result.finish_reason, FinishReason::kEos);
  EXPECT_EQ(result.usage.completion_tokens, 5);
  EXPECT_EQ(sink->Tokens().back(), kEos);
  EXPECT_FALSE(absl::StrContains(sink->Text(), "endoftext"));  // special: no text

  request.params.min_tokens = 0;
  request.params.ignore_eos = true;
  result = RunOne(*engine, request);
  EXPECT_EQ(result.finish_reason, FinishReason::kLength);
  EXPECT_EQ(result.usage.completion_tokens, 10);

  request = Forced('x', 10);
  request.params.stop_token_ids = {'x'};
  sink = std::make_shared<RecordingSink>();
  result = RunOne(*engine, request, sink);
  EXPECT_EQ(result.finish_reason, FinishReason::kStopToken);
  EXPECT_EQ(result.stop_token, 'x');
  EXPECT_EQ(result.usage.completion_tokens, 1);
  EXPECT_EQ(sink->Text(), "");  // the stop token's text is not emitted
}

TEST(EngineTest, StopStringAcrossTokenBoundariesIsNeverEmitted) {
  auto engine = MakeEngine({});
  // Token 'a' forced every step: "aaaa..."; the stop "aaa" spans three tokens.
  Request request = Forced('a', 10);
  request.params.stop = {"aaa"};
  auto sink = std::make_shared<RecordingSink>();
  Result result = RunOne(*engine, request, sink);
  EXPECT_EQ(result.finish_reason, FinishReason::kStopString);
  EXPECT_EQ(result.stop_string, "aaa");
  EXPECT_EQ(result.usage.completion_tokens, 3);
  EXPECT_EQ(sink->Text(), "");
  for (const Delta& d : sink->deltas()) EXPECT_EQ(d.text, "");  // not even partially

  // Random generations: the stop is a piece of an unconstrained run that spans a token
  // boundary; the stopped run (same seed) emits exactly the text before it.
  std::mt19937 rng(16);
  int checked = 0;
  for (int trial = 0; trial < 20; ++trial) {
    Request free_run = MakeRequest(RandomPrompt(rng, 5), 30, /*temperature=*/1.0f);
    free_run.params.seed = 500 + trial;
    free_run.params.ignore_eos = true;
    auto free_sink = std::make_shared<RecordingSink>();
    RunOne(*engine, free_run, free_sink);
    const std::vector<Delta> deltas = free_sink->deltas();
    const std::string text = free_sink->Text();
    // A delta k with text, followed by one with text: stop = last char of k + first of k+1.
    std::string stop;
    for (size_t k = 5; k + 1 < deltas.size() && stop.empty(); ++k) {
      const std::string& left = deltas[k].text;
      const std::string& right = deltas[k + 1].text;
      if (left.empty() || right.empty()) continue;
      size_t start = left.size() - 1;
      while (start > 0 && (static_cast<unsigned char>(left[start]) & 0xC0) == 0x80) --start;
      size_t end = 1;
      while (end < right.size() && (static_cast<unsigned char>(right[end]) & 0xC0) == 0x80) ++end;
      stop = left.substr(start) + right.substr(0, end);
    }
    if (stop.empty()) continue;
    Request stopped = free_run;
    stopped.params.stop = {stop};
    auto stopped_sink = std::make_shared<RecordingSink>();
    result = RunOne(*engine, stopped, stopped_sink);
    EXPECT_EQ(result.finish_reason, FinishReason::kStopString);
    EXPECT_EQ(stopped_sink->Text(), text.substr(0, text.find(stop))) << "stop=" << stop;
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

// Random sampling over a vocabulary of byte and character fragments: every delta is valid
// UTF-8, and the deltas add up to what Python's bytes.decode("utf-8", "replace") makes of all
// generated bytes (an independent decoder).
TEST(EngineTest, CjkAndEmojiDeltasAreAlwaysValidUtf8) {
  auto engine = MakeEngine({});
  const Vocabulary vocab = TestVocab();
  plume::testing::TempDir tmp("engine_utf8");
  std::mt19937 rng(17);
  for (int trial = 0; trial < 8; ++trial) {
    Request request = MakeRequest(RandomPrompt(rng, 4), 40, /*temperature=*/1.5f);
    request.params.seed = trial;
    request.params.ignore_eos = true;
    auto sink = std::make_shared<RecordingSink>();
    RunOne(*engine, request, sink);
    for (const Delta& d : sink->deltas()) ASSERT_TRUE(core::IsValidUtf8(d.text));
    std::string bytes;
    for (int32_t t : sink->Tokens()) {
      if (!vocab.IsSpecial(t)) bytes += std::string(vocab.TokenBytes(t));
    }
    const std::string in = tmp / ("bytes" + std::to_string(trial)), out = tmp / "text";
    std::ofstream(in, std::ios::binary) << bytes;
    const auto run = plume::testing::RunCommand(
        std::string(plume::testing::kDebianPython) +
        " -c \"import sys; open(sys.argv[2], 'wb').write(open(sys.argv[1], 'rb').read()"
        ".decode('utf-8', 'replace').encode('utf-8'))\" " +
        in + " " + out);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    std::ifstream file(out, std::ios::binary);
    const std::string expected((std::istreambuf_iterator<char>(file)),
                               std::istreambuf_iterator<char>());
    EXPECT_EQ(sink->Text(), expected) << "trial " << trial;
  }
}

TEST(EngineTest, LogprobsOfChosenAndAlternatives) {
  auto engine = MakeEngine({});
  Request request = MakeRequest({5, 6, 7}, 6);
  request.params.logprobs = true;
  request.params.top_logprobs = 3;
  request.params.ignore_eos = true;
  auto sink = std::make_shared<RecordingSink>();
  RunOne(*engine, request, sink);
  const auto deltas = sink->deltas();
  ASSERT_EQ(deltas.size(), 6u);
  for (const Delta& d : deltas) {
    ASSERT_EQ(d.logprobs.size(), 1u);
    const LogprobEntry& e = d.logprobs[0];
    EXPECT_EQ(e.chosen.token, d.token_ids[0]);
    ASSERT_EQ(e.top.size(), 3u);
    EXPECT_EQ(e.top[0].token, e.chosen.token);  // greedy: the chosen is the most likely
    EXPECT_FLOAT_EQ(e.top[0].logprob, e.chosen.logprob);
    EXPECT_GE(e.top[0].logprob, e.top[1].logprob);
    EXPECT_GE(e.top[1].logprob, e.top[2].logprob);
    EXPECT_LT(e.chosen.logprob, 0.0f);
  }
}

TEST(EngineTest, ShutdownFinishesEveryRequest) {
  EngineOptions options;
  options.max_sequences = 1;
  auto engine = MakeEngine(options);
  Request request = MakeRequest({1, 2}, 120);
  request.params.ignore_eos = true;
  auto running = std::make_shared<RecordingSink>();
  auto waiting = std::make_shared<RecordingSink>();
  ASSERT_TRUE(engine->Submit(request, running).ok());
  ASSERT_TRUE(engine->Submit(request, waiting).ok());
  ASSERT_TRUE(running->WaitDeltas(1));
  engine.reset();
  for (auto& sink : {running, waiting}) {
    EXPECT_EQ(sink->finishes(), 1);
    EXPECT_EQ(sink->result().finish_reason, FinishReason::kError);
    EXPECT_EQ(sink->result().status.code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(waiting->Tokens().size(), 0u);
}

// 200 requests with random prompt lengths, limits, sampling settings and cancellations (from
// inside streams, right after submission, or never): each finishes exactly once, and tokens,
// usage, reasons and the engine's counters agree.
TEST(EngineTest, TwoHundredRandomRequestsFinishWithConsistentUsage) {
  EngineOptions options;
  options.max_sequences = 8;
  options.max_step_tokens = 32;
  options.max_context = 96;
  options.max_waiting = 256;
  auto engine = MakeEngine(options);
  std::mt19937 rng(18);
  struct Case {
    Request request;
    std::shared_ptr<RecordingSink> sink;
    std::atomic<RequestId> id{0};
    int cancel_at = 0;  // cancel from the stream at this delta; 0 = no
    bool cancel_now = false;
  };
  std::vector<Case> cases(200);
  for (Case& c : cases) {
    const int length = 1 + static_cast<int>(rng() % 120);
    c.request = MakeRequest(RandomPrompt(rng, length), 1 + static_cast<int>(rng() % 40),
                            (rng() % 2) ? 0.8f : 0.0f);
    c.request.truncate_prompt = length >= options.max_context;
    if (rng() % 4 == 0) c.request.params.stop = {"\xEF\xBF\xBD\xEF\xBF\xBD"};  // two U+FFFD
    if (rng() % 5 == 0) c.request.params.min_tokens = static_cast<int>(rng() % 3);
    c.request.params.min_tokens =
        std::min(c.request.params.min_tokens, c.request.params.max_tokens);
    const int fate = static_cast<int>(rng() % 10);
    if (fate < 2) c.cancel_at = 1 + static_cast<int>(rng() % 10);
    if (fate == 2) c.cancel_now = true;
    c.sink = std::make_shared<RecordingSink>();
  }
  for (Case& c : cases) {
    if (c.cancel_at > 0) {
      c.sink->on_delta = [&engine, &c](int count) {
        if (count != c.cancel_at) return;
        while (c.id.load() == 0) std::this_thread::yield();  // Submit has not returned yet
        engine->Cancel(c.id.load()).IgnoreError();
      };
    }
  }
  for (Case& c : cases) {
    auto id = engine->Submit(c.request, c.sink);
    ASSERT_TRUE(id.ok()) << id.status();
    c.id = *id;
    if (c.cancel_now) engine->Cancel(*id).IgnoreError();
  }
  int64_t completion_sum = 0;
  std::map<FinishReason, int> reasons;
  for (Case& c : cases) {
    ASSERT_TRUE(c.sink->WaitFinished());
    const Result r = c.sink->result();
    const std::vector<int32_t> tokens = c.sink->Tokens();
    const int prompt_len = static_cast<int>(c.request.prompt.size());
    const int max_tokens = c.request.params.max_tokens;
    EXPECT_EQ(c.sink->finishes(), 1);
    EXPECT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.usage.completion_tokens, static_cast<int>(tokens.size()));
    EXPECT_EQ(r.usage.prompt_tokens + r.truncated_prompt_tokens, prompt_len);
    EXPECT_LT(r.usage.prompt_tokens, options.max_context);
    EXPECT_LE(r.usage.completion_tokens, max_tokens);
    EXPECT_LE(r.usage.prompt_tokens + r.usage.completion_tokens, options.max_context);
    EXPECT_TRUE(core::IsValidUtf8(c.sink->Text()));
    switch (r.finish_reason) {
      case FinishReason::kLength:
        EXPECT_TRUE(r.usage.completion_tokens == max_tokens ||
                    r.usage.prompt_tokens + r.usage.completion_tokens == options.max_context);
        break;
      case FinishReason::kEos:
        EXPECT_EQ(tokens.back(), kEos);
        EXPECT_GT(r.usage.completion_tokens, c.request.params.min_tokens);
        break;
      case FinishReason::kStopString:
        EXPECT_FALSE(c.request.params.stop.empty());
        // (Text of the first min_tokens tokens is not searched for stops, as in vLLM.)
        if (c.request.params.min_tokens == 0) {
          EXPECT_FALSE(absl::StrContains(c.sink->Text(), c.request.params.stop[0]));
        }
        break;
      case FinishReason::kCancelled:
        EXPECT_TRUE(c.cancel_now || c.cancel_at > 0);
        if (c.cancel_at > 0) {
          EXPECT_EQ(r.usage.completion_tokens, c.cancel_at);
        }
        break;
      default:
        ADD_FAILURE() << "unexpected finish reason " << FinishReasonName(r.finish_reason);
    }
    if (c.cancel_at > 0 && r.finish_reason != FinishReason::kCancelled) {
      EXPECT_LT(r.usage.completion_tokens, c.cancel_at + 1);  // finished before the cancel point
    }
    EXPECT_GE(r.timings.total, r.timings.queue);
    if (r.usage.completion_tokens > 0) {
      EXPECT_GE(r.timings.total, r.timings.time_to_first_token);
    }
    completion_sum += r.usage.completion_tokens;
    ++reasons[r.finish_reason];
  }
  // Every path was exercised.
  EXPECT_GT(reasons[FinishReason::kLength], 0);
  EXPECT_GT(reasons[FinishReason::kCancelled], 0);
  EXPECT_GT(reasons[FinishReason::kStopString], 0);
  for (const auto& [reason, count] : reasons) {
    std::cout << FinishReasonName(reason) << ": " << count << "\n";
  }
  const EngineStats stats = engine->Stats();
  EXPECT_EQ(stats.finished, 200);
  EXPECT_EQ(stats.generated_tokens, completion_sum);
  EXPECT_EQ(stats.running, 0);
  EXPECT_EQ(stats.waiting, 0);
  EXPECT_EQ(stats.rejected, 0);
  EXPECT_LE(stats.last_step_tokens, options.max_step_tokens);
}

}  // namespace
}  // namespace plume::inference
