#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the embedded default
# end to end. Everything it writes goes under runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BIN=${PLUME_BUILD_DIR:-build}
RUN=runs/demo
mkdir -p "$RUN"

echo "== 1. a randomly initialised model from configs/model/tiny.yaml"
rm -rf "$RUN/random-init"
"$BIN/core/plume-model" init --config configs/model/tiny.yaml --out "$RUN/random-init" --seed 1

echo "== 2. load it back from its checkpoint directory"
"$BIN/core/plume-model" inspect "$RUN/random-init"
ls -l "$RUN/random-init"
