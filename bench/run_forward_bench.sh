#!/usr/bin/env bash
# Forward throughput (no grad, 256 tokens of context): Plume's Gpt::forward against the same
# model in PyTorch eager (Debian's python3-torch), same threads, in one run; prints the ratios.
#   bench/run_forward_bench.sh [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
BIN=${PLUME_BUILD_DIR:-build}/bench/forward_bench
plume=$("$BIN" --threads "$THREADS")
echo "$plume"
ref=$(/usr/bin/python3 bench/reference/pytorch_forward.py --threads "$THREADS")
echo "$ref"
paste <(echo "$plume") <(echo "$ref") | awk '{ split($4, p, "="); split($8, r, "="); printf "ratio %s %s plume/pytorch=%.2fx\n", $2, $3, p[2] / r[2] }'
