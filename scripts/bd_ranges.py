"""BD-rates of the model in an `mlic eval` folder against each anchor, over all its qualities and over a
subset of them (e.g. the levels an earlier model also had, for a like-for-like comparison), and
optionally against an earlier model's curve. Writes the numbers as JSON.

    python scripts/bd_ranges.py runs/eval-val10 --qualities 3 4 5 6 7 8 \\
        --previous <earlier mlic.json> -o docs/training-logs/eval-val-bd-ranges.json
"""
import argparse
import json
from pathlib import Path

from mlic.evaluate.bdrate import bd_metrics
from mlic.evaluate.results import load_curve


def subset(curve: dict, qualities) -> dict:
    r = curve["results"]
    keep = [i for i, q in enumerate(r["quality"]) if q in set(qualities)]
    return {"name": curve["name"], "results": {k: [v[i] for i in keep] for k, v in r.items()}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder", type=Path)
    p.add_argument("--model", default="mlic")
    p.add_argument("--anchors", nargs="+", default=["jpeg", "webp", "avif", "heic"])
    p.add_argument("--qualities", nargs="+", type=float, required=True, help="the subset of the model's qualities")
    p.add_argument("--previous", help="an earlier model's mlic.json, compared against the subset")
    p.add_argument("-o", "--output", type=Path)
    a = p.parse_args()
    model = load_curve(a.folder / f"{a.model}.json")
    part = subset(model, a.qualities)
    label = "q" + ",".join(f"{q:g}" for q in a.qualities)
    out = {}
    for name in a.anchors:
        anchor = load_curve(a.folder / f"{name}.json")
        out[name] = {"all": bd_metrics(model, anchor), label: bd_metrics(part, anchor)}
        print(f"{name:6s} all {out[name]['all']['bd_rate']:+.2f} % ({out[name]['all']['bd_psnr']:+.3f} dB)"
              f"   {label} {out[name][label]['bd_rate']:+.2f} % ({out[name][label]['bd_psnr']:+.3f} dB)")
    if a.previous:
        out[f"previous_{label}"] = prev = bd_metrics(part, load_curve(a.previous))
        print(f"{label} against {a.previous}: {prev['bd_rate']:+.2f} % ({prev['bd_psnr']:+.3f} dB)")
    if a.output:
        a.output.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
