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

echo "== 1/4 corpora: the King James Bible (bible-kjv-text) and fortune cookies (fortunes), held-out parts set aside"
scripts/prepare_demo_corpora.sh "$RUN/data"

echo "== 2/4 pre-train a 5.3M-parameter GPT-2 on the KJV (configs/train/demo-pretrain.yaml, ~3 min)"
"$BIN/trainer/plume-train" --config configs/train/demo-pretrain.yaml
BASE=$(ls -d "$RUN"/pretrain/checkpoints/step-* | sort | tail -1)

echo "== 3/4 fine-tune it on fortunes (configs/train/demo-finetune.yaml, ~2 min)"
"$BIN/trainer/plume-train" --config configs/train/demo-finetune.yaml --init "$BASE"
TUNED=$(ls -d "$RUN"/finetune/checkpoints/step-* | sort | tail -1)

echo "== 4/4 evaluate both on the held-out KJV chapters and fortunes (plume-eval, lm-evaluation-harness metrics)"
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
