#include "core/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/file_io.h"

namespace plume::core {
namespace {

using ::testing::HasSubstr;

// Assembles a safetensors file from a header text and a data section.
std::string MakeFile(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string ErrorOf(const std::string& file) {
  auto parsed = ParseSafetensorsHeader(file);
  return parsed.ok() ? "OK" : std::string(parsed.status().message());
}

class SafetensorsFileTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) {
    return (std::filesystem::path(::testing::TempDir()) / name).string();
  }
};

TEST_F(SafetensorsFileTest, WriteThenReadRoundTrip) {
  const float a[6] = {1, 2, 3, 4, 5, 6};
  const uint16_t b[2] = {0x3c00, 0xc000};  // F16 1.0, -2.0
  const std::string path = Path("round.safetensors");
  ASSERT_TRUE(WriteSafetensors(path,
                               {{"a", SafetensorsDtype::kF32, {2, 3}, a, sizeof(a)},
                                {"b.half", SafetensorsDtype::kF16, {2}, b, sizeof(b)}},
                               {{"format", "pt"}})
                  .ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->entries().size(), 2u);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  const SafetensorsEntry* ea = file->Find("a");
  ASSERT_NE(ea, nullptr);
  EXPECT_EQ(ea->dtype, SafetensorsDtype::kF32);
  EXPECT_EQ(ea->shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(file->Data(*ea).size(), sizeof(a));
  EXPECT_EQ(std::memcmp(file->Data(*ea).data(), a, sizeof(a)), 0);
  const SafetensorsEntry* eb = file->Find("b.half");
  ASSERT_NE(eb, nullptr);
  EXPECT_EQ(eb->dtype, SafetensorsDtype::kF16);
  EXPECT_EQ(std::memcmp(file->Data(*eb).data(), b, sizeof(b)), 0);
  EXPECT_EQ(file->Find("missing"), nullptr);
  // The data section is 8-byte aligned, as the format recommends.
  auto bytes = ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(ParseSafetensorsHeader(*bytes)->data_offset % 8, 0u);
}

TEST_F(SafetensorsFileTest, WriterRejectsInconsistentInput) {
  const float a[2] = {1, 2};
  EXPECT_FALSE(WriteSafetensors(Path("bad.safetensors"), {{"a", SafetensorsDtype::kF32, {3}, a, sizeof(a)}}).ok());
  EXPECT_FALSE(WriteSafetensors(Path("dup.safetensors"),
                                {{"a", SafetensorsDtype::kF32, {2}, a, sizeof(a)},
                                 {"a", SafetensorsDtype::kF32, {2}, a, sizeof(a)}})
                   .ok());
}

TEST_F(SafetensorsFileTest, OpenMissingFileNamesPath) {
  auto file = SafetensorsFile::Open(Path("nope.safetensors"));
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("nope.safetensors"));
}

TEST_F(SafetensorsFileTest, OpenTruncatedFileFailsCleanly) {
  const float a[4] = {1, 2, 3, 4};
  const std::string path = Path("trunc.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"a", SafetensorsDtype::kF32, {4}, a, sizeof(a)}}).ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 5);
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("beyond the data section"));
}

TEST(SafetensorsHeaderTest, AcceptsValidAndEmpty) {
  EXPECT_EQ(ErrorOf(MakeFile(R"({"x":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})", "abc")), "OK");
  EXPECT_EQ(ErrorOf(MakeFile("{}", "")), "OK");
  EXPECT_EQ(ErrorOf(MakeFile(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})", "abcd")), "OK");
  EXPECT_EQ(ErrorOf(MakeFile(R"({"z":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]}})", "")), "OK");
}

TEST(SafetensorsHeaderTest, RejectsTooShortFile) {
  EXPECT_THAT(ErrorOf("abc"), HasSubstr("shorter than the 8-byte header length"));
}

TEST(SafetensorsHeaderTest, RejectsHeaderLengthLargerThanFile) {
  std::string file = MakeFile(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "a");
  file[0] = static_cast<char>(0xff);
  file[1] = static_cast<char>(0xff);
  EXPECT_THAT(ErrorOf(file), HasSubstr("larger than the rest of the file"));
  std::string huge = file;
  huge[6] = 0x7f;
  EXPECT_THAT(ErrorOf(huge), HasSubstr("100 MB limit"));
}

TEST(SafetensorsHeaderTest, RejectsInvalidJson) {
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x": )", "")), HasSubstr("not a valid JSON object"));
  EXPECT_THAT(ErrorOf(MakeFile(R"([1,2])", "")), HasSubstr("does not start with '{'"));
  EXPECT_THAT(ErrorOf(MakeFile("{\"x\":\xff}", "")), HasSubstr("not a valid JSON object"));
}

TEST(SafetensorsHeaderTest, RejectsUnknownDtype) {
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"F12","shape":[1],"data_offsets":[0,1]}})", "a")),
              HasSubstr("unknown dtype \"F12\""));
}

TEST(SafetensorsHeaderTest, RejectsOffsetsOutOfRange) {
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", "ab")),
              HasSubstr("beyond the data section"));
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[3,2]}})", "ab")),
              HasSubstr("end before they begin"));
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", "ab")),
              HasSubstr("data_offsets"));
}

TEST(SafetensorsHeaderTest, RejectsOverlapsAndHoles) {
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},
                                   "y":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", "abc")),
              HasSubstr("overlaps"));
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "ab")),
              HasSubstr("hole"));
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "ab")),
              HasSubstr("trailing bytes"));
}

TEST(SafetensorsHeaderTest, RejectsShapeDisagreeingWithByteCount) {
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd")),
              HasSubstr("need 8"));
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,4]}})", "abcd")),
              HasSubstr("negative"));
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}})", "abcd")),
              HasSubstr("too large"));
}

TEST(SafetensorsHeaderTest, RejectsMalformedEntries) {
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":5})", "")), HasSubstr("not an object"));
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"shape":[0],"data_offsets":[0,0]}})", "")), HasSubstr("dtype"));
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"U8","data_offsets":[0,0]}})", "")), HasSubstr("shape"));
  EXPECT_THAT(ErrorOf(MakeFile(R"({"x":{"dtype":"U8","shape":[0]}})", "")), HasSubstr("data_offsets"));
  EXPECT_THAT(ErrorOf(MakeFile(R"({"__metadata__":{"a":1}})", "")), HasSubstr("not a string"));
  EXPECT_THAT(ErrorOf(MakeFile(R"({"__metadata__":[]})", "")), HasSubstr("not an object"));
}

}  // namespace
}  // namespace plume::core
