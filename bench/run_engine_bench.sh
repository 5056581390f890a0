#!/usr/bin/env bash
# One command for the engine's speed claims: builds engine_bench if needed, runs it (memory
# bandwidth, prefill, decode at 1/4/16/64 streams, fp32 and bf16 weights), then the same greedy
# decode loop in PyTorch eager on the same weights and threads, and prints the ratios and goals.
#   bench/run_engine_bench.sh [engine_bench flags...]      (PLUME_THREADS: threads, default all)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${PLUME_BUILD_DIR:-build}
THREADS=${PLUME_THREADS:-$(nproc)}
if [[ ! -x "$BUILD_DIR/bench/engine_bench" ]]; then
  [[ -f "$BUILD_DIR/build.ninja" ]] || cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build "$BUILD_DIR" --target engine_bench
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BUILD_DIR/bench/engine_bench" --threads "$THREADS" --json "$tmp/plume.json" \
  --checkpoint "$tmp/ckpt" "$@"
/usr/bin/python3 bench/reference/pytorch_decode.py --plume-json "$tmp/plume.json" \
  --checkpoint "$tmp/ckpt" --threads "$THREADS" --bf16
