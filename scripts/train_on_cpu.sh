#!/usr/bin/env bash
# Continue training the shipped model on this machine's CPUs, in the background, resumably.
#
#   bash scripts/train_on_cpu.sh                      # start; or resume when $OUT holds a checkpoint
#   OUT=runs/cpu TRAIN_SECONDS=7800 bash scripts/train_on_cpu.sh
#   tail -f runs/cpu/train.log                        # progress
#   kill "$(cat runs/cpu/pid)"                        # stop: finishes the step, saves, exits
#   python scripts/adopt_weights.py runs/cpu [--adopt]   # compare with the shipped model, ship if better
#
# bfloat16 autocast (--amp) where the CPU computes bf16 natively (AVX512-BF16/AMX): ×1.50 faster steps
# on the 2-core development machine (benchmarks/train_speed.py). The learning-rate schedule follows
# elapsed time (TRAIN_SECONDS), so a resumed run keeps its schedule. Training data: DATA, or a
# 256-pixel subset of ../shared/data/train made on first use (scripts/make_train_subset.py).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/cpu}
DATA=${DATA:-data/train-subset}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
if [ ! -d "$DATA" ]; then
  [ -d ../shared/data/train ] || { echo "no training images: set DATA=<folder of images>" >&2; exit 2; }
  "$PY" scripts/make_train_subset.py ../shared/data/train "$DATA" --short 256 --quality 90
fi
if [ -f "$OUT/pid" ] && kill -0 "$(cat "$OUT/pid")" 2>/dev/null; then
  echo "already training in $OUT (pid $(cat "$OUT/pid"))" >&2; exit 1
fi
mkdir -p "$OUT"
AMP=()
if [ "$("$PY" -c 'from mlic.models.mlicpp import fast_precision; print(fast_precision("cpu"))')" = bf16 ]; then
  AMP=(--amp)
fi
VALARGS=()
if [ -d "${VAL:-../shared/data/val/cbsd68}" ]; then
  VALARGS=(--val "${VAL:-../shared/data/val/cbsd68}" --val-limit 4 --val-every 1000)
fi
# INIT: a registered model, a .safetensors file, or a previous run's checkpoint.pt (weights + Adam moments;
# then WARMUP=0 may do). WARMUP: warm-up steps (default 100).
# QUALITY_WEIGHTS="1 1 1 1 1 2 2 2": how often each quality level is drawn (default uniform)
# EMA=0.999: also keep a moving average of the weights, exported as $OUT/model-ema.safetensors
QW=()
[ -z "${QUALITY_WEIGHTS:-}" ] || read -r -a QW <<<"--quality-weights $QUALITY_WEIGHTS"
EMAARGS=()
[ -z "${EMA:-}" ] || EMAARGS=(--ema "$EMA")
THREADS=${THREADS:-$(nproc)}
nohup "$PY" -m mlic train --data "$DATA" --cache --workers 0 --out "$OUT" --resume \
  --init "${INIT:-mlicpp-small}" "${VALARGS[@]}" \
  --steps 100000000 --time-limit "${TRAIN_SECONDS:-7800}" --batch-size "${BATCH:-4}" --patch-size 256 "${AMP[@]}" "${QW[@]}" "${EMAARGS[@]}" \
  --lr "${LR:-1e-4}" --aux-lr "${AUX_LR:-1e-3}" --warmup-steps "${WARMUP:-100}" --milestones 0.8 0.94 --threads "$THREADS" --save-every 250 --seed "${SEED:-11}" \
  > "$OUT/train.log" 2>&1 &
echo $! > "$OUT/pid"
echo "training in the background: pid $!, log $OUT/train.log, ${AMP[*]:-fp32}, $THREADS threads"
