#!/usr/bin/env bash
# Build KenLM's lmplz and build_binary from the `kenlm` source package on PyPI (the same sources the
# `kenlm` Python module compiles from), with Boost from Debian's packages.
#
#   bash benchmarks/build_kenlm.sh [DIR]      # default DIR: runs/kenlm; binaries in DIR/build/bin
#
# Needs: cmake, g++, and Debian's libboost-program-options-dev libboost-system-dev
# libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev (installed when missing,
# as root). Takes about 5-10 minutes on 2 cores.
set -euo pipefail
DIR=${1:-runs/kenlm}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$DIR"
need=(libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev cmake g++)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi
cd "$DIR"
[ -f kenlm-*.tar.gz ] || "$OLDPWD/$PY" -m pip download kenlm --no-binary :all: --no-deps -d . -q
src=$(ls -d kenlm-*/ 2>/dev/null | head -1 || true)
[ -n "$src" ] || { tar xzf kenlm-*.tar.gz; src=$(ls -d kenlm-*/ | head -1); }
mkdir -p build && cd build
cmake "../$src" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 >/dev/null
make -j"$(nproc)" lmplz build_binary query 2>&1 | tail -3
ls -l bin/lmplz bin/build_binary
