#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the embedded default
# end to end. Everything it writes goes under runs/demo/ (removed and rebuilt on each run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BIN=${PLUME_BUILD_DIR:-build}
RUN=runs/demo
rm -rf "$RUN/pretrain" "$RUN/finetune"
mkdir -p "$RUN"

echo "== 1/3 corpora: the King James Bible (bible-kjv-text) and fortune cookies (fortunes)"
scripts/prepare_demo_corpora.sh "$RUN/data"

echo "== 2/3 pre-train a 5.3M-parameter GPT-2 on the KJV (configs/train/demo-pretrain.yaml, ~3 min)"
"$BIN/trainer/plume-train" --config configs/train/demo-pretrain.yaml
BASE=$(ls -d "$RUN"/pretrain/checkpoints/step-* | sort | tail -1)

echo "== 3/3 fine-tune it on fortunes (configs/train/demo-finetune.yaml, ~2 min)"
"$BIN/trainer/plume-train" --config configs/train/demo-finetune.yaml --init "$BASE"
TUNED=$(ls -d "$RUN"/finetune/checkpoints/step-* | sort | tail -1)

echo
echo "base checkpoint:       $BASE"
echo "fine-tuned checkpoint: $TUNED"
"$BIN/core/plume-model" inspect "$TUNED"
