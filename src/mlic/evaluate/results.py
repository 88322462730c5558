"""Result files: CompressAI's JSON layout (``name``, ``description``, ``results: {bpp, psnr-rgb, ...}``).

Also reads the bundled reference files, which store ``bpp``/``psnr`` at the top level.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

METRICS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")


def load_curve(path_or_name) -> dict:
    """A result as ``{"name", "results": {"bpp": [...], "psnr-rgb": [...], ...}}`` sorted by bpp."""
    path = Path(str(path_or_name))
    if not path.exists():
        ref = reference_path(str(path_or_name))
        if ref is None:
            raise FileNotFoundError(f"no result file or bundled reference named {path_or_name!r}")
        path = ref
    data = json.loads(path.read_text())
    if "results" not in data:  # bundled reference layout
        data = {"name": data.get("name", path.stem), "description": data.get("metric", ""),
                "results": {"bpp": data["bpp"], "psnr-rgb": data["psnr"]}}  # fmt: skip
    res = data["results"]
    order = sorted(range(len(res["bpp"])), key=lambda i: res["bpp"][i])
    data["results"] = {k: [v[i] for i in order] for k, v in res.items() if isinstance(v, list) and len(v) == len(order)}
    return data


def reference_names() -> list[str]:
    folder = resources.files("mlic") / "evaluate" / "reference"
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def reference_path(name: str) -> Path | None:
    p = Path(str(resources.files("mlic") / "evaluate" / "reference" / f"{name}.json"))
    return p if p.exists() else None


def save_curve(path: Path, name: str, description: str, rows: list[dict]) -> dict:
    """Write one codec's aggregated points (one row per quality) in CompressAI's format."""
    out = {"name": name, "description": description, "results": {k: [r[k] for r in rows] for k in METRICS if k in rows[0]}}
    out["results"]["quality"] = [r["quality"] for r in rows]
    out["results"]["psnr-rgb-from-mean-mse"] = [r["psnr-rgb-from-mean-mse"] for r in rows]
    path.write_text(json.dumps(out, indent=2))
    return out
