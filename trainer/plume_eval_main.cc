// plume-eval: scores checkpoints on held-out corpora with lm-evaluation-harness's definitions
// (token cross-entropy/perplexity, word and byte perplexity, bits per byte) and writes a report.
//   plume-eval --run RUN_DIR --corpus held_out.txt [--corpus more.jsonl] [--output_dir DIR]
//   plume-eval --checkpoint A,B [--checkpoint C] --corpus FILE [--stride N] [--batch_size N]
// Prints a table on stdout and writes DIR/eval.json and DIR/report.html. Exit status: 0 when
// every checkpoint was evaluated, 2 when some failed (the report says which and why), 1 on bad
// input or when none could be evaluated.
#include <ctime>
#include <iostream>
#include <set>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "core/allocator.h"
#include "core/threads.h"
#include "trainer/eval_inputs.h"
#include "trainer/eval_report.h"
#include "trainer/evaluator.h"

ABSL_FLAG(std::vector<std::string>, checkpoint, {},
          "checkpoint directories (comma-separated; repeatable; positional arguments are checkpoints too)");
ABSL_FLAG(std::vector<std::string>, run, {}, "run directories: all their checkpoints, in step order (repeatable)");
ABSL_FLAG(std::vector<std::string>, corpus, {},
          "held-out corpora: files, directories or globs (comma-separated; repeatable)");
ABSL_FLAG(std::string, format, "auto", "corpus format: auto (.jsonl = jsonl, else text), text, jsonl, prompt_completion");
ABSL_FLAG(std::string, document_separator, "",
          "plain text: documents end at this string, C escapes allowed (e.g. '\\n\\n'); empty = one per file");
ABSL_FLAG(std::string, text_field, "text", "jsonl: the field holding the document");
ABSL_FLAG(std::string, prompt_field, "prompt", "prompt_completion: the context field (not scored)");
ABSL_FLAG(std::string, completion_field, "completion", "prompt_completion: the scored field");
ABSL_FLAG(bool, replace_invalid_utf8, false, "replace invalid UTF-8 with U+FFFD instead of failing");
ABSL_FLAG(int, max_length, 0, "tokens per window; 0 = the model's n_positions");
ABSL_FLAG(int, stride, 0,
          "tokens predicted per window after the first; 0 = the window (disjoint windows); smaller = "
          "overlapping windows with more context");
ABSL_FLAG(int, batch_size, 8, "full-length windows per forward pass (shorter ones are packed to the same tokens)");
ABSL_FLAG(std::string, tokenizer, "", "tokenizer directory or tokenizer.json for all checkpoints; default: each one's own");
ABSL_FLAG(std::string, prompt, "", "greedy continuation of this prompt per checkpoint (repeatable)");
ABSL_FLAG(int, max_new_tokens, 32, "tokens generated per prompt");
ABSL_FLAG(std::string, output_dir, "", "where eval.json and report.html go; default: <first run>/eval, else ./eval-report");
ABSL_FLAG(int, threads, 0, "LibTorch threads; 0 = all cores");

namespace {

using plume::trainer::CheckpointRef;
using plume::trainer::CheckpointResult;
using plume::trainer::EvalCorpus;

int Fail(const absl::Status& status) {
  std::cerr << "plume-eval: " << status.message() << "\n";
  return 1;
}

void Log(const std::string& line) { std::cerr << line << std::endl; }

// Abseil keeps only the last value of a repeated flag; these flags accumulate every occurrence
// (--name=value, --name value, -name...). Abseil still parses and validates the command line.
std::vector<std::string> Occurrences(int argc, char** argv, absl::string_view name) {
  std::vector<std::string> values;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--")) absl::ConsumePrefix(&arg, "-");
    if (!absl::ConsumePrefix(&arg, name)) continue;
    if (absl::ConsumePrefix(&arg, "=")) {
      values.emplace_back(arg);
    } else if (arg.empty() && i + 1 < argc) {
      values.emplace_back(argv[++i]);
    }
  }
  return values;
}

std::vector<std::string> CommaList(int argc, char** argv, absl::string_view name) {
  std::vector<std::string> out;
  for (const std::string& value : Occurrences(argc, argv, name)) {
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) out.emplace_back(part);
  }
  return out;
}

std::string CommandLine(int argc, char** argv) {
  std::vector<std::string> parts;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    // Shell quoting, so the line can be pasted back.
    if (arg.empty() || arg.find_first_of(" \t\n'\"\\$*?;&|<>()") != std::string::npos) {
      arg = absl::StrCat("'", absl::StrReplaceAll(arg, {{"'", "'\\''"}}), "'");
    }
    parts.push_back(arg);
  }
  return absl::StrJoin(parts, " ");
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "scores checkpoints on held-out corpora (lm-evaluation-harness definitions) and writes a report\n"
      "  plume-eval --run RUN_DIR --corpus FILE [--corpus FILE2] [--output_dir DIR]\n"
      "  plume-eval --checkpoint CKPT_A,CKPT_B --corpus FILE [--stride N] [--prompt TEXT]");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> checkpoints = CommaList(argc, argv, "checkpoint");
  for (size_t i = 1; i < positional.size(); ++i) checkpoints.emplace_back(positional[i]);
  const std::vector<std::string> runs = CommaList(argc, argv, "run");
  const std::vector<std::string> corpora_paths = CommaList(argc, argv, "corpus");
  if (checkpoints.empty() && runs.empty()) {
    return Fail(absl::InvalidArgumentError("give checkpoints (--checkpoint DIR) or a run (--run DIR)"));
  }
  if (corpora_paths.empty()) return Fail(absl::InvalidArgumentError("give at least one --corpus"));

  plume::trainer::DataConfig data;
  absl::StatusOr<plume::trainer::CorpusFormat> format = plume::trainer::ParseCorpusFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) return Fail(absl::InvalidArgumentError(absl::StrCat("--", format.status().message())));
  data.format = *format;
  std::string error;
  if (!absl::CUnescape(absl::GetFlag(FLAGS_document_separator), &data.document_separator, &error)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--document_separator: ", error)));
  }
  data.text_field = absl::GetFlag(FLAGS_text_field);
  data.prompt_field = absl::GetFlag(FLAGS_prompt_field);
  data.completion_field = absl::GetFlag(FLAGS_completion_field);
  data.replace_invalid_utf8 = absl::GetFlag(FLAGS_replace_invalid_utf8);

  plume::trainer::EvalOptions options;
  options.max_length = absl::GetFlag(FLAGS_max_length);
  options.stride = absl::GetFlag(FLAGS_stride);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.tokenizer = absl::GetFlag(FLAGS_tokenizer);
  options.prompts = Occurrences(argc, argv, "prompt");
  options.max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  options.threads = absl::GetFlag(FLAGS_threads);
  if (absl::Status valid = options.Validate(); !valid.ok()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--", valid.message())));
  }

  plume::core::ConfigureAllocatorForLargeTensors();
  const int threads = plume::core::ConfigureTorchThreads(options.threads);

  // Cheap checks first, so bad input fails before any corpus is read.
  std::vector<CheckpointRef> refs;
  for (const std::string& run : runs) {
    absl::StatusOr<std::vector<CheckpointRef>> listed = plume::trainer::ListRunCheckpoints(run);
    if (!listed.ok()) return Fail(listed.status());
    refs.insert(refs.end(), listed->begin(), listed->end());
  }
  for (const std::string& dir : checkpoints) refs.push_back(plume::trainer::DescribeCheckpoint(dir));

  std::vector<EvalCorpus> corpora;
  for (const std::string& path : corpora_paths) {
    absl::StatusOr<EvalCorpus> corpus = plume::trainer::LoadEvalCorpus(path, data);
    if (!corpus.ok()) return Fail(corpus.status());
    Log(absl::StrFormat("event=corpus name=%s files=%d documents=%d words=%d bytes=%d", corpus->name,
                        corpus->files.size(), corpus->documents.size(), corpus->words, corpus->bytes));
    corpora.push_back(std::move(*corpus));
  }

  plume::trainer::EvalReport report;
  report.plume_version = PLUME_VERSION;
  report.date = UtcNow();
  report.command_line = CommandLine(argc, argv);
  report.threads = threads;
  report.options = options;
  report.data = data;
  for (const EvalCorpus& c : corpora) report.corpora.push_back(&c);

  plume::trainer::Evaluator evaluator(corpora, options);
  int failed = 0;
  for (const CheckpointRef& ref : refs) {
    Log(absl::StrCat("event=evaluate checkpoint=", ref.label, " dir=", ref.dir));
    CheckpointResult result = evaluator.Evaluate(ref);
    if (result.ok()) {
      for (const auto& c : result.corpora) {
        Log(absl::StrFormat(
            "event=scored checkpoint=%s corpus=%s tokens=%d windows=%d forward_passes=%d seconds=%.2f "
            "tokens_per_sec=%.0f token_ce=%.4f bits_per_byte=%.4f",
            ref.label, c.corpus, c.stats.tokens, c.stats.windows, c.stats.forward_passes, c.stats.seconds,
            c.tokens_per_second, c.metrics.token_cross_entropy, c.metrics.bits_per_byte));
      }
    } else {
      ++failed;
      std::cerr << "plume-eval: " << ref.label << " FAILED: " << result.error << "\n";
    }
    report.checkpoints.push_back(std::move(result));
  }

  std::set<std::string> seen_runs;
  for (const CheckpointResult& r : report.checkpoints) {
    if (r.ref.run_dir.empty() || !seen_runs.insert(r.ref.run_dir).second) continue;
    absl::StatusOr<plume::trainer::RunCurves> curves = plume::trainer::ReadRunCurves(r.ref.run_dir);
    if (curves.ok()) report.runs.push_back(std::move(*curves));
  }

  std::string output_dir = absl::GetFlag(FLAGS_output_dir);
  if (output_dir.empty()) output_dir = runs.empty() ? "eval-report" : runs.front() + "/eval";
  std::cout << plume::trainer::FormatTable(report) << std::flush;
  if (absl::Status written = plume::trainer::WriteReport(report, output_dir); !written.ok()) return Fail(written);
  std::cout << "report: " << output_dir << "/" << plume::trainer::kReportHtmlFile << "\n"
            << "metrics: " << output_dir << "/" << plume::trainer::kReportJsonFile << "\n";
  if (failed == 0) return 0;
  return failed == static_cast<int>(report.checkpoints.size()) ? 1 : 2;
}
