// The report's table, JSON and HTML from hand-built results: best marking, failed checkpoints,
// escaping, NaN handling, charts; reading a run's metrics.jsonl.
#include "trainer/eval_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "tests/test_util.h"
#include "trainer/svg_chart.h"

namespace plume::trainer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

CheckpointResult Ok(const std::string& label, int64_t step, double ce_held, double ce_other, const std::string& run) {
  CheckpointResult r;
  r.ref.label = label;
  r.ref.dir = "/runs/" + label;
  r.ref.step = step;
  r.ref.run_dir = run;
  r.max_length = r.stride = 64;
  for (const auto& [corpus, ce] : {std::pair{"held.txt", ce_held}, std::pair{"other.jsonl", ce_other}}) {
    CorpusResult c;
    c.corpus = corpus;
    c.sums = {ce * 100, 100, 40, 300, 3};
    c.metrics = EvalMetrics::From(c.sums);
    c.tokens_per_second = 1234;
    r.corpora.push_back(c);
  }
  return r;
}

class EvalReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    held_.name = "held.txt";
    held_.files = {{"held.txt", "ab12"}};
    other_.name = "other.jsonl";
    report_.plume_version = "0.1.0";
    report_.date = "2026-12-04T00:00:00Z";
    report_.command_line = "plume-eval --run r";
    report_.corpora = {&held_, &other_};
    report_.checkpoints.push_back(Ok("r/step-10", 10, 3.0, 2.0, "r"));
    CheckpointResult failed;
    failed.ref.label = "r/step-15";
    failed.ref.step = 15;
    failed.error = "model.safetensors: truncated header";
    report_.checkpoints.push_back(failed);
    report_.checkpoints.push_back(Ok("r/<step-20>", 20, 2.5, 2.2, "r"));
    report_.runs.push_back({"r", {{5, 4.0}, {10, 3.5}, {20, 3.0}}, {{0, 5.9}, {10, 3.4}, {20, 2.9}}});
  }
  EvalCorpus held_, other_;
  EvalReport report_;
};

TEST_F(EvalReportTest, BestIsLowestPerCorpus) {
  auto best = BestCheckpoints(report_);
  EXPECT_EQ(best["held.txt"]["token_cross_entropy"], 2u);  // 2.5 < 3.0
  EXPECT_EQ(best["other.jsonl"]["token_cross_entropy"], 0u);  // 2.0 < 2.2
  EXPECT_EQ(best["held.txt"]["bits_per_byte"], 2u);
  // One evaluated checkpoint: nothing to compare.
  report_.checkpoints.resize(2);
  EXPECT_TRUE(BestCheckpoints(report_).empty());
}

TEST_F(EvalReportTest, TableMarksBestAndFailures) {
  const std::string table = FormatTable(report_);
  std::vector<std::string> lines = absl::StrSplit(table, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u + 2 + 1 + 2 + 1);  // header, 2 rows, failure, 2 rows, footnote
  EXPECT_THAT(lines[0], HasSubstr("token_ce"));
  EXPECT_THAT(lines[0], HasSubstr("bits/byte"));
  EXPECT_THAT(lines[1], HasSubstr("r/step-10"));
  EXPECT_THAT(lines[1], HasSubstr("3.0000 "));  // held.txt: not best
  EXPECT_THAT(lines[2], HasSubstr("2.0000*"));  // other.jsonl: best
  EXPECT_THAT(lines[3], HasSubstr("r/step-15"));
  EXPECT_THAT(lines[3], HasSubstr("FAILED: model.safetensors: truncated header"));
  EXPECT_THAT(lines[4], HasSubstr("2.5000*"));
  EXPECT_THAT(lines[6], HasSubstr("best"));
  // Columns line up: every metric row has the corpus name starting at the same offset.
  EXPECT_EQ(lines[1].find("held.txt"), lines[4].find("held.txt"));
}

TEST_F(EvalReportTest, JsonHasMetricsFailuresAndNoNaN) {
  report_.checkpoints[0].corpora[1].metrics.word_perplexity = std::numeric_limits<double>::quiet_NaN();
  const auto j = ReportJson(report_);
  ASSERT_EQ(j["checkpoints"].size(), 3u);
  EXPECT_EQ(j["checkpoints"][0]["status"], "ok");
  EXPECT_EQ(j["checkpoints"][1]["status"], "failed");
  EXPECT_EQ(j["checkpoints"][1]["error"], "model.safetensors: truncated header");
  EXPECT_TRUE(j["checkpoints"][0]["results"][1]["word_perplexity"].is_null());
  EXPECT_DOUBLE_EQ(j["checkpoints"][2]["results"][0]["token_cross_entropy"].get<double>(), 2.5);
  EXPECT_EQ(j["best"]["held.txt"]["token_cross_entropy"], "r/<step-20>");
  EXPECT_EQ(j["corpora"][0]["files"][0]["sha256"], "ab12");
  EXPECT_EQ(j["plume_version"], "0.1.0");
  EXPECT_EQ(j["runs"][0]["train_loss_points"], 3);
}

TEST_F(EvalReportTest, HtmlIsSelfContainedWithCharts) {
  report_.options.prompts = {"Once <upon>"};
  report_.checkpoints[0].continuations = {{"Once <upon>", "a time"}};
  report_.checkpoints[2].continuations = {{"Once <upon>", "the end"}};
  const std::string html = ReportHtml(report_);
  for (const char* id : {"chart-token_cross_entropy", "chart-word_perplexity", "chart-bits_per_byte", "chart-run-0"}) {
    EXPECT_THAT(html, HasSubstr(std::string("id=\"") + id + "\"")) << id;
  }
  EXPECT_THAT(html, HasSubstr("data-series=\"training loss\""));
  EXPECT_THAT(html, HasSubstr("data-series=\"validation loss\""));
  EXPECT_THAT(html, HasSubstr("data-series=\"held.txt\""));
  EXPECT_THAT(html, HasSubstr("r/&lt;step-20&gt;"));  // escaped
  EXPECT_THAT(html, Not(HasSubstr("<step-20>")));
  EXPECT_THAT(html, HasSubstr("FAILED: model.safetensors: truncated header"));
  EXPECT_THAT(html, HasSubstr("Once &lt;upon&gt;"));
  EXPECT_THAT(html, HasSubstr("the end"));
  EXPECT_THAT(html, HasSubstr("class=\"best\""));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));  // no external resources
  EXPECT_THAT(html, Not(HasSubstr("src=")));
}

TEST(SvgChartTest, EmptyAndCategorical) {
  LineChart empty;
  empty.id = "e";
  empty.series = {{"s", {}, true}};
  EXPECT_THAT(RenderSvg(empty), HasSubstr("no data"));

  LineChart chart;
  chart.id = "c";
  chart.x_categories = {"a", "b", "c"};
  chart.series = {{"one", {{0, 1.0}, {1, 2.0}, {2, std::nan("")}}, true}};
  const std::string svg = RenderSvg(chart);
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++circles;
  EXPECT_EQ(circles, 2u);  // the NaN point is skipped
  EXPECT_THAT(svg, HasSubstr(">b</text>"));
  EXPECT_EQ(HtmlEscape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
}

TEST(SvgChartTest, LogAxisTicksAtDecadesAndWideLegends) {
  LineChart chart;
  chart.id = "log";
  chart.log_y = true;
  chart.x_categories = {"a", "b"};
  chart.series = {{std::string(120, 'n'), {{0, 150.0}, {1, 3.0e7}}, true}};
  const std::string svg = RenderSvg(chart);
  for (const char* tick : {">100</text>", ">10000</text>", ">1e+06</text>", ">1e+08</text>"}) {
    EXPECT_THAT(svg, HasSubstr(tick)) << tick;
  }
  EXPECT_THAT(svg, HasSubstr("= 3e+07</title>"));  // tooltips show the value, not its log
  EXPECT_THAT(svg, Not(HasSubstr("width=\"640\"")));  // widened for the legend
}

TEST(RunCurvesTest, ReadsLossesAndSkipsTornLines) {
  plume::testing::TempDir tmp("curves");
  ASSERT_TRUE(core::WriteFileDurably(tmp / "metrics.jsonl",
                                     "{\"step\":0,\"val_loss\":5.9,\"val_perplexity\":365}\n"
                                     "{\"step\":5,\"loss\":4.1,\"lr\":0.001}\n"
                                     "{\"step\":10,\"loss\":3.2,\"lr\":0.001}\n"
                                     "{\"step\":10,\"val_loss\":3.3}\n"
                                     "{\"step\":15,\"lo")
                  .ok());
  auto curves = ReadRunCurves(tmp.path());
  ASSERT_TRUE(curves.ok()) << curves.status();
  const std::vector<std::pair<int64_t, double>> train = {{5, 4.1}, {10, 3.2}}, val = {{0, 5.9}, {10, 3.3}};
  EXPECT_EQ(curves->train_loss, train);
  EXPECT_EQ(curves->val_loss, val);
  EXPECT_FALSE(ReadRunCurves(tmp / "missing").ok());
}

}  // namespace
}  // namespace plume::trainer
