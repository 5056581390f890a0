#!/usr/bin/env bash
# Runs a libFuzzer binary for a few seconds on a scratch copy of its seed corpus.
#   run_fuzzer.sh <fuzzer> <seed-corpus-dir> <seconds> [dictionary]
set -euo pipefail
fuzzer=$1 seeds=$2 seconds=$3 dict=${4:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds"/. "$work"/ 2>/dev/null || true
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
[[ -n "$dict" && -f "$dict" ]] && args+=(-dict="$dict")
cd "$work"
exec "$fuzzer" "${args[@]}" "$work"
