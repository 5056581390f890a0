#include "trainer/corpus.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "core/file_io.h"
#include "tests/test_util.h"

namespace plume::trainer {
namespace {

using ::testing::HasSubstr;
using plume::testing::TempDir;

void Write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  ASSERT_TRUE(core::WriteFileDurably(path, text).ok());
}

TEST(CorpusTest, ExpandsFilesDirectoriesAndGlobs) {
  TempDir tmp("corpus");
  Write(tmp / "a.txt", "a");
  Write(tmp / "sub/b.txt", "b");
  Write(tmp / "sub/deeper/c.jsonl", "{}");
  auto files = ExpandCorpusPaths({tmp / "sub", tmp / "*.txt", tmp / "a.txt"});
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(*files, (std::vector<std::string>{tmp / "a.txt", tmp / "sub/b.txt", tmp / "sub/deeper/c.jsonl"}));
  auto missing = ExpandCorpusPaths({tmp / "*.md"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("matches no file"));
}

TEST(CorpusTest, SplitsTextIntoDocuments) {
  TempDir tmp("corpus");
  Write(tmp / "t.txt", "one\n%\ntwo\n%\n\n%\nthree");
  DataConfig data;
  data.document_separator = "\n%\n";
  auto docs = ReadDocuments({tmp / "t.txt"}, data);
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 3u);  // the empty one is dropped
  EXPECT_EQ((*docs)[2].text, "three");
  data.document_separator = "";
  EXPECT_EQ(ReadDocuments({tmp / "t.txt"}, data)->size(), 1u);
}

TEST(CorpusTest, ReadsJsonlAndPromptCompletion) {
  TempDir tmp("corpus");
  Write(tmp / "d.jsonl", "{\"text\": \"hello\", \"id\": 1}\n\n{\"text\": \"world\"}\n");
  Write(tmp / "p.jsonl", "{\"q\": \"2+2=\", \"a\": \" 4\"}\n");
  DataConfig data;
  auto docs = ReadDocuments({tmp / "d.jsonl"}, data);  // auto: .jsonl
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[1].text, "world");
  data.format = CorpusFormat::kPromptCompletion;
  data.prompt_field = "q";
  data.completion_field = "a";
  docs = ReadDocuments({tmp / "p.jsonl"}, data);
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_EQ((*docs)[0].prompt, "2+2=");
  EXPECT_EQ((*docs)[0].text, " 4");
}

TEST(CorpusTest, JsonlErrorsNameFileAndLine) {
  TempDir tmp("corpus");
  Write(tmp / "bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": \n");
  Write(tmp / "field.jsonl", "{\"body\": \"x\"}\n");
  Write(tmp / "type.jsonl", "{\"text\": 5}\n");
  DataConfig data;
  EXPECT_THAT(std::string(ReadDocuments({tmp / "bad.jsonl"}, data).status().message()), HasSubstr("bad.jsonl:2: not a JSON object"));
  EXPECT_THAT(std::string(ReadDocuments({tmp / "field.jsonl"}, data).status().message()), HasSubstr("field.jsonl:1: no field 'text'"));
  EXPECT_THAT(std::string(ReadDocuments({tmp / "type.jsonl"}, data).status().message()), HasSubstr("is not a string"));
}

TEST(CorpusTest, InvalidUtf8IsAnErrorOrReplaced) {
  TempDir tmp("corpus");
  Write(tmp / "latin1.txt", "caf\xe9 au lait");
  DataConfig data;
  auto docs = ReadDocuments({tmp / "latin1.txt"}, data);
  ASSERT_FALSE(docs.ok());
  EXPECT_THAT(std::string(docs.status().message()), HasSubstr("invalid UTF-8 at byte offset 3"));
  data.replace_invalid_utf8 = true;
  docs = ReadDocuments({tmp / "latin1.txt"}, data);
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ((*docs)[0].text, "caf\xef\xbf\xbd au lait");
}

}  // namespace
}  // namespace plume::trainer
