#!/usr/bin/env bash
# Build KenLM's lmplz and build_binary (and query) from the `kenlm` source package on PyPI (the same
# sources the `kenlm` Python module compiles from), with Debian's cmake and Boost. Only KenLM is
# compiled: the sdist is fetched with `pip download --no-build-isolation`, so pip does not build the
# package's build requirements (CMake from source took > 6 minutes); if pip is missing, the sdist is
# fetched from PyPI's JSON API with Python's urllib.
#
#   bash benchmarks/build_kenlm.sh [DIR]      # default DIR: runs/kenlm; binaries in DIR/build/bin
#
# Needs: cmake, g++, and Debian's libboost-program-options-dev libboost-system-dev
# libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev (installed when missing,
# as root). Only the three targets are built (not the tests, not the Python module).
# Measured (2026-12-08, 2 cores shared with other jobs, load ~8, Debian packages already installed):
# sdist download 4 s, lmplz + build_binary + query built in 299 s (see benchmarks/fusion.md).
set -euo pipefail
DIR=${1:-runs/kenlm}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=$(command -v python3)
case "$PY" in /*) ;; *) PY="$PWD/$PY" ;; esac
mkdir -p "$DIR"
need=(libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev cmake g++ make)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
cd "$DIR"
start=$(date +%s)
if ! ls kenlm-*.tar.gz >/dev/null 2>&1; then
  "$PY" -m pip download kenlm --no-binary :all: --no-deps --no-build-isolation -d . -q 2>/dev/null || \
  "$PY" - <<'PYEOF'
import json, urllib.request
meta = json.load(urllib.request.urlopen("https://pypi.org/pypi/kenlm/json"))
sdist = [u for u in meta["urls"] if u["packagetype"] == "sdist"][0]
urllib.request.urlretrieve(sdist["url"], sdist["filename"])
PYEOF
fi
tarball=$(ls kenlm-*.tar.gz | head -1)
src=${tarball%.tar.gz}
[ -d "$src" ] || tar xzf "$tarball"
mkdir -p build && cd build
cmake "../$src" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 -DCOMPILE_TESTS=OFF >/dev/null
make -j"$(nproc)" lmplz build_binary query 2>&1 | tail -3
ls -l bin/lmplz bin/build_binary
echo "built in $(( $(date +%s) - start )) s" >&2
