#!/usr/bin/env bash
# Make what scripts/train_on_gpu.sh needs on a borrowed GPU machine that has no network and only
# python3 + PyTorch, within the 64 MiB that travel with the working tree:
#   data/train-subset-b  810 of the 1,080 training images (every fourth dropped, so the same 810 each
#                        time), 256-pixel short side, JPEG q90: ≈ 31 MB
#   .whl/                constriction wheels for CPython 3.10–3.14 (the GPU image's Python has changed
#                        between sessions; train_on_gpu.sh installs the one that fits)
# and print the size of what will travel. Run it here, then carry data/train-subset-b and .whl (both
# git-ignored; see docs/training.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
FULL=data/train-subset
SUBSET=data/train-subset-b
if [ ! -d "$FULL" ]; then
  [ -d ../shared/data/train ] || { echo "no training images in ../shared/data/train" >&2; exit 2; }
  "$PY" scripts/make_train_subset.py ../shared/data/train "$FULL" --short 256 --quality 90
fi
if [ ! -d "$SUBSET" ]; then
  rm -rf "$SUBSET.tmp" && mkdir -p "$SUBSET.tmp"
  i=0
  while IFS= read -r name; do
    [ $((i % 4)) -ne 3 ] && cp "$FULL/$name" "$SUBSET.tmp/"
    i=$((i + 1))
  done < <(ls "$FULL" | LC_ALL=C sort)
  mv "$SUBSET.tmp" "$SUBSET"
fi
mkdir -p .whl
for v in 3.10 3.11 3.12 3.13 3.14; do
  "$PY" -m pip download -q constriction --no-deps --only-binary=:all: --python-version "$v" \
    --platform manylinux2014_x86_64 -d .whl 2>/dev/null || echo "no constriction wheel for Python $v" >&2
done
echo "training images: $(ls "$SUBSET" | wc -l) in $SUBSET"
tracked=$(git ls-files -z | xargs -0 du -cb | tail -n 1 | cut -f 1)
extra=$(du -sb "$SUBSET" .whl | awk '{s += $1} END {print s}')
echo "travels: $(( (tracked + extra) / 1048576 )) MiB of 64 (tracked files $((tracked / 1048576)), subset + wheels $((extra / 1048576)))"
[ $((tracked + extra)) -le $((64 * 1048576)) ] || { echo "over the 64 MiB transfer limit" >&2; exit 1; }
