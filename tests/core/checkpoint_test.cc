#include "core/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "core/file_io.h"
#include "core/gpt.h"

namespace plume::core {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

GptConfig TinyConfig() {
  GptConfig config;
  config.n_layer = 2;
  config.n_head = 2;
  config.n_embd = 16;
  config.n_positions = 32;
  config.vocab_size = 50;
  return config;
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("ckpt_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    torch::manual_seed(3);
    model_ = Gpt(TinyConfig());
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Dir(const std::string& name) { return (root_ / name).string(); }

  // Copies a checkpoint's tensors into a new file, renaming, dropping or adding tensors.
  struct Tensor {
    std::string name;
    torch::Tensor value;
  };
  std::vector<Tensor> ReadTensors(const std::string& dir) {
    auto file = SafetensorsFile::Open(dir + "/model.safetensors");
    EXPECT_TRUE(file.ok()) << file.status();
    std::vector<Tensor> out;
    for (const auto& e : file->entries()) {
      EXPECT_EQ(e.dtype, SafetensorsDtype::kF32);
      auto t = torch::empty(e.shape, torch::kFloat32);
      std::memcpy(t.data_ptr(), file->Data(e).data(), file->Data(e).size());
      out.push_back({e.name, t});
    }
    return out;
  }
  void WriteTensors(const std::string& dir, const std::vector<Tensor>& tensors,
                    torch::ScalarType dtype = torch::kFloat32) {
    const SafetensorsDtype st = dtype == torch::kFloat16    ? SafetensorsDtype::kF16
                                : dtype == torch::kBFloat16 ? SafetensorsDtype::kBF16
                                                            : SafetensorsDtype::kF32;
    std::vector<torch::Tensor> keep;
    std::vector<SafetensorsTensorRef> refs;
    for (const auto& t : tensors) {
      keep.push_back(t.value.to(dtype).contiguous());
      refs.push_back({t.name, st, keep.back().sizes().vec(), keep.back().data_ptr(),
                      static_cast<size_t>(keep.back().nbytes())});
    }
    ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", refs, {{"format", "pt"}}).ok());
  }
  std::string SavedCopy(const std::string& name) {
    const std::string dir = Dir(name);
    EXPECT_TRUE(SaveCheckpoint(dir, *model_).ok());
    return dir;
  }
  void ExpectSameWeights(GptImpl& loaded, double tol) {
    auto expected = model_->named_parameters();
    for (const auto& item : loaded.named_parameters()) {
      EXPECT_TRUE(torch::allclose(item.value(), expected[item.key()], tol, tol)) << item.key();
    }
  }
  std::string LoadError(const std::string& dir) {
    auto loaded = LoadModel(dir);
    return loaded.ok() ? "OK" : std::string(loaded.status().message());
  }

  fs::path root_;
  Gpt model_{nullptr};
};

TEST_F(CheckpointTest, SaveLoadRoundTripIsExact) {
  const std::string dir = SavedCopy("a");
  EXPECT_TRUE(fs::exists(dir + "/config.json"));
  auto loaded = LoadModel(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->config(), TinyConfig());
  ExpectSameWeights(**loaded, 0);
}

TEST_F(CheckpointTest, UsesHuggingFaceNamesAndConv1DLayout) {
  const std::string dir = SavedCopy("a");
  auto file = SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  const SafetensorsEntry* c_attn = file->Find("transformer.h.0.attn.c_attn.weight");
  ASSERT_NE(c_attn, nullptr);
  EXPECT_EQ(c_attn->shape, (std::vector<int64_t>{16, 48}));  // Conv1D [in, out]
  EXPECT_NE(file->Find("transformer.wte.weight"), nullptr);
  EXPECT_EQ(file->Find("lm_head.weight"), nullptr);  // tied, stored once
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->entries().size(), model_->named_parameters().size());
}

TEST_F(CheckpointTest, LoadsHalfAndBfloat16Weights) {
  for (auto dtype : {SafetensorsDtype::kF16, SafetensorsDtype::kBF16}) {
    const std::string dir = Dir(std::string(DtypeName(dtype)));
    ASSERT_TRUE(SaveCheckpoint(dir, *model_, nullptr, dtype).ok());
    auto file = SafetensorsFile::Open(dir + "/model.safetensors");
    EXPECT_EQ(file->entries()[0].dtype, dtype);
    auto loaded = LoadModel(dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ExpectSameWeights(**loaded, dtype == SafetensorsDtype::kF16 ? 1e-3 : 1e-2);
  }
}

TEST_F(CheckpointTest, LoadsUnprefixedNamesWithAttentionBuffersAndLmHead) {
  // The layout of the original GPT-2 files on the hub: "h.0...." names, attn.bias buffers.
  const std::string dir = SavedCopy("hub");
  std::vector<Tensor> tensors;
  for (auto& t : ReadTensors(dir)) tensors.push_back({t.name.substr(strlen("transformer.")), t.value});
  for (int i = 0; i < 2; ++i) {
    tensors.push_back({"h." + std::to_string(i) + ".attn.bias", torch::ones({1, 1, 32, 32}).tril()});
    tensors.push_back({"h." + std::to_string(i) + ".attn.masked_bias", torch::tensor(-1e4f)});
  }
  tensors.push_back({"lm_head.weight", model_->wte->weight.detach()});
  WriteTensors(dir, tensors, torch::kFloat16);
  auto loaded = LoadModel(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSameWeights(**loaded, 1e-3);
}

TEST_F(CheckpointTest, MissingTensorIsNamed) {
  const std::string dir = SavedCopy("missing");
  auto tensors = ReadTensors(dir);
  std::erase_if(tensors, [](const Tensor& t) { return t.name == "transformer.h.1.mlp.c_fc.bias"; });
  WriteTensors(dir, tensors);
  EXPECT_THAT(LoadError(dir), HasSubstr("missing tensor 'transformer.h.1.mlp.c_fc.bias'"));
}

TEST_F(CheckpointTest, ExtraTensorIsNamed) {
  const std::string dir = SavedCopy("extra");
  auto tensors = ReadTensors(dir);
  tensors.push_back({"transformer.h.2.ln_1.weight", torch::ones({16})});
  WriteTensors(dir, tensors);
  EXPECT_THAT(LoadError(dir), HasSubstr("unexpected tensor 'transformer.h.2.ln_1.weight'"));
}

TEST_F(CheckpointTest, ShapeDisagreeingWithConfigIsNamedWithHint) {
  const std::string dir = SavedCopy("shape");
  GptConfig other = TinyConfig();
  other.vocab_size = 60;
  ASSERT_TRUE(WriteFileDurably(dir + "/config.json", other.ToHfJson()).ok());
  const std::string error = LoadError(dir);
  EXPECT_THAT(error, HasSubstr("tensor 'transformer.wte.weight' has shape [50, 16], expected [60, 16]"));
  EXPECT_THAT(error, HasSubstr("HINT"));
}

TEST_F(CheckpointTest, InvalidConfigJsonIsReported) {
  const std::string dir = SavedCopy("badconfig");
  ASSERT_TRUE(WriteFileDurably(dir + "/config.json", "{\"n_layer\": 2,").ok());
  EXPECT_THAT(LoadError(dir), HasSubstr("config.json: not valid JSON"));
  ASSERT_TRUE(WriteFileDurably(dir + "/config.json", R"({"n_layer": 2, "n_head": 3, "n_embd": 16,
      "n_positions": 32, "vocab_size": 50})").ok());
  EXPECT_THAT(LoadError(dir), HasSubstr("divisible by n_head"));
  fs::remove(dir + "/config.json");
  EXPECT_THAT(LoadError(dir), HasSubstr("has no config.json"));
}

TEST_F(CheckpointTest, CorruptOrMissingWeightsAreReported) {
  const std::string dir = SavedCopy("corrupt");
  fs::resize_file(dir + "/model.safetensors", fs::file_size(dir + "/model.safetensors") / 2);
  EXPECT_THAT(LoadError(dir), HasSubstr("invalid safetensors"));
  ASSERT_TRUE(WriteFileDurably(dir + "/model.safetensors", "xx").ok());
  EXPECT_THAT(LoadError(dir), HasSubstr("shorter than the 8-byte header"));
  fs::remove(dir + "/model.safetensors");
  EXPECT_THAT(LoadError(dir), HasSubstr("model.safetensors"));
  EXPECT_THAT(LoadError(Dir("does-not-exist")), HasSubstr("not a directory"));
}

TEST_F(CheckpointTest, NonFiniteWeightsAreRejected) {
  const std::string dir = SavedCopy("nan");
  auto tensors = ReadTensors(dir);
  tensors[0].value.view(-1)[0] = std::nanf("");
  WriteTensors(dir, tensors);
  EXPECT_THAT(LoadError(dir), HasSubstr("NaN"));
}

TEST_F(CheckpointTest, FailedSaveLeavesNothingBehind) {
  const std::string dir = Dir("failed");
  absl::Status status = SaveCheckpoint(dir, *model_, [](const std::string&) {
    return absl::InternalError("disk on fire");
  });
  EXPECT_THAT(status.message(), HasSubstr("disk on fire"));
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(fs::is_empty(root_));
}

TEST_F(CheckpointTest, ExtraFilesLandInsideTheCheckpoint) {
  const std::string dir = Dir("extra_files");
  ASSERT_TRUE(SaveCheckpoint(dir, *model_, [](const std::string& temp) {
                return WriteFileDurably(temp + "/trainer_state.json", "{}");
              }).ok());
  EXPECT_TRUE(fs::exists(dir + "/trainer_state.json"));
  EXPECT_TRUE(fs::exists(dir + "/model.safetensors"));
}

}  // namespace
}  // namespace plume::core
