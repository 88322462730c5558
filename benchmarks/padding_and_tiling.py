"""Which padding costs the fewest bits, what tiling costs in rate, and peak memory on large photos.

    python benchmarks/padding_and_tiling.py padding ../shared/data/val/cbsd68 --limit 20
    python benchmarks/padding_and_tiling.py tiling ../shared/data/highres/flower_foveon.png ../shared/data/highres/artificial.png
    python benchmarks/padding_and_tiling.py memory ../shared/data/highres/DJI_0042.JPG ../shared/data/highres/DJI_0050.JPG

All numbers are real .mlic files from the shipped model (quality 4 unless --quality).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

import mlic
from mlic.codec.image import prepare
from mlic.train.data import list_images


def psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return 10 * np.log10(255**2 / mse)


def padding(args):
    files = list_images([args.inputs[0]])[: args.limit]
    res = {}
    for mode in ("replicate", "reflect", "constant"):
        bpp, q = [], []
        for f in files:
            rgb = prepare(f, 1 << 28).rgb
            data = mlic.encode_image(Image.fromarray(rgb), args.quality, pad_mode=mode)
            bpp.append(len(data) * 8 / (rgb.shape[0] * rgb.shape[1]))
            q.append(psnr(mlic.decode_image(data), rgb))
        res[mode] = {"bpp": float(np.mean(bpp)), "psnr": float(np.mean(q))}
        print(f"{mode:10s} bpp {res[mode]['bpp']:.4f}  PSNR {res[mode]['psnr']:.3f} dB  ({len(files)} images, quality {args.quality})", flush=True)
    best = min(res, key=lambda m: res[m]["bpp"])
    print(f"fewest bits: {best} ({100 * (res['constant']['bpp'] / res[best]['bpp'] - 1):+.2f} % for zero padding)")
    return res


def tiling(args):
    out = {}
    for f in args.inputs:
        rgb = prepare(f, 1 << 28).rgb
        rows = {}
        for tile in (args.tile, 1 << 14):
            t = time.perf_counter()
            data = mlic.encode_image(Image.fromarray(rgb), args.quality, tile_size=tile)
            rows[tile] = {"bpp": len(data) * 8 / (rgb.shape[0] * rgb.shape[1]), "psnr": psnr(mlic.decode_image(data), rgb), "seconds": time.perf_counter() - t}
        a, b = rows[args.tile], rows[1 << 14]
        print(f"{os.path.basename(f)} {rgb.shape[1]}×{rgb.shape[0]}: tiles of {args.tile}: {a['bpp']:.4f} bpp {a['psnr']:.2f} dB; "
              f"one tile: {b['bpp']:.4f} bpp {b['psnr']:.2f} dB; tiling costs {100 * (a['bpp'] / b['bpp'] - 1):+.2f} % rate", flush=True)  # fmt: skip
        out[f] = rows
    return out


# Runs the CLI in a fresh process and reports that process's own peak resident memory.
_CHILD = ("import resource, sys; from mlic.cli import main; rc = main(sys.argv[1:]); "
          "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")


def memory(args):
    out = {}
    for f in args.inputs:
        with tempfile.TemporaryDirectory() as tmp:
            enc_out, dec_out = os.path.join(tmp, "x.mlic"), os.path.join(tmp, "x.png")
            peaks = {}
            for name, cmd in (("encode", ["encode", f, "-o", enc_out, "-q", str(args.quality)]), ("decode", ["decode", enc_out, "-o", dec_out])):
                t = time.perf_counter()
                proc = subprocess.run([sys.executable, "-c", _CHILD, *cmd], check=True, capture_output=True, text=True)
                rss = int(proc.stderr.strip().splitlines()[-1].split()[-1])
                peaks[name] = {"seconds": time.perf_counter() - t, "peak_rss_mib": rss / 1024}
            w, h = Image.open(f).size
            print(f"{os.path.basename(f)} {w}×{h}: encode {peaks['encode']['seconds']:.1f} s, peak {peaks['encode']['peak_rss_mib']:.0f} MiB; "
                  f"decode {peaks['decode']['seconds']:.1f} s, peak {peaks['decode']['peak_rss_mib']:.0f} MiB; "
                  f"{os.path.getsize(enc_out) * 8 / (w * h):.4f} bpp", flush=True)  # fmt: skip
            out[f] = peaks
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["padding", "tiling", "memory"])
    p.add_argument("inputs", nargs="+")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--quality", type=float, default=4.0)
    p.add_argument("--tile", type=int, default=1024)
    p.add_argument("--json")
    a = p.parse_args()
    r = {"padding": padding, "tiling": tiling, "memory": memory}[a.what](a)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(r, fh, indent=2, default=str)
