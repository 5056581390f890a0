#include "inference/detokenizer.h"

#include "core/utf8.h"

namespace plume::inference {

void Detokenizer::Add(int32_t token, std::string* out) {
  if (vocab_->IsSpecial(token)) return;
  const absl::string_view bytes = vocab_->TokenBytes(token);
  if (pending_.empty()) {
    const size_t used = core::AppendCompleteUtf8(bytes, /*final=*/false, out);
    pending_.assign(bytes.data() + used, bytes.size() - used);
    return;
  }
  pending_.append(bytes.data(), bytes.size());
  const size_t used = core::AppendCompleteUtf8(pending_, /*final=*/false, out);
  pending_.erase(0, used);
}

void Detokenizer::Finish(std::string* out) {
  core::AppendCompleteUtf8(pending_, /*final=*/true, out);
  pending_.clear();
}

}  // namespace plume::inference
