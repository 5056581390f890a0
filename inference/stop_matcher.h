// Stop strings on streamed text. Text arrives in pieces (whole UTF-8 characters from the
// Detokenizer); a stop string may span pieces. The matcher releases only text that can no longer
// be part of a stop string: a tail that could be the start of one is held back until the next
// piece shows whether it is (then it is dropped with everything after it) or not (then it is
// released). So stop text is never emitted, not even partially.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace plume::inference {

class StopMatcher {
 public:
  // Stop strings must be non-empty (SamplingParams::Validate); none = everything passes through.
  explicit StopMatcher(std::vector<std::string> stops);

  // Feeds `text` and appends to `out` what is safe to emit. Returns true when a stop string has
  // completed: `out` then got the text before it, and the matcher ignores further input.
  bool Add(absl::string_view text, std::string* out);
  // End of the stream without a stop: appends the held-back text.
  void Flush(std::string* out);

  bool stopped() const { return stopped_index_ >= 0; }
  // Index in the constructor's list of the stop string that matched, or -1.
  int stopped_index() const { return stopped_index_; }
  size_t held_bytes() const { return held_.size(); }

 private:
  std::vector<std::string> stops_;
  std::string held_;  // text not yet emitted: a possible stop-string prefix
  int stopped_index_ = -1;
};

}  // namespace plume::inference
