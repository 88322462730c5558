"""Print the model card's RD table from an `mlic eval` output folder: per quality the model's bpp,
PSNR-RGB and MS-SSIM, and each anchor's PSNR at the same bpp (interpolated linearly in log bpp).
With --previous an earlier model's curve is one more anchor; with --gain the anchor columns show the
model's PSNR minus the anchor's (dB at equal rate) instead, the card's "PSNR at equal rate" figures.

    python scripts/rd_table.py runs/eval-val7 [--anchors jpeg webp avif heic]
    python scripts/rd_table.py runs/eval-val20 --anchors webp --previous <earlier mlic.json> --gain
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


def cell(psnr, anchor_psnr, gain):
    """One anchor column: its PSNR at our rate, or with `gain` ours minus it; "—" outside its range."""
    if anchor_psnr is None:
        return "—"
    return f"{psnr - anchor_psnr:+.2f}" if gain else f"{anchor_psnr:.2f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder", type=Path)
    p.add_argument("--model", default="mlic")
    p.add_argument("--anchors", nargs="+", default=["jpeg", "webp", "avif", "heic"])
    p.add_argument("--previous", type=Path, help="an earlier model's mlic.json, shown as one more anchor")
    p.add_argument("--gain", action="store_true", help="show the model's PSNR minus each anchor's, in dB")
    a = p.parse_args()
    model = load_curve(a.folder / f"{a.model}.json")["results"]
    names = a.anchors + (["previous"] if a.previous else [])
    anchors = [load_curve(a.folder / f"{name}.json") for name in a.anchors]
    if a.previous:
        anchors.append(load_curve(a.previous))
    print("| quality | bpp | PSNR-RGB (dB) | MS-SSIM | " + " | ".join(names) + " |")
    print("|---" * (4 + len(anchors)) + "|")
    for i, bpp in enumerate(model["bpp"]):
        psnr = model["psnr-rgb"][i]
        cols = [cell(psnr, psnr_at(c, bpp), a.gain) for c in anchors]
        print(f"| {model['quality'][i]:g} | {bpp:.3f} | {psnr:.2f} | {model['ms-ssim-rgb'][i]:.4f} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
