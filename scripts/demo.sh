#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the embedded default
# end to end. Everything it writes goes under runs/demo/ (removed and rebuilt on each run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BIN=${PLUME_BUILD_DIR:-build}
RUN=runs/demo
rm -rf "$RUN/pretrain" "$RUN/finetune" "$RUN/eval"
mkdir -p "$RUN"

echo "== 1/5 corpora: the King James Bible (bible-kjv-text) and fortune cookies (fortunes), held-out parts set aside"
scripts/prepare_demo_corpora.sh "$RUN/data"

echo "== 2/5 pre-train a 5.3M-parameter GPT-2 on the KJV (configs/train/demo-pretrain.yaml, ~3 min)"
"$BIN/trainer/plume-train" --config configs/train/demo-pretrain.yaml
BASE=$(ls -d "$RUN"/pretrain/checkpoints/step-* | sort | tail -1)

echo "== 3/5 fine-tune it on fortunes (configs/train/demo-finetune.yaml, ~2 min)"
"$BIN/trainer/plume-train" --config configs/train/demo-finetune.yaml --init "$BASE"
TUNED=$(ls -d "$RUN"/finetune/checkpoints/step-* | sort | tail -1)

echo "== 4/5 evaluate both on the held-out KJV chapters and fortunes (plume-eval, lm-evaluation-harness metrics)"
"$BIN/trainer/plume-eval" --checkpoint "$BASE" --checkpoint "$TUNED" \
  --corpus "$RUN/data/kjv-heldout.txt" --corpus "$RUN/data/fortunes-heldout.txt" \
  --document_separator '\n%\n' \
  --prompt "And the LORD said unto Moses," --prompt "You will" --prompt "A computer is" \
  --max_new_tokens 24 --output_dir "$RUN/eval"

echo
echo "base checkpoint:       $BASE"
echo "fine-tuned checkpoint: $TUNED"
"$BIN/core/plume-model" inspect "$TUNED"
echo "evaluation report:     $RUN/eval/report.html (metrics and provenance: $RUN/eval/eval.json)"

echo
echo "== 5/5 serve it: plume-serve on a free loopback port, a completion streamed by plume-complete"
SERVE_OUT="$RUN/serve.out"
SERVE_LOG="$RUN/serve.log"
"$BIN/services/plume-serve" --config configs/serve/demo.yaml --checkpoint "$TUNED" \
  >"$SERVE_OUT" 2>"$SERVE_LOG" &
SERVE_PID=$!
trap 'kill -TERM "$SERVE_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 1200); do
  grep -q "^listening on " "$SERVE_OUT" 2>/dev/null && break
  if ! kill -0 "$SERVE_PID" 2>/dev/null; then
    echo "plume-serve did not start:" >&2
    cat "$SERVE_LOG" >&2
    exit 1
  fi
  sleep 0.1
done
ADDR=$(sed -n 's/^listening on //p' "$SERVE_OUT")
[[ -n "$ADDR" ]] || { echo "plume-serve is not listening after 120 s" >&2; cat "$SERVE_LOG" >&2; exit 1; }
echo "plume-serve is listening on $ADDR ($(grep -o 'metrics on [^ ]*' "$SERVE_LOG"))"
# A 5M-parameter model trained for minutes: expect fortune-cookie-shaped text, not wisdom.
echo "\$ plume-complete --server=$ADDR --max_tokens 80 --temperature 0.7 --top_k 40 --repetition_penalty 1.2 --seed 7 \"You will\""
echo
"$BIN/services/plume-complete" --server="$ADDR" --max_tokens 80 --temperature 0.7 --top_k 40 \
  --repetition_penalty 1.2 --seed 7 "You will"
echo
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
trap - EXIT
echo "plume-serve stopped cleanly (SIGTERM); its request log: $SERVE_LOG"
