"""Cross-machine decoding: how often does another machine's arithmetic flip a table index, and does
index reconciliation recover every file?

For each validation image (cropped to a multiple of 64), encode with the shipped model on this CPU and
decode under arithmetic that differs from the encoder's:

* ``1 thread``: the symbol path on 1 thread instead of the pinned 2 (other reduction order);
* ``float64``: the whole decoder in float64 (as different as arithmetic gets);
* ``worst case``: in every checkerboard half the 2 σ closest to an index boundary pushed across it,
  plus 1e-6 relative noise on all σ (``mlic.models.perturb.other_machine``).

A half "needs reconciliation" when its first decode fails its CRC: a format-1.0 file (no
reconciliation) would have failed to decode there. Results go to JSON.

    python benchmarks/determinism.py --limit 20 --json runs/determinism.json
"""
import argparse
import copy
import glob
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mlic.errors import DesyncError
from mlic.models import mlicpp
from mlic.models.perturb import other_machine
from mlic.models.registry import load_model
from mlic._progress import progress_bar

SHARED_VAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val"


def load(path):
    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[0] // 64 * 64, img.shape[1] // 64 * 64
    return torch.from_numpy(img[:h, :w].copy()).permute(2, 0, 1)[None].float() / 255


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlicpp-small")
    p.add_argument("--quality", type=float, default=4.0)
    p.add_argument("--limit", type=int, default=0, help="images (0 = all)")
    p.add_argument("--json")
    a = p.parse_args()
    files = sorted(glob.glob(str(SHARED_VAL / "*" / "*.png")))
    if a.limit:
        files = files[:: max(1, len(files) // a.limit)][: a.limit]
    model = load_model(a.model)
    wide = copy.deepcopy(model).double()
    worst, stats = other_machine(model, relative=1e-6, mirror=2)
    variants = {"same machine": (model, 2), "1 thread": (model, 1), "float64": (wide, 2), "worst case": (worst, 2)}
    r = {k: {"halves_reconciled": 0, "files_needing_reconciliation": 0, "failed": 0, "decode_s": 0.0, "tries": 0, "max_tries": 0} for k in variants}
    total_bytes = 0
    for f in progress_bar(files):
        x = load(f)
        enc = model.compress(x, a.quality)
        total_bytes += len(enc["strings"][0][0]) + len(enc["strings"][1][0])
        for name, (net, threads) in variants.items():
            mlicpp.SYMBOL_PATH_THREADS = threads
            t = time.perf_counter()
            try:
                out = net.decompress(enc["strings"], enc["shape"], a.quality, checksums=enc["checksums"])
                # One wrong symbol moves ŷ by about 1; the means differ only by rounding.
                if not bool((out["y_hat"].double() - enc["y_hat"].double()).abs().max() < 1e-3):
                    r[name]["failed"] += 1
                r[name]["halves_reconciled"] += out["reconciled"]
                r[name]["tries"] += out["reconcile_tries"]
                r[name]["max_tries"] = max(r[name]["max_tries"], out["reconcile_tries"])
                r[name]["files_needing_reconciliation"] += out["reconciled"] > 0
            except DesyncError:
                r[name]["failed"] += 1
            r[name]["decode_s"] += time.perf_counter() - t
            mlicpp.SYMBOL_PATH_THREADS = 2
    r["worst case"]["forced_flips"] = stats["flips"]
    halves = len(files) * 2 * model.config.num_slices
    print(f"\n{len(files)} images ({halves} halves), quality {a.quality}, {total_bytes} stream bytes")
    for name, v in r.items():
        print(f"  {name:12s}: files needing reconciliation {v['files_needing_reconciliation']:3d}, halves {v['halves_reconciled']:4d}, "
              f"failed {v['failed']}, re-decodes {v['tries']} (at most {v['max_tries']} in one file), decode {v['decode_s'] / len(files):.3f} s/image" + (f", forced flips {v['forced_flips']}" if "forced_flips" in v else ""))  # fmt: skip
    results = {"stream_bytes": total_bytes, "variants": r}
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"model": a.model, "quality": a.quality, "images": len(files), **results}, indent=2))


if __name__ == "__main__":
    main()
