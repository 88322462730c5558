"""How much of a fully coded latent grid describes padding only (what format 3.0 stops coding).

    python benchmarks/padding_latents.py [--model mlicpp-small] [--every 10] [--qualities 1 4 8]
    python benchmarks/padding_latents.py --margins 0 8 16 32 --images foreman.png coastguard.png 101085.png --qualities 8

For every tenth validation image (sorted), the eval-mode forward pass of the padded image gives each
latent position's estimated bits; the positions outside :func:`mlic.models.region.coded_region` (with
its margin) are the ones a format-3.0 file leaves out. Prints, per quality, their share of the grid
and of the bits. Estimates from the likelihoods, not files: ``mlic eval`` measures the real files.

``--margins``: real files (encode_image/decode_image, float32) of the named images with the region's
margin set to each value in turn, against full coding (format 2.0's choice): bpp and PSNR-RGB. This is
how ``region.MARGIN`` was chosen.
"""
import argparse
import glob

import numpy as np
import torch
from PIL import Image

import mlic
from mlic.codec.api import get_model
from mlic.codec.image import pad_to_multiple, prepare, to_tensor
from mlic.models import region
from mlic.models.region import coded_region


def compare_margins(net, paths, qualities, margins):
    saved = region.MARGIN
    try:
        for path in paths:
            rgb = np.asarray(Image.open(path).convert("RGB"))
            for q in qualities:
                cells = []
                for m in [None, *margins]:
                    region.MARGIN = 1 << 20 if m is None else m  # a margin past any grid codes everything
                    data = mlic.encode_image(Image.fromarray(rgb), q, net, precision="fp32")
                    out = np.asarray(mlic.decode_image(data, net, precision="fp32").convert("RGB"), dtype=np.float64)
                    psnr = 10 * np.log10(255**2 / ((out - rgb) ** 2).mean())
                    cells.append(f"{'full' if m is None else f'margin {m}'}: {len(data) * 8 / rgb.shape[0] / rgb.shape[1]:.4f} bpp {psnr:.3f} dB")
                print(f"{path.split('/')[-1]} {rgb.shape[1]}×{rgb.shape[0]} q{q:g}: " + " | ".join(cells), flush=True)
    finally:
        region.MARGIN = saved


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlicpp-small")
    p.add_argument("--data", default="../shared/data/val")
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--qualities", type=float, nargs="+", default=[1, 4, 8])
    p.add_argument("--margins", type=int, nargs="+", help="compare real files with these region margins (pixels)")
    p.add_argument("--images", nargs="+", help="file names in --data for --margins (default: every --every-th)")
    a = p.parse_args()
    net = get_model(a.model)
    every = sorted(glob.glob(f"{a.data}/**/*.png", recursive=True))
    if a.margins:
        named = [next(q for q in every if q.endswith("/" + n)) for n in a.images] if a.images else every[:: a.every]
        compare_margins(net, named, a.qualities, a.margins)
        return
    paths = every[:: a.every]
    print(f"{len(paths)} images: {', '.join(q.split('/')[-1] for q in paths)}")
    for q in a.qualities:
        left_bits = all_bits = left_positions = all_positions = 0.0
        for path in paths:
            rgb = prepare(path, 1 << 28).rgb
            x = pad_to_multiple(to_tensor(rgb), 64, "replicate")
            with torch.no_grad():
                out = net(x, quality=q)
            bits = (-torch.log2(out["likelihoods"]["y"])).sum(1)[0]  # H×W
            z_bits = (-torch.log2(out["likelihoods"]["z"])).sum().item()
            mask = coded_region(bits.shape[0], bits.shape[1], rgb.shape[:2])
            coded = bits.sum().item() if mask is None else bits[mask[0, 0]].sum().item()
            left_bits += bits.sum().item() - coded
            all_bits += bits.sum().item() + z_bits
            left_positions += bits.numel() - (bits.numel() if mask is None else int(mask.sum()))
            all_positions += bits.numel()
        print(f"quality {q:g}: positions left out {100 * left_positions / all_positions:.1f} % of the grid, "
              f"carrying {100 * left_bits / all_bits:.2f} % of the estimated bits (y and z)")  # fmt: skip


if __name__ == "__main__":
    main()
