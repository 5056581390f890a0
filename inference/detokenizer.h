// Incremental detokenisation for streaming: tokens go in one at a time, text comes out as whole
// UTF-8 characters only. Byte-level BPE tokens may end inside a character (an emoji is often two
// or three tokens), so the bytes of an unfinished character wait for the next token. Ill-formed
// bytes (which a sampled token sequence can produce) become U+FFFD, exactly as decoding the whole
// sequence at once would give, so the concatenated output is always valid UTF-8 and equals the
// one-shot decode. Special tokens produce no text.
#pragma once

#include <cstdint>
#include <string>

#include "inference/vocabulary.h"

namespace plume::inference {

class Detokenizer {
 public:
  explicit Detokenizer(const Vocabulary& vocab) : vocab_(&vocab) {}  // vocab must outlive this

  // Appends to `out` the text that `token` completes (possibly nothing).
  void Add(int32_t token, std::string* out);
  // Ends the stream: appends an unfinished trailing character as U+FFFD (nothing if none).
  void Finish(std::string* out);

  // Bytes waiting for the rest of their character (0..3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Vocabulary* vocab_;
  std::string pending_;
};

}  // namespace plume::inference
