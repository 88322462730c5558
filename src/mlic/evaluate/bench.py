"""Speed and peak memory of compress/decompress against resolution (``mlic bench``).

Each size runs in a fresh process, so the peak resident memory it reports belongs to that size alone
(minus the same process's footprint right after loading the model).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..models import MLICPlusPlus
from ..models.registry import _REGISTRY, load_model


def nontrivial_model(name: str | None, device="cpu") -> MLICPlusPlus:
    """Registered weights, or — for configurations without weights — random weights made to give
    realistic latents (std(y) ≈ 3, σ ≈ 0.5–3, μ spread), as the official fixture recipe does."""
    spec = _REGISTRY.get(name or "mlicpp-official")
    if spec is None or spec.weights is not None:
        return load_model(name, device=device)
    torch.manual_seed(0)
    model = MLICPlusPlus(spec.config).eval()
    with torch.no_grad():
        x = torch.rand(1, 3, 128, 128)
        y = model.g_a(x)
        s = 3.0 / float(y.std())
        model.g_a[-1].weight.mul_(s)
        model.g_a[-1].bias.mul_(s)
        c = spec.config.slice_channels
        for sl in model.slices:
            for net in (sl.params_anchor, sl.params_nonanchor):
                last = net[-1]
                last.weight[:c].mul_(0.2)
                last.bias[:c] = torch.linspace(0.5, 3.0, c)
    model.update(force=True)
    model.name = spec.name
    return model.to(device)


def bundled_photo(device="cpu") -> tuple["np.ndarray", torch.Tensor]:
    """The bundled 768×512 photo: its 8-bit RGB array and the padded model input."""
    from importlib import resources

    import numpy as np
    from PIL import Image

    from ..codec.image import pad_to_multiple, to_tensor

    rgb = np.array(Image.open(resources.files("mlic") / "samples" / "flower.png").convert("RGB"))
    return rgb, pad_to_multiple(to_tensor(rgb, device))


def bpp_psnr(enc: dict, dec: dict, rgb) -> tuple[float, float]:
    """Bits per pixel of one image's strings (y and z, no container) and PSNR of its decoded x̂ against ``rgb``."""
    from ..codec.image import to_tensor
    from .metrics import psnr as tensor_psnr

    h, w = rgb.shape[:2]
    x_hat = dec["x_hat"][..., :h, :w].clamp(0, 1)
    psnr = float(tensor_psnr(x_hat, to_tensor(rgb, x_hat.device)))
    nbytes = len(enc["strings"][0][0]) + len(enc["strings"][1][0])
    return nbytes * 8 / (h * w), psnr


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def parse_size(text: str) -> tuple[int, int]:
    """"512x768" → (512, 768); "512" → (512, 512)."""
    h, _, w = text.lower().partition("x")
    return int(h), int(w or h)


def smooth_input(height: int, width: int, device="cpu") -> torch.Tensor:
    """The benchmarks' fixed test input: smooth random content, the same for every run."""
    torch.manual_seed(1)
    low = torch.rand(1, 3, max(1, height // 32), max(1, width // 32))
    return torch.nn.functional.interpolate(low, size=(height, width), mode="bilinear").to(device)


def measure(model, height: int, width: int, device="cpu", repeat: int = 1, quality: float = 4.0, warmup: bool = False) -> dict:
    """Best-of-``repeat`` encode and decode time. Without ``warmup`` the first run pays the one-time
    costs of a fresh process (oneDNN primitives, the bf16 weight copies, cached masks), as a single
    ``mlic encode`` does; with it, one untimed run comes first (steady state)."""
    device = torch.device(device)
    x = smooth_input(height, width, device)
    q = quality if model.config.num_rates else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    enc_t, dec_t = [], []
    with torch.no_grad():
        if warmup:
            enc = model.compress(x, q)
            model.decompress(enc["strings"], enc["shape"], q)
        for _ in range(repeat):
            _sync(device)
            t0 = time.perf_counter()
            enc = model.compress(x, q)
            _sync(device)
            t1 = time.perf_counter()
            dec = model.decompress(enc["strings"], enc["shape"], q)
            _sync(device)
            t2 = time.perf_counter()
            enc_t.append(t1 - t0)
            dec_t.append(t2 - t1)
    if not torch.equal(dec["y_hat"], enc["y_hat"]):
        raise RuntimeError("decoded latents differ from the encoder's")
    nbytes = len(enc["strings"][0][0]) + len(enc["strings"][1][0])
    row = {"height": height, "width": width, "megapixels": height * width / 1e6, "bpp": nbytes * 8 / (height * width),
           "encode_s": min(enc_t), "decode_s": min(dec_t)}  # fmt: skip
    if device.type == "cuda":
        row["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def _child(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    model = nontrivial_model(args.model, args.device)
    model.transform_precision = args.precision
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    row = measure(model, *parse_size(args.size), args.device, args.repeat, warmup=args.warmup)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    row["peak_rss_above_model_mib"] = (peak - base) / 1024
    row["precision"] = args.precision
    print(json.dumps(row))


def measure_in_child(model: str | None, height: int, width: int, device="cpu", repeat: int = 1, threads: int | None = None,
                     precision: str = "fp32", warmup: bool = False) -> dict:  # fmt: skip
    """:func:`measure` in a fresh process, so that the peak resident memory is this size's alone."""
    cmd = [sys.executable, "-m", "mlic.evaluate.bench", "--child", "--size", f"{height}x{width}", "--device", device,
           "--repeat", str(repeat), "--precision", precision]  # fmt: skip
    cmd += ["--model", model] if model else []
    cmd += ["--threads", str(threads)] if threads else []
    cmd += ["--warmup"] if warmup else []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["peak_mib"] = row.get("peak_gpu_mib", row["peak_rss_above_model_mib"])
    row["mib_per_megapixel"] = row["peak_mib"] / row["megapixels"]
    return row


def run_bench(model: str | None, sizes, output, device="cpu", repeat: int = 1, threads: int | None = None,
              precision: str = "fp32") -> list[dict]:  # fmt: skip
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'size':>11s} {'MP':>6s} {'encode s':>9s} {'decode s':>9s} {'peak MiB':>9s} {'MiB/MP':>8s}")
    for n in sizes:
        try:
            row = measure_in_child(model, n, n, device, repeat, threads, precision)
        except RuntimeError as exc:
            print(f"{n}×{n}: failed ({exc})")
            continue
        rows.append(row)
        print(f"{n:>5d}×{n:<5d} {row['megapixels']:6.2f} {row['encode_s']:9.2f} {row['decode_s']:9.2f} {row['peak_mib']:9.0f} {row['mib_per_megapixel']:8.0f}", flush=True)  # fmt: skip
    (output / "bench.json").write_text(json.dumps({"model": model or "mlicpp-official", "device": device, "precision": precision, "rows": rows}, indent=2))
    if rows:
        _plot(rows, output / "bench.png", model or "mlicpp-official", device)
    return rows


def _plot(rows, path, model, device):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mp = [r["megapixels"] for r in rows]
    mem = [r["peak_mib"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(mp, [r["encode_s"] for r in rows], "o-", label="encode")
    a.plot(mp, [r["decode_s"] for r in rows], "o-", label="decode")
    a.set_xlabel("megapixels")
    a.set_ylabel("seconds")
    a.legend()
    a.grid(alpha=0.3)
    b.plot(mp, mem, "o-")
    b.set_xlabel("megapixels")
    b.set_ylabel("peak memory above the model (MiB)")
    b.grid(alpha=0.3)
    fig.suptitle(f"{model} on {device}: time and memory grow linearly with pixels")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--child", action="store_true")
    p.add_argument("--size", help="N or HxW")
    p.add_argument("--model")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--threads", type=int)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--warmup", action="store_true")
    _child(p.parse_args())
