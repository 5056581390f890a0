#include "inference/stop_matcher.h"

#include <algorithm>

namespace plume::inference {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

bool StopMatcher::Add(absl::string_view text, std::string* out) {
  if (stopped()) return true;
  if (stops_.empty()) {
    out->append(text.data(), text.size());
    return false;
  }
  held_.append(text.data(), text.size());
  // The earliest occurrence of any stop string wins (ties: the first listed).
  size_t first = std::string::npos;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t at = held_.find(stops_[i]);
    if (at < first) {
      first = at;
      stopped_index_ = static_cast<int>(i);
    }
  }
  if (first != std::string::npos) {
    out->append(held_, 0, first);
    held_.clear();
    return true;
  }
  // Hold back the longest tail of held_ that is a proper prefix of some stop string. Stop strings
  // are valid UTF-8, so such a tail starts at a character boundary.
  size_t keep = 0;
  for (const std::string& stop : stops_) {
    const size_t longest = std::min(stop.size() - 1, held_.size());
    for (size_t n = longest; n > keep; --n) {
      if (absl::string_view(held_).substr(held_.size() - n) ==
          absl::string_view(stop).substr(0, n)) {
        keep = n;
        break;
      }
    }
  }
  out->append(held_, 0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return false;
}

void StopMatcher::Flush(std::string* out) {
  if (stopped()) return;
  out->append(held_);
  held_.clear();
}

}  // namespace plume::inference
