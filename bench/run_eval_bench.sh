#!/usr/bin/env bash
# plume-eval scoring throughput against the same workload in PyTorch eager (Debian's
# python3-torch), same shapes, threads and batch sizes, in one run. Prints both and the ratios.
#   bench/run_eval_bench.sh [threads] [extra eval_bench/pytorch_eval flags, e.g. --windows 8]
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
shift || true
BIN=${PLUME_BUILD_DIR:-build}/bench/eval_bench
plume=$("$BIN" --threads "$THREADS" "$@")
echo "$plume"
ref=$(/usr/bin/python3 bench/reference/pytorch_eval.py --threads "$THREADS" "$@")
echo "$ref"
echo "$plume" | while read -r _ shape batch tps _; do
  r=$(echo "$ref" | awk -v s="$shape" -v b="$batch" '$2==s && $3==b {sub("tokens_per_sec=","",$4); print $4}')
  awk -v s="$shape" -v b="$batch" -v p="${tps#tokens_per_sec=}" -v r="$r" \
    'BEGIN {printf "ratio %s %s plume/pytorch=%.2fx\n", s, b, p / r}'
done
