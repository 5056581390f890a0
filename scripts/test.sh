#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test (unit,
# reference parity, fuzz smoke runs, end-to-end) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BUILD_DIR=${PLUME_BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure -j "${PLUME_JOBS:-$(nproc)}" "$@"
