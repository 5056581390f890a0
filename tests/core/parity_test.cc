// Parity of Plume's GPT-2 with an independent PyTorch reference (tests/reference/
// gpt2_reference.py): both directions through model.safetensors, logits within 1e-4.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>

#include "core/checkpoint.h"
#include "core/gpt.h"
#include "tests/test_util.h"

namespace plume::core {
namespace {

using plume::testing::RunCommand;
using plume::testing::TempDir;

const std::string kScript = std::string(PLUME_SOURCE_DIR) + "/tests/reference/gpt2_reference.py";

torch::Tensor ReadTensor(const std::string& path, const std::string& name) {
  auto file = SafetensorsFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  const SafetensorsEntry* entry = file->Find(name);
  EXPECT_NE(entry, nullptr) << name;
  const auto dtype = entry->dtype == SafetensorsDtype::kI64 ? torch::kInt64 : torch::kFloat32;
  auto t = torch::empty(entry->shape, dtype);
  std::memcpy(t.data_ptr(), file->Data(*entry).data(), file->Data(*entry).size());
  return t;
}

void WriteIds(const std::string& path, const torch::Tensor& ids) {
  ASSERT_TRUE(WriteSafetensors(path, {{"ids", SafetensorsDtype::kI64, ids.sizes().vec(),
                                       ids.data_ptr(), static_cast<size_t>(ids.nbytes())}})
                  .ok());
}

TEST(ParityTest, PlumeCheckpointMatchesReferenceLogits) {
  TempDir tmp("parity_plume");
  torch::manual_seed(42);
  GptConfig config;
  config.n_layer = 3;
  config.n_head = 4;
  config.n_embd = 64;
  config.n_positions = 128;
  config.vocab_size = 320;
  Gpt model(config);
  {
    // Non-trivial LayerNorm parameters and biases, so every tensor matters.
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) {
      if (p.dim() == 1) p.add_(torch::randn_like(p) * 0.1);
    }
  }
  model->eval();
  ASSERT_TRUE(SaveCheckpoint(tmp / "ckpt", *model).ok());
  auto ids = torch::randint(0, config.vocab_size, {2, 64}, torch::kInt64);
  WriteIds(tmp / "ids.safetensors", ids);
  auto result = RunCommand(std::string(plume::testing::kDebianPython) + " " + kScript +
                           " logits --checkpoint " + (tmp / "ckpt") + " --ids " +
                           (tmp / "ids.safetensors") + " --out " + (tmp / "ref.safetensors"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  torch::NoGradGuard no_grad;
  auto ours = model->forward(ids);
  auto reference = ReadTensor(tmp / "ref.safetensors", "logits");
  ASSERT_EQ(ours.sizes(), reference.sizes());
  const double max_diff = (ours - reference).abs().max().item<double>();
  EXPECT_LT(max_diff, 1e-4) << "max |plume - reference| = " << max_diff;
  EXPECT_GT(reference.abs().max().item<double>(), 0.1);  // not a degenerate comparison
}

class ReferenceToPlumeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceToPlumeTest, ReferenceCheckpointLoadsInPlume) {
  TempDir tmp("parity_ref");
  auto result = RunCommand(std::string(plume::testing::kDebianPython) + " " + kScript +
                           " make-model --out " + (tmp / "ckpt") + " --ids " +
                           (tmp / "ids.safetensors") + " --logits " + (tmp / "ref.safetensors") +
                           " --dtype " + GetParam());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto model = LoadModel(tmp / "ckpt");
  ASSERT_TRUE(model.ok()) << model.status();
  auto ids = ReadTensor(tmp / "ids.safetensors", "ids");
  auto reference = ReadTensor(tmp / "ref.safetensors", "logits");
  torch::NoGradGuard no_grad;
  auto ours = (*model)->forward(ids);
  ASSERT_EQ(ours.sizes(), reference.sizes());
  const double max_diff = (ours - reference).abs().max().item<double>();
  EXPECT_LT(max_diff, 1e-4) << "max |plume - reference| = " << max_diff;
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ReferenceToPlumeTest, ::testing::Values("F32", "F16", "BF16"));

}  // namespace
}  // namespace plume::core
