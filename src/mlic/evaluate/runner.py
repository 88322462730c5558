"""``mlic eval``: every codec, every quality, every image — real files, measured in one run.

bpp = file bytes × 8 / original pixels. PSNR-RGB is reported as the mean over images and, as a second
figure, from the mean MSE. Classical results are cached per (codec, settings, quality, image hash),
so re-runs only redo what changed; mlic results are keyed by the model's identity too.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .._io import atomic_write_bytes
from .._progress import progress_bar
from ..train.data import list_images
from .metrics import ms_ssim, psnr_from_mse

ALL_CODECS = ("mlic", "jpeg", "webp", "avif", "heic", "jxl", "jpeg2000", "vvc")
#: Anchors of the BD-rate table, strongest first.
ANCHORS = ("vvc", "heic", "avif", "webp", "jpeg")


def _metrics(ref: np.ndarray, out: np.ndarray) -> dict:
    mse = float(np.mean((ref.astype(np.float64) - out.astype(np.float64)) ** 2))
    a = torch.from_numpy(np.array(ref)).permute(2, 0, 1)[None].float() / 255
    b = torch.from_numpy(np.array(out)).permute(2, 0, 1)[None].float() / 255
    return {"mse": mse, "psnr-rgb": psnr_from_mse(mse), "ms-ssim-rgb": float(ms_ssim(a, b)[0])}


def _load_rgb(path: Path) -> np.ndarray:
    from ..codec.image import prepare

    return prepare(path, 1 << 28).rgb


def _run_classical(task) -> list[dict]:
    codec_name, path, qualities = task
    from .classical import CODECS

    codec = CODECS[codec_name]
    rgb = _load_rgb(Path(path))
    rows = []
    for q in qualities:
        r = codec.run(rgb, q)
        rows.append(_row(codec_name, q, path, rgb, r))
    return rows


def _row(codec, quality, path, rgb, r) -> dict:
    h, w = rgb.shape[:2]
    return {"codec": codec, "quality": quality, "image": str(path), "width": w, "height": h, "bytes": r["bytes"],
            "bpp": r["bytes"] * 8 / (w * h), "encoding_time": r["encoding_time"], "decoding_time": r["decoding_time"],
            **_metrics(rgb, r["decoded"])}  # fmt: skip


class _Cache:
    def __init__(self, path: Path):
        self.path = path
        self.rows: dict[str, dict] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    item = json.loads(line)
                    self.rows[item["key"]] = item["row"]
                except (json.JSONDecodeError, KeyError):
                    continue  # a line cut by an interrupted run

    def get(self, key):
        return self.rows.get(key)

    def put(self, key, row):
        self.rows[key] = row
        with self.path.open("a") as f:
            f.write(json.dumps({"key": key, "row": row}) + "\n")


def merge_caches(source, target, codecs=None) -> int:
    """Add to the cache file ``target`` the results of ``source`` it lacks (by key; only those of
    ``codecs`` when given) and return how many. ``target`` is rewritten atomically, and only when it
    grows. Lines an interrupted run cut short are skipped on both sides, as evaluation skips them."""
    source, target = Path(source), Path(target)
    if not source.exists() or source.resolve() == target.resolve():
        return 0
    have = _Cache(target).rows
    new = {k: row for k, row in _Cache(source).rows.items() if k not in have and (codecs is None or row.get("codec") in codecs)}
    if new:
        rows = have | new
        target.parent.mkdir(parents=True, exist_ok=True)  # a first adoption names a cache folder not made yet
        atomic_write_bytes(target, "".join(json.dumps({"key": k, "row": r}) + "\n" for k, r in rows.items()).encode(), force=True)
    return len(new)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def evaluate(dataset, output, codecs=ALL_CODECS, qualities: dict | None = None, model=None, workers: int = 1,
             device: str = "cpu", limit: int | None = None, progress: bool = True, precision: str = "auto",
             refine_steps: int = 0) -> dict:  # fmt: skip
    """Run the evaluation; writes ``per_image.csv``, one ``<codec>.json`` per codec and ``summary.json``.

    ``precision`` is that of g_a/g_s for mlic ("auto" resolves to what this machine runs natively);
    ``refine_steps`` that of the mlic encoder's latent refinement (``mlic encode --refine``). Both are
    part of the cache key and of the result's description."""
    from ..codec import container, decode_image, encode_image, get_model
    from ..models import model_fingerprint
    from ..models.mlicpp import fast_precision
    from ..models.refine import ALGORITHM as REFINE_ALGORITHM
    from .classical import CODECS

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    images = list_images([dataset])[:limit]
    hashes = {p: _sha(p) for p in images}
    cache = _Cache(output / "cache.jsonl")
    qualities = dict(qualities or {})
    rows: list[dict] = []
    unknown = [c for c in codecs if c not in ALL_CODECS]
    if unknown:
        raise ValueError(f"unknown codec(s) {', '.join(unknown)}; choose from {', '.join(ALL_CODECS)}")

    descriptions = {}
    # Classical codecs: one task per (codec, image), in parallel processes.
    tasks = []
    for name in codecs:
        if name == "mlic":
            continue
        codec = CODECS[name]
        descriptions[name] = codec.settings
        qs = tuple(qualities.get(name, codec.qualities))
        for p in images:
            missing = []
            for q in qs:
                key = f"{name}|{codec.settings}|{q}|{hashes[p]}"
                hit = cache.get(key)
                if hit is not None:
                    rows.append(dict(hit, image=str(p)))
                else:
                    missing.append((q, key))
            if missing:  # only the qualities not in the cache
                tasks.append(((name, str(p), tuple(q for q, _ in missing)), [k for _, k in missing]))
    bar = progress_bar(total=len(tasks), desc="classical codecs", disable=not progress or not tasks, dynamic_ncols=True)
    if workers > 1 and tasks:
        # One torch thread per worker: the workers are the parallelism, and workers × cores threads
        # spinning on the metric computations would oversubscribe the CPU.
        with ProcessPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            for (task, keys), result in zip(tasks, pool.map(_run_classical, [t for t, _ in tasks])):
                _store(cache, keys, result, rows)
                bar.update(1)
    else:
        for task, keys in tasks:
            _store(cache, keys, _run_classical(task), rows)
            bar.update(1)
    bar.close()

    if "mlic" in codecs:
        net = get_model(model, device)
        ident = model_fingerprint(net).hex()
        if precision == "auto":
            precision = fast_precision(device)
        qs = tuple(qualities.get("mlic", range(1, net.config.num_rates + 1) if net.variable_rate else [None]))
        descriptions["mlic"] = f"mlic {getattr(net, 'name', 'custom')} (id {ident}), real .mlic files, device {device}, transforms {precision}"
        # The file format is part of the key: the same model and settings give other files in another
        # format (3.0 leaves out padding-only latents and has a smaller container; 2.0 keys had no format part).
        fmt_version = f"{container.VERSION_MAJOR}.{container.VERSION_MINOR}"
        key_suffix = (f"|refine{refine_steps}|{REFINE_ALGORITHM}" if refine_steps else "") + f"|format{fmt_version}"
        descriptions["mlic"] += f", format {fmt_version}"
        if refine_steps:
            descriptions["mlic"] += f", encoder refinement {refine_steps} steps"
        for p in progress_bar(images, desc="mlic", disable=not progress, dynamic_ncols=True):
            rgb = None
            for q in qs:
                key = f"mlic|{ident}|{precision}|{q}|{hashes[p]}{key_suffix}"
                row = cache.get(key)
                if row is None:
                    if rgb is None:
                        rgb = _load_rgb(p)
                    t0 = time.perf_counter()
                    data = encode_image(Image.fromarray(rgb), q, net, device=device, precision=precision, refine_steps=refine_steps)
                    t1 = time.perf_counter()
                    out = np.asarray(decode_image(data, net, device=device, precision=precision).convert("RGB"))
                    t2 = time.perf_counter()
                    row = _row("mlic", q, p, rgb, {"bytes": len(data), "decoded": out, "encoding_time": t1 - t0, "decoding_time": t2 - t1})
                    cache.put(key, row)
                rows.append(dict(row, image=str(p)))

    return _write(output, rows, descriptions, images)


def _store(cache, keys, result, rows):
    for key, row in zip(keys, result):
        cache.put(key, row)
        rows.append(row)


def _write(output: Path, rows: list[dict], descriptions: dict, images) -> dict:
    from .results import save_curve

    fields = ["codec", "quality", "image", "width", "height", "bytes", "bpp", "psnr-rgb", "mse", "ms-ssim-rgb", "encoding_time", "decoding_time"]
    with (output / "per_image.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    curves = {}
    for codec in dict.fromkeys(r["codec"] for r in rows):
        points = []
        for q in dict.fromkeys(r["quality"] for r in rows if r["codec"] == codec):
            sel = [r for r in rows if r["codec"] == codec and r["quality"] == q]
            mean_mse = float(np.mean([r["mse"] for r in sel]))
            points.append({"quality": q, "bpp": float(np.mean([r["bpp"] for r in sel])), "psnr-rgb": float(np.mean([r["psnr-rgb"] for r in sel])),
                           "psnr-rgb-from-mean-mse": psnr_from_mse(mean_mse),
                           "ms-ssim-rgb": float(np.mean([r["ms-ssim-rgb"] for r in sel])),
                           "encoding_time": float(np.mean([r["encoding_time"] for r in sel])),
                           "decoding_time": float(np.mean([r["decoding_time"] for r in sel]))})  # fmt: skip
        points.sort(key=lambda p: p["bpp"])
        curves[codec] = save_curve(output / f"{codec}.json", codec, descriptions.get(codec, ""), points)
    summary = {"images": len(images), "codecs": {c: descriptions.get(c, "") for c in curves}, "bd": bd_table(curves)}
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    return {"curves": curves, "summary": summary}


def bd_table(curves: dict, anchors=ANCHORS) -> dict:
    from .bdrate import bd_metrics

    table = {}
    for test in curves:
        for anchor in anchors:
            if anchor in curves and anchor != test:
                try:
                    table.setdefault(test, {})[anchor] = bd_metrics(curves[test], curves[anchor])
                except ValueError as exc:
                    table.setdefault(test, {})[anchor] = {"bd_rate": float("nan"), "note": str(exc)}
    return table


def format_bd_table(table: dict) -> str:
    present = {a for row in table.values() for a in row}
    anchors = [a for a in ANCHORS if a in present]
    lines = ["BD-rate (%, PSNR-RGB, Akima) of each codec against each anchor; negative = fewer bits", f"{'codec':10s}" + "".join(f"{a:>10s}" for a in anchors)]
    for test, row in table.items():
        cells = []
        for a in anchors:
            v = row.get(a, {}).get("bd_rate", float("nan")) if a in row else float("nan")
            cells.append(f"{v:10.2f}" if math.isfinite(v) else f"{'—' if a == test else 'n/a':>10s}")
        lines.append(f"{test:10s}" + "".join(cells))
    return "\n".join(lines)
