#include "trainer/eval_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "trainer/run_setup.h"
#include "trainer/svg_chart.h"

namespace plume::trainer {
namespace fs = std::filesystem;
namespace {

using json = nlohmann::ordered_json;

std::string StepText(const CheckpointRef& ref) { return ref.step ? absl::StrCat(*ref.step) : "-"; }

// JSON has no NaN/inf: null instead.
json Number(double v) { return std::isfinite(v) ? json(v) : json(); }

std::string FormatMetric(const char* key, double v) {
  if (!std::isfinite(v)) return "nan";
  if (absl::EndsWith(key, "perplexity")) return absl::StrFormat("%.3f", v);
  return absl::StrFormat("%.4f", v);
}

// Lines of columns padded to their widest cell; `right` marks right-aligned (numeric) columns.
// A row with fewer cells (a failed checkpoint) ends with one free-width message cell.
std::string Columns(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
  std::vector<size_t> width(right.size(), 0);
  for (const auto& row : rows) {
    const size_t sized = row.size() == right.size() ? row.size() : row.size() - 1;
    for (size_t i = 0; i < sized; ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "  ";
      if (i + 1 == row.size() && row.size() < right.size()) {
        line += row[i];
        break;
      }
      const std::string pad(width[i] > row[i].size() ? width[i] - row[i].size() : 0, ' ');
      line += right[i] ? pad + row[i] : row[i] + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

const char kStyle[] = R"(
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; vertical-align: top; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
td.best { font-weight: bold; background: #eaf6ea; }
tr.failed td { color: #a00; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.mono { font-family: ui-monospace, monospace; font-size: 0.85em; }
td.text { text-align: left; white-space: pre-wrap; max-width: 28em; }
)";

}  // namespace

absl::StatusOr<RunCurves> ReadRunCurves(const std::string& run_dir) {
  RunCurves curves;
  curves.run_dir = run_dir;
  ASSIGN_OR_RETURN(std::string text, core::ReadFile(run_dir + "/" + kMetricsFile));
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const auto record = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
    if (record.is_discarded() || !record.is_object() || !record.contains("step")) continue;
    if (!record["step"].is_number()) continue;
    const int64_t step = record["step"].get<int64_t>();
    if (record.contains("loss") && record["loss"].is_number()) {
      curves.train_loss.emplace_back(step, record["loss"].get<double>());
    }
    if (record.contains("val_loss") && record["val_loss"].is_number()) {
      curves.val_loss.emplace_back(step, record["val_loss"].get<double>());
    }
  }
  return curves;
}

const std::vector<MetricColumn>& MetricColumns() {
  static const std::vector<MetricColumn> columns = {
      {"token_cross_entropy", "token_ce", &EvalMetrics::token_cross_entropy},
      {"token_perplexity", "token_ppl", &EvalMetrics::token_perplexity},
      {"word_perplexity", "word_ppl", &EvalMetrics::word_perplexity},
      {"byte_perplexity", "byte_ppl", &EvalMetrics::byte_perplexity},
      {"bits_per_byte", "bits/byte", &EvalMetrics::bits_per_byte},
  };
  return columns;
}

std::map<std::string, std::map<std::string, size_t>> BestCheckpoints(const EvalReport& report) {
  std::map<std::string, std::map<std::string, size_t>> best;
  const auto evaluated = std::count_if(report.checkpoints.begin(), report.checkpoints.end(),
                                       [](const CheckpointResult& r) { return r.ok(); });
  if (evaluated < 2) return best;
  std::map<std::string, std::map<std::string, double>> value;
  for (size_t i = 0; i < report.checkpoints.size(); ++i) {
    for (const CorpusResult& c : report.checkpoints[i].corpora) {
      for (const MetricColumn& m : MetricColumns()) {
        const double v = c.metrics.*m.field;
        if (!std::isfinite(v)) continue;
        auto& slot = value[c.corpus];
        if (!slot.contains(m.key) || v < slot[m.key]) {
          slot[m.key] = v;
          best[c.corpus][m.key] = i;
        }
      }
    }
  }
  return best;
}

std::string FormatTable(const EvalReport& report) {
  const auto best = BestCheckpoints(report);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"checkpoint", "step", "corpus", "docs", "tokens"};
  for (const MetricColumn& m : MetricColumns()) head.push_back(m.title);
  head.push_back("tok/s");
  std::vector<bool> right = {false, true, false, true, true};
  right.resize(head.size(), true);
  rows.push_back(head);
  for (size_t i = 0; i < report.checkpoints.size(); ++i) {
    const CheckpointResult& r = report.checkpoints[i];
    if (!r.ok()) {
      rows.push_back({r.ref.label, StepText(r.ref), absl::StrCat("FAILED: ", r.error)});
      continue;
    }
    for (const CorpusResult& c : r.corpora) {
      std::vector<std::string> row = {r.ref.label, StepText(r.ref), c.corpus, absl::StrCat(c.sums.documents),
                                      absl::StrCat(c.sums.tokens)};
      for (const MetricColumn& m : MetricColumns()) {
        std::string cell = FormatMetric(m.key, c.metrics.*m.field);
        auto it = best.find(c.corpus);
        const bool is_best = it != best.end() && it->second.contains(m.key) && it->second.at(m.key) == i;
        row.push_back(cell + (is_best ? "*" : " "));
      }
      row.push_back(absl::StrFormat("%.0f", c.tokens_per_second));
      rows.push_back(row);
    }
  }
  std::string out = Columns(rows, right);
  if (!best.empty()) out += "* best (lowest) on that corpus\n";
  return out;
}

json ReportJson(const EvalReport& report) {
  json j;
  j["plume_version"] = report.plume_version;
  j["date"] = report.date;
  j["command"] = report.command_line;
  j["config"] = {{"max_length", report.options.max_length},
                 {"stride", report.options.stride},
                 {"batch_size", report.options.batch_size},
                 {"threads", report.threads},
                 {"tokenizer", report.options.tokenizer},
                 {"format", CorpusFormatName(report.data.format)},
                 {"document_separator", report.data.document_separator},
                 {"text_field", report.data.text_field},
                 {"prompt_field", report.data.prompt_field},
                 {"completion_field", report.data.completion_field},
                 {"replace_invalid_utf8", report.data.replace_invalid_utf8},
                 {"prompts", report.options.prompts},
                 {"max_new_tokens", report.options.max_new_tokens},
                 {"definitions", "docs/evaluation.md (lm-evaluation-harness rolling loglikelihood)"}};
  json corpora = json::array();
  for (const EvalCorpus* c : report.corpora) {
    json files = json::array();
    for (const CorpusFile& f : c->files) files.push_back({{"path", f.path}, {"sha256", f.sha256}});
    corpora.push_back({{"name", c->name},
                       {"files", files},
                       {"documents", c->documents.size()},
                       {"words", c->words},
                       {"bytes", c->bytes}});
  }
  j["corpora"] = corpora;
  json checkpoints = json::array();
  for (const CheckpointResult& r : report.checkpoints) {
    json c;
    c["label"] = r.ref.label;
    c["dir"] = r.ref.dir;
    c["step"] = r.ref.step ? json(*r.ref.step) : json();
    c["run_dir"] = r.ref.run_dir;
    c["trainer_val_loss"] = r.ref.val_loss ? Number(*r.ref.val_loss) : json();
    c["status"] = r.ok() ? "ok" : "failed";
    if (!r.ok()) c["error"] = r.error;
    c["config_sha256"] = r.config_sha256;
    c["weights_sha256"] = r.weights_sha256;
    if (r.config) {
      c["model"] = {{"n_layer", r.config->n_layer},       {"n_head", r.config->n_head},
                    {"n_embd", r.config->n_embd},         {"n_positions", r.config->n_positions},
                    {"vocab_size", r.config->vocab_size}, {"parameters", r.config->NumParameters()}};
    }
    c["tokenizer"] = {{"source", r.tokenizer_source},
                      {"fingerprint", r.tokenizer_fingerprint},
                      {"vocab_size", r.tokenizer_vocab_size}};
    c["max_length"] = r.max_length;
    c["stride"] = r.stride;
    json results = json::array();
    for (const CorpusResult& cr : r.corpora) {
      json m;
      m["corpus"] = cr.corpus;
      m["documents"] = cr.sums.documents;
      m["tokens"] = cr.sums.tokens;
      m["words"] = cr.sums.words;
      m["bytes"] = cr.sums.bytes;
      m["nll_sum"] = Number(cr.sums.nll);
      for (const MetricColumn& col : MetricColumns()) m[col.key] = Number(cr.metrics.*col.field);
      m["windows"] = cr.stats.windows;
      m["forward_passes"] = cr.stats.forward_passes;
      m["positions"] = cr.stats.positions;
      m["seconds"] = cr.stats.seconds;
      m["tokens_per_second"] = Number(cr.tokens_per_second);
      results.push_back(m);
    }
    c["results"] = results;
    json continuations = json::array();
    for (const Continuation& k : r.continuations) continuations.push_back({{"prompt", k.prompt}, {"text", k.text}});
    c["continuations"] = continuations;
    c["load_seconds"] = r.load_seconds;
    c["total_seconds"] = r.total_seconds;
    checkpoints.push_back(c);
  }
  j["checkpoints"] = checkpoints;
  json best = json::object();
  for (const auto& [corpus, metrics] : BestCheckpoints(report)) {
    for (const auto& [metric, index] : metrics) best[corpus][metric] = report.checkpoints[index].ref.label;
  }
  j["best"] = best;
  json runs = json::array();
  for (const RunCurves& run : report.runs) {
    runs.push_back({{"run_dir", run.run_dir},
                    {"train_loss_points", run.train_loss.size()},
                    {"val_loss_points", run.val_loss.size()}});
  }
  j["runs"] = runs;
  return j;
}

std::string ReportHtml(const EvalReport& report) {
  const auto best = BestCheckpoints(report);
  std::string h = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>Plume evaluation report</title>\n<style>",
      kStyle, "</style>\n</head>\n<body>\n<h1>Plume evaluation report</h1>\n");
  absl::StrAppend(&h, "<p>", HtmlEscape(report.date), " &middot; Plume ", HtmlEscape(report.plume_version),
                  " &middot; ", report.threads, " threads &middot; windows of ",
                  report.options.max_length > 0 ? absl::StrCat(report.options.max_length, " tokens")
                                                : std::string("the model's context"),
                  ", stride ",
                  report.options.stride > 0 ? absl::StrCat(report.options.stride)
                                            : std::string("= window (disjoint)"),
                  "</p>\n<p class=\"mono\">", HtmlEscape(report.command_line), "</p>\n");

  // Metrics tables, one per corpus.
  absl::StrAppend(&h, "<h2 id=\"metrics\">Metrics</h2>\n<p>Definitions as lm-evaluation-harness's rolling "
                      "log-likelihood (docs/evaluation.md); lower is better, the best is marked.</p>\n");
  for (const EvalCorpus* corpus : report.corpora) {
    absl::StrAppend(&h, "<h3>", HtmlEscape(corpus->name), "</h3>\n<table class=\"metrics\">\n<tr>"
                        "<th class=\"l\">checkpoint</th><th>step</th><th>docs</th><th>tokens</th>");
    for (const MetricColumn& m : MetricColumns()) absl::StrAppend(&h, "<th>", m.key, "</th>");
    absl::StrAppend(&h, "<th>tokens/s</th></tr>\n");
    for (size_t i = 0; i < report.checkpoints.size(); ++i) {
      const CheckpointResult& r = report.checkpoints[i];
      if (!r.ok()) {
        absl::StrAppend(&h, "<tr class=\"failed\"><td class=\"l\">", HtmlEscape(r.ref.label), "</td><td>",
                        StepText(r.ref), "</td><td class=\"l\" colspan=\"", MetricColumns().size() + 3,
                        "\">FAILED: ", HtmlEscape(r.error), "</td></tr>\n");
        continue;
      }
      for (const CorpusResult& c : r.corpora) {
        if (c.corpus != corpus->name) continue;
        absl::StrAppend(&h, "<tr><td class=\"l\">", HtmlEscape(r.ref.label), "</td><td>", StepText(r.ref),
                        "</td><td>", c.sums.documents, "</td><td>", c.sums.tokens, "</td>");
        for (const MetricColumn& m : MetricColumns()) {
          auto it = best.find(c.corpus);
          const bool is_best = it != best.end() && it->second.contains(m.key) && it->second.at(m.key) == i;
          absl::StrAppend(&h, is_best ? "<td class=\"best\">" : "<td>", FormatMetric(m.key, c.metrics.*m.field),
                          is_best ? " &#9733;" : "", "</td>");
        }
        absl::StrAppend(&h, "<td>", absl::StrFormat("%.0f", c.tokens_per_second), "</td></tr>\n");
      }
    }
    absl::StrAppend(&h, "</table>\n");
  }

  // Evaluated metrics per checkpoint: x = evaluated checkpoints in order, a series per corpus.
  std::vector<std::string> labels;
  std::vector<const CheckpointResult*> evaluated;
  for (const CheckpointResult& r : report.checkpoints) {
    if (!r.ok()) continue;
    labels.push_back(r.ref.label);
    evaluated.push_back(&r);
  }
  absl::StrAppend(&h, "<h2 id=\"charts\">Metrics per checkpoint</h2>\n<div class=\"charts\">\n");
  for (const MetricColumn& m : MetricColumns()) {
    if (m.field == &EvalMetrics::token_perplexity || m.field == &EvalMetrics::byte_perplexity) continue;
    LineChart chart;
    chart.id = absl::StrCat("chart-", m.key);
    chart.title = m.key;
    chart.x_label = "checkpoint";
    chart.y_label = m.key;
    chart.x_categories = labels;
    chart.log_y = m.field == &EvalMetrics::word_perplexity;  // spans decades between corpora
    chart.width = std::max(480, 120 * static_cast<int>(labels.size()) + 80);
    for (const EvalCorpus* corpus : report.corpora) {
      ChartSeries s;
      s.name = corpus->name;
      for (size_t i = 0; i < evaluated.size(); ++i) {
        for (const CorpusResult& c : evaluated[i]->corpora) {
          if (c.corpus == corpus->name) s.points.emplace_back(static_cast<double>(i), c.metrics.*m.field);
        }
      }
      chart.series.push_back(std::move(s));
    }
    absl::StrAppend(&h, RenderSvg(chart));
  }
  absl::StrAppend(&h, "</div>\n");

  // The runs' training curves, with the evaluated checkpoints' steps marked.
  absl::StrAppend(&h, "<h2 id=\"training\">Training curves</h2>\n");
  if (report.runs.empty()) absl::StrAppend(&h, "<p>No evaluated checkpoint belongs to a run with a metrics.jsonl.</p>\n");
  absl::StrAppend(&h, "<div class=\"charts\">\n");
  for (size_t i = 0; i < report.runs.size(); ++i) {
    const RunCurves& run = report.runs[i];
    LineChart chart;
    chart.id = absl::StrCat("chart-run-", i);
    chart.title = absl::StrCat("loss: ", run.run_dir);
    chart.x_label = "step";
    chart.y_label = "cross-entropy (nats/token)";
    ChartSeries train{"training loss", {}, false}, val{"validation loss", {}, true};
    for (const auto& [step, loss] : run.train_loss) train.points.emplace_back(static_cast<double>(step), loss);
    for (const auto& [step, loss] : run.val_loss) val.points.emplace_back(static_cast<double>(step), loss);
    chart.series = {train, val};
    for (const CheckpointResult& r : report.checkpoints) {
      if (r.ok() && r.ref.run_dir == run.run_dir && r.ref.step) chart.x_marks.push_back(static_cast<double>(*r.ref.step));
    }
    absl::StrAppend(&h, RenderSvg(chart));
  }
  absl::StrAppend(&h, "</div>\n");

  // Greedy continuations side by side.
  if (!report.options.prompts.empty()) {
    absl::StrAppend(&h, "<h2 id=\"continuations\">Greedy continuations</h2>\n<table class=\"continuations\">\n"
                        "<tr><th class=\"l\">prompt</th>");
    for (const CheckpointResult* r : evaluated) absl::StrAppend(&h, "<th class=\"l\">", HtmlEscape(r->ref.label), "</th>");
    absl::StrAppend(&h, "</tr>\n");
    for (size_t p = 0; p < report.options.prompts.size(); ++p) {
      absl::StrAppend(&h, "<tr><td class=\"text\">", HtmlEscape(report.options.prompts[p]), "</td>");
      for (const CheckpointResult* r : evaluated) {
        absl::StrAppend(&h, "<td class=\"text\">",
                        p < r->continuations.size() ? HtmlEscape(r->continuations[p].text) : "", "</td>");
      }
      absl::StrAppend(&h, "</tr>\n");
    }
    absl::StrAppend(&h, "</table>\n");
  }

  // Provenance.
  absl::StrAppend(&h, "<h2 id=\"provenance\">Provenance</h2>\n<table class=\"provenance\">\n<tr><th class=\"l\">checkpoint"
                      "</th><th class=\"l\">directory</th><th>step</th><th class=\"l\">model.safetensors sha256</th>"
                      "<th class=\"l\">tokenizer</th><th>vocab</th><th>window / stride</th></tr>\n");
  for (const CheckpointResult& r : report.checkpoints) {
    absl::StrAppend(&h, "<tr", r.ok() ? "" : " class=\"failed\"", "><td class=\"l\">", HtmlEscape(r.ref.label),
                    "</td><td class=\"l mono\">", HtmlEscape(r.ref.dir), "</td><td>", StepText(r.ref),
                    "</td><td class=\"l mono\">", HtmlEscape(r.weights_sha256), "</td><td class=\"l mono\">",
                    HtmlEscape(r.tokenizer_fingerprint.substr(0, 16)), "</td><td>", r.tokenizer_vocab_size,
                    "</td><td>", r.max_length, " / ", r.stride, "</td></tr>\n");
  }
  absl::StrAppend(&h, "</table>\n<table class=\"provenance\">\n<tr><th class=\"l\">corpus</th><th class=\"l\">file"
                      "</th><th class=\"l\">sha256</th><th>documents</th><th>words</th><th>bytes</th></tr>\n");
  for (const EvalCorpus* c : report.corpora) {
    for (size_t f = 0; f < c->files.size(); ++f) {
      absl::StrAppend(&h, "<tr><td class=\"l\">", f == 0 ? HtmlEscape(c->name) : "", "</td><td class=\"l mono\">",
                      HtmlEscape(c->files[f].path), "</td><td class=\"l mono\">", c->files[f].sha256, "</td>");
      if (f == 0) {
        absl::StrAppend(&h, "<td>", c->documents.size(), "</td><td>", c->words, "</td><td>", c->bytes, "</td>");
      } else {
        absl::StrAppend(&h, "<td></td><td></td><td></td>");
      }
      absl::StrAppend(&h, "</tr>\n");
    }
  }
  absl::StrAppend(&h, "</table>\n</body>\n</html>\n");
  return h;
}

absl::Status WriteReport(const EvalReport& report, const std::string& output_dir) {
  std::error_code ec;
  fs::create_directories(output_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", output_dir, ": ", ec.message()));
  RETURN_IF_ERROR(core::WriteFileAtomically(output_dir + "/" + kReportJsonFile, ReportJson(report).dump(2, ' ', false, json::error_handler_t::replace) + "\n"));
  return core::WriteFileAtomically(output_dir + "/" + kReportHtmlFile, ReportHtml(report));
}

}  // namespace plume::trainer
