#!/usr/bin/env bash
# Training-step throughput: Plume's TrainStep against the same step in PyTorch eager (Debian's
# python3-torch), same shapes, same threads, in one run. Prints both and the ratio.
#   bench/run_train_bench.sh [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
BIN=${PLUME_BUILD_DIR:-build}/bench/train_step_bench
plume=$("$BIN" --threads "$THREADS")
echo "$plume"
ref=$(/usr/bin/python3 bench/reference/pytorch_train_step.py --threads "$THREADS")
echo "$ref"
for shape in tiny gpt2-124M; do
  p=$(echo "$plume" | awk -v s="$shape" '$1=="plume" && $2==s {sub("tokens_per_sec=","",$3); print $3}')
  r=$(echo "$ref" | awk -v s="$shape" '$1=="pytorch" && $2==s {sub("tokens_per_sec=","",$3); print $3}')
  awk -v s="$shape" -v p="$p" -v r="$r" 'BEGIN {printf "ratio %s plume/pytorch=%.2fx\n", s, p / r}'
done
