"""Print the model card's RD table from an `mlic eval` output folder: per quality the model's bpp,
PSNR-RGB and MS-SSIM, and each anchor's PSNR at the same bpp (interpolated linearly in log bpp).

    python scripts/rd_table.py runs/eval-val7 [--anchors jpeg webp avif heic]
"""
import argparse
from pathlib import Path

import numpy as np

from mlic.evaluate.results import load_curve


def psnr_at(curve: dict, bpp: float) -> float | None:
    """The anchor's PSNR-RGB at ``bpp``, or None outside the bpp range it was measured over (np.interp
    would silently repeat the end point); load_curve sorts by bpp, as np.interp needs."""
    r = curve["results"]
    if not r["bpp"][0] <= bpp <= r["bpp"][-1]:
        return None
    return float(np.interp(np.log(bpp), np.log(r["bpp"]), r["psnr-rgb"]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder", type=Path)
    p.add_argument("--model", default="mlic")
    p.add_argument("--anchors", nargs="+", default=["jpeg", "webp", "avif", "heic"])
    a = p.parse_args()
    model = load_curve(a.folder / f"{a.model}.json")["results"]
    anchors = [load_curve(a.folder / f"{name}.json") for name in a.anchors]
    print("| quality | bpp | PSNR-RGB (dB) | MS-SSIM | " + " | ".join(a.anchors) + " |")
    print("|---" * (4 + len(anchors)) + "|")
    for i, bpp in enumerate(model["bpp"]):
        cols = [f"{v:.2f}" if (v := psnr_at(c, bpp)) is not None else "—" for c in anchors]
        print(f"| {model['quality'][i]:g} | {bpp:.3f} | {model['psnr-rgb'][i]:.2f} | {model['ms-ssim-rgb'][i]:.4f} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
