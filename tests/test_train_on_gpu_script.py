"""scripts/train_on_gpu.sh, the one prepared command of a lent GPU's minutes, run here on the CPU with a tiny
model for a few seconds: a mistake in it would otherwise show only on the GPU machine, with its budget spent."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from mlic.models.registry import load_weights

ROOT = Path(__file__).resolve().parents[1]


def test_it_trains_and_writes_the_weights_and_their_average_in_parts(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (8, 9, 3), dtype=np.uint8)).resize((300, 256), Image.BICUBIC).save(data / f"{i}.png")
    out, work = tmp_path / "out", tmp_path / "work"
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(out), WORK=str(work), DATA=str(data), MODEL="mlicpp-tiny",
               FROM_SCRATCH="1", TRAIN_SECONDS="3", BATCH="1", WORKERS="0", WARMUP="1", EMA="0.9", BENCH="0",
               CROSS_IMAGES=str(tmp_path / "none"), OMP_NUM_THREADS="1")
    run = subprocess.run(["bash", str(ROOT / "scripts" / "train_on_gpu.sh")], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    final = json.loads((out / "final.json").read_text())
    assert final["step"] >= 1 and not final["interrupted"]
    for folder, key in ((out, "weights_sha256"), (out / "ema", "ema_weights_sha256")):
        parts = sorted(folder.glob("model.safetensors.part*"))
        assert parts, f"no parts in {folder}"
        whole = b"".join(p.read_bytes() for p in parts)
        assert hashlib.sha256(whole).hexdigest() == final[key]
        (folder / "joined.safetensors").write_bytes(whole)
        assert load_weights(folder / "joined.safetensors").config.N == 32  # the tiny model, loadable
    assert (out / "log.csv").read_text().startswith("step,")
