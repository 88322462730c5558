"""Bjøntegaard delta rate and PSNR, via the ``bjontegaard`` package, over the overlapping range."""
from __future__ import annotations

import numpy as np

DEFAULT_METHOD = "akima"  # piecewise cubic (Akima) interpolation, as in the package's recommended use


def _points(curve: dict, metric: str):
    r = curve["results"]
    rate, dist = np.asarray(r["bpp"], float), np.asarray(r[metric], float)
    keep = np.isfinite(rate) & np.isfinite(dist) & (rate > 0)
    rate, dist = rate[keep], dist[keep]
    # BD integrals need strictly monotonic curves: drop points that do not improve on the previous one.
    order = np.argsort(rate)
    rate, dist = rate[order], dist[order]
    mono = [0]
    for i in range(1, len(rate)):
        if dist[i] > dist[mono[-1]] and rate[i] > rate[mono[-1]]:
            mono.append(i)
    return rate[mono], dist[mono]


def bd_metrics(test: dict, anchor: dict, metric: str = "psnr-rgb", method: str = DEFAULT_METHOD) -> dict:
    """BD-rate (%) and BD-PSNR (dB) of ``test`` against ``anchor``; negative BD-rate = fewer bits."""
    import bjontegaard as bd

    ra, da = _points(anchor, metric)
    rt, dt = _points(test, metric)
    if len(ra) < 4 or len(rt) < 4:
        raise ValueError("BD metrics need at least 4 monotonic points per curve")
    lo, hi = max(da.min(), dt.min()), min(da.max(), dt.max())
    if lo >= hi:
        return {"bd_rate": float("nan"), "bd_psnr": float("nan"), "method": method, "overlap": None, "note": "curves do not overlap in quality"}
    kw = dict(method=method, require_matching_points=False, min_overlap=0.0)
    return {
        "bd_rate": float(bd.bd_rate(ra, da, rt, dt, **kw)),
        "bd_psnr": float(bd.bd_psnr(ra, da, rt, dt, **kw)),
        "method": method,
        "overlap": [float(lo), float(hi)],
    }
