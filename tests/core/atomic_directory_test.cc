#include "core/atomic_directory.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/file_io.h"

namespace plume::core {
namespace {
namespace fs = std::filesystem;

class AtomicDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("atomic_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  int CountEntries() { return static_cast<int>(std::distance(fs::directory_iterator(root_), {})); }
  fs::path root_;
};

TEST_F(AtomicDirectoryTest, CommitMovesCompleteDirectoryIntoPlace) {
  const std::string target = (root_ / "ckpt").string();
  {
    auto dir = AtomicDirectory::Create(target);
    ASSERT_TRUE(dir.ok()) << dir.status();
    ASSERT_TRUE(AtomicDirectory::IsTemporaryName(dir->path()));
    ASSERT_TRUE(WriteFileDurably(dir->path() + "/a.txt", "hello").ok());
    EXPECT_FALSE(fs::exists(target));  // invisible until committed
    ASSERT_TRUE(dir->Commit().ok());
  }
  EXPECT_EQ(*ReadFile(target + "/a.txt"), "hello");
  EXPECT_EQ(CountEntries(), 1);  // no temporary left behind
}

TEST_F(AtomicDirectoryTest, AbandonedDirectoryIsRemoved) {
  const std::string target = (root_ / "ckpt").string();
  {
    auto dir = AtomicDirectory::Create(target);
    ASSERT_TRUE(dir.ok());
    ASSERT_TRUE(WriteFileDurably(dir->path() + "/a.txt", "partial").ok());
  }
  EXPECT_FALSE(fs::exists(target));
  EXPECT_EQ(CountEntries(), 0);
}

TEST_F(AtomicDirectoryTest, CommitReplacesExistingDirectoryAsAWhole) {
  const std::string target = (root_ / "ckpt").string();
  fs::create_directories(target);
  ASSERT_TRUE(WriteFileDurably(target + "/old.txt", "old").ok());
  auto dir = AtomicDirectory::Create(target);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(WriteFileDurably(dir->path() + "/new.txt", "new").ok());
  ASSERT_TRUE(dir->Commit().ok());
  EXPECT_FALSE(fs::exists(target + "/old.txt"));
  EXPECT_EQ(*ReadFile(target + "/new.txt"), "new");
  EXPECT_EQ(CountEntries(), 1);
}

TEST_F(AtomicDirectoryTest, WriteFileAtomicallyReplacesFile) {
  const std::string path = (root_ / "f.json").string();
  ASSERT_TRUE(WriteFileAtomically(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two").ok());
  EXPECT_EQ(*ReadFile(path), "two");
  EXPECT_EQ(CountEntries(), 1);
}

TEST_F(AtomicDirectoryTest, CreateInMissingParentFails) {
  auto dir = AtomicDirectory::Create((root_ / "no" / "such" / "ckpt").string());
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.status().message().find("cannot create directory"), std::string::npos);
}

}  // namespace
}  // namespace plume::core
