"""What encoder-side latent refinement (``mlic encode --refine STEPS``) buys, measured with real files.

    python benchmarks/refine_gain.py [--model mlicpp-small] [--limit 6] [--qualities 1 3 5 8] [--steps 0 40]
                                     [--out runs/refine-gain]

Every image is encoded at every quality once per step count, in one run on one machine, through the
public API (real bitstreams, padding, tiles), then decoded: bpp from the file size, PSNR-RGB on the
8-bit output. Per step count: mean bpp and PSNR per quality, the change against no refinement, the
BD-rate over the qualities (negative = fewer bits for the same PSNR), the encode time, and a plot.
Rows are appended to ``rows.jsonl`` as they finish, so a stopped run resumes where it was.
"""
import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mlic import decode_image, encode_image
from mlic.evaluate.bdrate import bd_metrics
from mlic.evaluate.metrics import psnr_8bit
from mlic._progress import progress_bar


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlicpp-small")
    p.add_argument("--images", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "val"))
    p.add_argument("--limit", type=int, default=6, help="number of images, spread evenly over the sorted list")
    p.add_argument("--qualities", type=float, nargs="+", default=[1, 3, 5, 8])
    p.add_argument("--steps", type=int, nargs="+", default=[0, 40], help="refinement step counts; 0 = plain encoder")
    p.add_argument("--out", default="runs/refine-gain")
    a = p.parse_args()
    if 0 not in a.steps:
        raise SystemExit("--steps must include 0 (the baseline)")
    files = sorted(Path(a.images).rglob("*.png"))
    if not files:
        raise SystemExit(f"no PNG images under {a.images}")
    files = files[:: max(1, len(files) // a.limit)][: a.limit]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "rows.jsonl"
    done = {}
    if rows_path.exists():
        for line in rows_path.read_text().splitlines():
            r = json.loads(line)
            done[(r["image"], r["quality"], r["steps"])] = r
    jobs = [(f, q, s) for f in files for q in a.qualities for s in a.steps]
    with rows_path.open("a") as log:
        for f, q, s in progress_bar(jobs, desc="encode+decode"):
            key = (str(f.relative_to(a.images)), q, s)
            if key in done:
                continue
            t0 = time.perf_counter()
            data = encode_image(f, q, a.model, refine_steps=s, precision="fp32")
            t1 = time.perf_counter()
            decoded = decode_image(data, a.model)
            ref = np.asarray(Image.open(f).convert("RGB"))
            row = {"image": key[0], "quality": q, "steps": s, "bpp": len(data) * 8 / (ref.shape[0] * ref.shape[1]),
                   "psnr-rgb": psnr_8bit(ref, np.asarray(decoded.convert("RGB"))), "encode_s": t1 - t0}
            done[key] = row
            log.write(json.dumps(row) + "\n")
            log.flush()

    summary = {"model": a.model, "images": [str(f.relative_to(a.images)) for f in files], "qualities": a.qualities,
               "threads": int(os.environ.get("OMP_NUM_THREADS", 0)) or None, "curves": {}, "bd_vs_plain": {}}
    for s in a.steps:
        curve = {"bpp": [], "psnr-rgb": [], "encode_s": []}
        for q in a.qualities:
            rs = [done[(str(f.relative_to(a.images)), q, s)] for f in files]
            for k in curve:
                curve[k].append(float(np.mean([r[k] for r in rs])))
        summary["curves"][str(s)] = curve
    base = summary["curves"]["0"]
    print(f"{len(files)} images, model {a.model}, qualities {a.qualities}")
    print("| steps | quality | bpp | PSNR (dB) | Δbpp | ΔPSNR (dB) | encode (s) |\n|---|---|---|---|---|---|---|")
    for s in a.steps:
        c = summary["curves"][str(s)]
        for i, q in enumerate(a.qualities):
            d_rate = (c["bpp"][i] / base["bpp"][i] - 1) * 100
            d_psnr = c["psnr-rgb"][i] - base["psnr-rgb"][i]
            print(f"| {s} | {q:g} | {c['bpp'][i]:.4f} | {c['psnr-rgb'][i]:.2f} | {d_rate:+.2f} % | {d_psnr:+.3f} | {c['encode_s'][i]:.1f} |")
    for s in a.steps:
        if s and len(a.qualities) >= 4:
            bd = bd_metrics({"results": summary["curves"][str(s)]}, {"results": base})
            summary["bd_vs_plain"][str(s)] = bd
            print(f"{s} steps against the plain encoder: BD-rate {bd['bd_rate']:+.2f} %, BD-PSNR {bd['bd_psnr']:+.3f} dB")
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(out / "summary.json")
    plot(summary, out / "refine.png")
    print(f"results in {out}/")


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for s, c in summary["curves"].items():
        ax.plot(c["bpp"], c["psnr-rgb"], "o-", label="plain encoder" if s == "0" else f"--refine {s}")
    ax.set_xlabel("bpp")
    ax.set_ylabel("PSNR-RGB (dB)")
    ax.set_title(f"{summary['model']}: latent refinement, {len(summary['images'])} images")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)


if __name__ == "__main__":
    main()
