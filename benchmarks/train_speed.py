"""Training step time, float32 against bfloat16 autocast (`mlic train --amp`), side by side in one run.

    python benchmarks/train_speed.py [--model mlicpp-small] [--batch-size 4] [--patch-size 256] [--steps 6]
                                     [--device cpu] [--json runs/train_speed.json]

A step is exactly what `mlic train` does per batch (Trainer.train_step: forward with a random quality
per sample, rate–distortion loss, backward, clipping, Adam, auxiliary step), on real-looking crops
from the bundled photo. The two precisions alternate step by step, so drift of a noisy machine hits
both; the first step of each is a warm-up and not counted. Reports the median.
"""
import argparse
import json
import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mlic.train.loop import Trainer, build_parser


def crops(batch: int, patch: int, steps: int, seed: int = 0) -> list[torch.Tensor]:
    rgb = np.asarray(Image.open(resources.files("mlic") / "samples" / "flower.png").convert("RGB"))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        tiles = []
        for _ in range(batch):
            y, x = rng.integers(0, rgb.shape[0] - patch + 1), rng.integers(0, rgb.shape[1] - patch + 1)
            tiles.append(torch.from_numpy(rgb[y : y + patch, x : x + patch].copy()).permute(2, 0, 1).float() / 255)
        out.append(torch.stack(tiles))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlicpp-small", help="registered name or weight file (trained weights: realistic rates)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--patch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=6, help="timed steps per precision (plus one warm-up)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", help="write the measurements here")
    a = p.parse_args()
    batches = crops(a.batch_size, a.patch_size, a.steps + 1)
    with tempfile.TemporaryDirectory() as tmp:
        Image.new("RGB", (a.patch_size, a.patch_size)).save(Path(tmp) / "blank.png")  # the Trainer wants a data folder
        trainers = {}
        for prec in ("fp32", "bf16"):
            argv = ["--data", tmp, "--out", str(Path(tmp) / prec), "--init", a.model, "--batch-size", str(a.batch_size),
                    "--patch-size", str(a.patch_size), "--device", a.device, "--warmup-steps", "0"]  # fmt: skip
            argv += ["--amp"] if prec == "bf16" else []
            argv += ["--threads", str(a.threads)] if a.threads else []
            args = build_parser().parse_args(argv)
            trainers[prec] = Trainer(args)
        times = {prec: [] for prec in trainers}
        for i, x in enumerate(batches):
            for prec, trainer in trainers.items():
                if a.device.startswith("cuda"):
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                trainer.train_step(x)
                if a.device.startswith("cuda"):
                    torch.cuda.synchronize()
                if i:  # step 0 builds kernels and optimiser state
                    times[prec].append(time.perf_counter() - t0)
    med = {prec: statistics.median(t) for prec, t in times.items()}
    px = a.batch_size * a.patch_size**2
    print(f"model {a.model}, batch {a.batch_size} × {a.patch_size}², device {a.device}, {torch.get_num_threads()} threads")
    for prec, m in med.items():
        print(f"{prec}: {m:.3f} s/step (median of {len(times[prec])}), {px / m / 1e3:.0f} kpx/s")
    print(f"bf16 autocast vs fp32: ×{med['fp32'] / med['bf16']:.2f} faster steps")
    if a.json:
        Path(a.json).write_text(json.dumps({"args": vars(a), "seconds": times, "median_s": med}, indent=2))


if __name__ == "__main__":
    main()
