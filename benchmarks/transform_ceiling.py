"""How close each quality gets to what the transforms alone can reconstruct.

    python benchmarks/transform_ceiling.py [--model mlicpp-small ...] [--images ../shared/data/val] [--limit 8]

For each model and quality: PSNR-RGB of g_s(g_a(x)) with the latent left unquantized (the
"ceiling": the best any rate could give with these transforms), against the PSNR of the eval-mode
forward (quantized latent, means and latent residual prediction: what the decoder reconstructs), and
the rate the forward's likelihoods estimate. When the coded PSNR at the top quality sits just below the
ceiling, more bits cannot buy quality: the analysis/synthesis transforms are the limit, not the
entropy model, and that is where training must go. Images: every k-th PNG of the folder (sorted), so
`--limit` spreads over its sub-folders.
"""
import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mlic.codec.image import pad_to_multiple, to_tensor
from mlic.evaluate.metrics import psnr
from mlic.models.registry import load_model
from mlic.train.loss import bits_per_pixel


def cropped_psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    h, w = x.shape[-2:]
    return float(psnr(x_hat[..., :h, :w].clamp(0, 1), x))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", nargs="+", default=["mlicpp-small"], help="registered names or weight files")
    p.add_argument("--images", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "val"))
    p.add_argument("--limit", type=int, default=8, help="number of images, spread evenly over the sorted list")
    p.add_argument("--qualities", type=float, nargs="+", default=None, help="default: every trained level")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args()
    files = sorted(Path(a.images).rglob("*.png"))
    if not files:
        raise SystemExit(f"no PNG images under {a.images}")
    step = max(1, len(files) // a.limit)
    files = files[::step][: a.limit]
    images = [to_tensor(np.array(Image.open(f).convert("RGB"))) for f in files]
    print(f"{len(files)} images from {a.images}, {torch.get_num_threads()} threads")
    results = {}
    for name in a.model:
        model = load_model(name)
        qualities = a.qualities or list(range(1, (model.config.num_rates or 1) + 1))
        rows = []
        with torch.no_grad():
            for q in qualities:
                q = q if model.config.num_rates else None
                ceiling, coded, bpp = [], [], []
                for x in images:
                    xp = pad_to_multiple(x)
                    y, gains = model._analysis(xp, q)
                    ceiling.append(cropped_psnr(model._synthesis(y, gains), x))
                    out = model(xp, quality=q)
                    coded.append(cropped_psnr(out["x_hat"], x))
                    bpp.append(float(bits_per_pixel(out["likelihoods"], x.shape[-2] * x.shape[-1])))
                rows.append({"quality": q, "bpp_estimated": float(np.mean(bpp)), "psnr_coded": float(np.mean(coded)),
                             "psnr_unquantized": float(np.mean(ceiling))})
        results[str(name)] = rows
        print(f"\n{name}\n| quality | bpp (estimated) | PSNR coded (dB) | PSNR unquantized (dB) | gap (dB) |\n|---|---|---|---|---|")
        for r in rows:
            gap = r["psnr_unquantized"] - r["psnr_coded"]
            q = "—" if r["quality"] is None else f"{r['quality']:g}"
            print(f"| {q} | {r['bpp_estimated']:.3f} | {r['psnr_coded']:.2f} | {r['psnr_unquantized']:.2f} | {gap:.2f} |")
        if not all(math.isfinite(r["psnr_coded"]) for r in rows):
            raise SystemExit("non-finite PSNR: the model is broken")
    if a.json:
        Path(a.json).write_text(json.dumps({"images": [str(f.relative_to(a.images)) for f in files], "results": results}, indent=1))


if __name__ == "__main__":
    main()
