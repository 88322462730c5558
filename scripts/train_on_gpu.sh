#!/usr/bin/env bash
# Continue (or start) training the default model on a GPU machine for a fixed time budget.
#
#   OUT=runs/gpu TRAIN_SECONDS=540 bash scripts/train_on_gpu.sh
#
# Needs a training subset made by scripts/make_train_subset.py (data/train-subset, or the 31 MB
# data/train-subset-b, small enough to travel with the working tree). Starts from the shipped weights
# when they exist. Writes the exported weights (also split into ≤15 MiB parts for transfer), the log
# and, unless BENCH=0, a GPU speed benchmark of the official configuration (fp32 and bf16, 512×768 and
# 4K) into $OUT. With the validation images copied to data/val-copy (mkdir -p data/val-copy && cp
# ../shared/data/val/*/*.png data/val-copy/, ≈ 23 MB) it also encodes them on the GPU for the GPU → CPU
# decoding check.
#
# Training itself runs in runs/gpu-train (ignored by git, so it stays on a machine that is still warm):
# CONTINUE=1 on a second call starts from the weights the previous call left there instead of the
# shipped ones, so a budget can be spent in several calls without carrying weights back and forth.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if ! "$PY" -c "import constriction" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then  # missing on the GPU image
  # .whl may hold constriction wheels for several Pythons (the GPU image's Python has changed between
  # sessions); --find-links lets pip pick the one that fits this interpreter.
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    --find-links .whl constriction
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ "${TRAIN:-1}" != 0 ]; then  # TRAIN=0: only the speed table and the cross-device files
  WORK=${WORK:-runs/gpu-train}
  INIT=()
  INIT_WEIGHTS=${INIT_WEIGHTS:-src/mlic/weights/mlicpp-small.safetensors}
  if [ -n "${CONTINUE:-}" ]; then
    [ -f "$WORK/model.safetensors" ] || { echo "CONTINUE=1 but no $WORK/model.safetensors here (the machine was not warm)" >&2; exit 1; }
    rm -rf "$WORK.previous" && mv "$WORK" "$WORK.previous"
    INIT_WEIGHTS=$WORK.previous/model.safetensors
  else
    rm -rf "$WORK"
  fi
  if [ -f "$INIT_WEIGHTS" ] && [ -z "${FROM_SCRATCH:-}" ]; then
    INIT=(--init "$INIT_WEIGHTS")
    echo "starting from $INIT_WEIGHTS"
  fi
  # QUALITY_WEIGHTS="1 1 1 1 1 2 2 2": how often each quality level is drawn (default uniform)
  QW=()
  [ -z "${QUALITY_WEIGHTS:-}" ] || read -r -a QW <<<"--quality-weights $QUALITY_WEIGHTS"
  # EMA=0.999: also keep a moving average of the weights; its parts go to $OUT/ema/ (adopt_weights.py $OUT/ema)
  EMAARGS=()
  [ -z "${EMA:-}" ] || EMAARGS=(--ema "$EMA")
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
  # The progress bar goes to a file: the command's output tail is all that comes back, keep it readable.
  $PY -m mlic.train --data "${DATA:-data/train-subset}" --model "${MODEL:-mlicpp-small}" "${INIT[@]}" \
    --time-limit "${TRAIN_SECONDS:-540}" --steps 10000000 --batch-size "${BATCH:-32}" --patch-size 256 \
    --max-short-side 256 --cache --workers "${WORKERS:-12}" --amp --lr "${LR:-2e-4}" --aux-lr "${AUX_LR:-1e-3}" --warmup-steps "${WARMUP:-300}" \
    --milestones 0.8 0.94 --save-every 2000 "${QW[@]}" "${EMAARGS[@]}" --out "$WORK" 2>"$OUT/progress.log" && rc=0 || rc=$?
  tr '\r' '\n' <"$OUT/progress.log" | grep -v '^train:' | tail -n 30 || true
  [ "$rc" = 0 ] || { echo "training failed (exit $rc); full log in progress.log" >&2; exit "$rc"; }
  split -b 15m -d "$WORK/model.safetensors" "$OUT/model.safetensors.part"
  if [ -n "${EMA:-}" ]; then
    mkdir -p "$OUT/ema" && split -b 15m -d "$WORK/model-ema.safetensors" "$OUT/ema/model.safetensors.part"
  fi
  cp "$WORK/log.csv" "$WORK/final.json" "$OUT/"
fi
if [ "${BENCH:-1}" != 0 ]; then
  timeout "${BENCH_SECONDS:-120}" $PY benchmarks/codec_speed.py --device "${DEVICE:-cuda}" --model mlicpp-official --size 512x768 2160x3840 \
    --precision fp32 bf16 --repeat 2 --json "$OUT/bench_gpu_official.json" || true
fi
if [ -d "${CROSS_IMAGES:-data/val-copy}" ]; then  # GPU encode → CPU decode (issue #7): decode back home with
  # python benchmarks/cross_device.py decode --dir <files_at>/cross
  timeout "${CROSS_SECONDS:-120}" $PY benchmarks/cross_device.py encode --device "${DEVICE:-cuda}" --images "${CROSS_IMAGES:-data/val-copy}" --out "$OUT/cross" || true
fi
