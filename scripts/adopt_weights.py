"""After a training run: measure its weights against the shipped model on the validation images with
real bitstreams, and (with --adopt) ship them if they are better. The run folder is either a GPU
run's output (`scripts/train_on_gpu.sh`: the weights in ≤15 MiB parts, reassembled here) or any
`mlic train` output folder holding model.safetensors (e.g. `scripts/train_on_cpu.sh`), or one weight
file (a run's `model-ema.safetensors`, written by `mlic train --ema`).

    python scripts/adopt_weights.py <run folder>           # evaluate + compare
    python scripts/adopt_weights.py <run folder> --adopt   # ... and replace the shipped weights

    # the model-card run: the classical codecs too (from an earlier `mlic eval --codecs
    # jpeg,webp,avif,heic` folder's cache), against the stored evaluation of the shipped file
    python scripts/adopt_weights.py runs/cpu-run13 --out runs/eval-val13 \\
        --classical runs/eval-classical/cache.jsonl \\
        --previous docs/training-logs/eval-val-mlic.json --adopt

    # on a new checkout, where no cache survives (runs/ is not kept): the classical codecs' stored
    # curves of the model-card run (docs/training-logs/eval-val-{jpeg,webp,avif,heic}.json) instead
    python scripts/adopt_weights.py runs/cpu-run26 --out runs/eval-val26 \\
        --anchor-curves docs/training-logs --previous docs/training-logs/eval-val-mlic.json

What is evaluated is the float16 file that would ship (exported first, as `mlicpp-small-fp16.safetensors`
in the output folder), and --adopt copies exactly those bytes: the numbers belong to the file users get.

"Better" means a BD-rate (PSNR-RGB) against the shipped model below −``--min-gain`` % (default 0.5:
the float16 rounding of the shipped file alone measured −0.07 % for identical weights, on 2
validation images with `--limit 2`). The anchor is either a fresh evaluation of the shipped file in the
same run, or (--previous) a stored one: that halves the time, and is fair because the transforms are
evaluated in float32 by default (--precision fp32), the reference arithmetic, whose bitstreams and
PSNR do not depend on which CPU made them; `auto` would pick bfloat16 on CPUs with native bf16, and a
stored float32 evaluation would then no longer be comparable.
The shipped file's SHA-256 must then go into docs/models.md (tests/models/test_shipped_model.py checks
it) together with the new RD numbers (`python scripts/rd_table.py <out>`).
"""
import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from mlic.evaluate.runner import merge_caches

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "mlic" / "weights" / "mlicpp-small.safetensors"
VAL = ROOT.parent / "shared" / "data" / "val"
CLASSICAL = ("jpeg", "webp", "avif", "heic")


def mlic(*args):
    subprocess.run([sys.executable, "-m", "mlic", *map(str, args)], check=True)


def export_half(run: Path, out: Path) -> tuple[Path, str]:
    """The run's float32 weights as the float16 file that would ship; returns (path, sha256)."""
    from mlic.models.registry import load_weights, save_weights

    if run.is_file():  # a weight file itself, e.g. a run's model-ema.safetensors
        source = run.read_bytes()
    else:
        parts = sorted(run.glob("model.safetensors.part*"))
        source = b"".join(part.read_bytes() for part in parts) if parts else (run / "model.safetensors").read_bytes()
    full = out / "candidate.safetensors"
    full.write_bytes(source)
    half = out / "mlicpp-small-fp16.safetensors"
    sha = save_weights(load_weights(full).eval(), half, "mlicpp-small", half=True)
    return half, sha


def stored_anchor_curves(folder: Path) -> dict[str, Path]:
    """The classical codecs' stored curves in ``folder``, checked before the long evaluation starts."""
    paths = {name: folder / f"eval-val-{name}.json" for name in CLASSICAL}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise SystemExit(f"--anchor-curves {folder}: missing {', '.join(missing)}")
    return paths


def copy_anchor_curves(paths: dict[str, Path], out: Path) -> None:
    """Put the stored curves into ``out`` as `mlic eval` would have written them, and the summary and
    plot of all the curves: the folder then reads like one evaluation of every codec."""
    from mlic.evaluate.plot import plot_rd
    from mlic.evaluate.results import load_curve
    from mlic.evaluate.runner import bd_table

    for name, path in paths.items():
        shutil.copyfile(path, out / f"{name}.json")
    curves = {name: load_curve(out / f"{name}.json") for name in (*paths, "mlic")}
    summary = json.loads((out / "summary.json").read_text())
    summary["codecs"] = {name: curve.get("description", "") for name, curve in curves.items()}
    summary["bd"] = bd_table(curves)
    summary["anchor_curves"] = {name: str(path) for name, path in paths.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_rd([str(out / f"{c}.json") for c in ("mlic", *paths)], out / "rd.png")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run", help="folder holding model.safetensors.part00, part01, ... (or model.safetensors), or a weight file (e.g. a run's model-ema.safetensors)")
    p.add_argument("--images", default=str(VAL))
    p.add_argument("--limit", type=int, default=0, help="images to evaluate (0 = all)")
    p.add_argument("--out", default=str(ROOT / "runs" / "adopt"))
    p.add_argument("--previous", help="a stored evaluation of the shipped file (mlic.json) to compare with, instead of evaluating it again")
    p.add_argument("--classical", help="an evaluation cache (cache.jsonl) holding the classical codecs' results: evaluate them too, plot, print BD-rates against each")
    p.add_argument("--anchor-curves", type=Path, metavar="DIR",
                   help="a folder holding the classical codecs' curves of an earlier run on the same images as "
                        "eval-val-{jpeg,webp,avif,heic}.json (docs/training-logs): plot and print BD-rates against "
                        "them without coding them again (their encoders are deterministic)")
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32")
    p.add_argument("--workers", type=int, default=2, help="processes for classical codecs missing from the cache")
    p.add_argument("--adopt", action="store_true")
    p.add_argument("--min-gain", type=float, default=0.5, help="BD-rate gain (%%) needed to adopt")
    a = p.parse_args()
    if a.previous and a.limit:
        p.error("--previous is an evaluation of all the images: with --limit the comparison would mean nothing")
    if a.anchor_curves and (a.limit or a.classical or Path(a.images).resolve() != VAL):
        p.error("--anchor-curves holds curves of all the validation images: not with --limit, --images or --classical")
    anchor_curves = stored_anchor_curves(a.anchor_curves) if a.anchor_curves else None
    run, out = Path(a.run), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    weights, sha = export_half(run, out)
    print(f"candidate (float16, as it would ship): {weights}, sha256 {sha}")

    limit = ["--limit", a.limit] if a.limit else []
    common = ["--precision", a.precision, *limit]
    codecs = ["mlic"]
    if a.classical:
        # merged, not replaced: the folder's own entries (e.g. an interrupted run's) stay usable
        merge_caches(a.classical, out / "cache.jsonl")
        codecs += CLASSICAL
        common += ["--plot", "--workers", a.workers]
    mlic("eval", a.images, "-o", out, "--codecs", ",".join(codecs), "--model", weights, *common)
    if a.classical:
        # and back: without this every evaluation coded the same missing tasks again (216 image × codec
        # tasks, 1,646 files, 2.5–4 minutes, in sessions 10 and 11). The model's own results stay out:
        # they belong to one candidate's weights.
        grown = merge_caches(out / "cache.jsonl", a.classical, codecs=CLASSICAL)
        if grown:
            print(f"{grown} classical results coded in this run added to {a.classical} for the next one")
    if anchor_curves:
        copy_anchor_curves(anchor_curves, out)
    if a.previous:
        anchor_path = Path(a.previous)
    else:
        mlic("eval", a.images, "-o", out / "shipped", "--codecs", "mlic", "--model", SHIPPED, *common)
        anchor_path = out / "shipped" / "mlic.json"

    from mlic.evaluate.bdrate import bd_metrics
    from mlic.evaluate.results import load_curve

    if a.classical or anchor_curves:
        # summary.json already holds them: written by `mlic eval` of every codec, or by copy_anchor_curves
        against = json.loads((out / "summary.json").read_text())["bd"]["mlic"]
        for name in CLASSICAL:
            r = against[name]
            print(f"against {name:5s}: BD-rate {r['bd_rate']:+.2f} %, BD-PSNR {r.get('bd_psnr', float('nan')):+.3f} dB")
    result = bd_metrics(load_curve(out / "mlic.json"), load_curve(anchor_path))  # test, anchor
    (out / "comparison.json").write_text(json.dumps(dict(result, anchor=str(anchor_path), candidate_sha256=sha), indent=2, default=float))
    better = result["bd_rate"] < -a.min_gain
    print(f"candidate against shipped ({anchor_path}): BD-rate {result['bd_rate']:+.2f} %, "
          f"BD-PSNR {result['bd_psnr']:+.3f} dB → {'better' if better else 'not better'} (threshold −{a.min_gain} %)")
    if a.adopt:
        if not better:
            raise SystemExit("not adopted: the candidate is not better than the shipped model")
        tmp = SHIPPED.with_suffix(".tmp")
        shutil.copyfile(weights, tmp)
        tmp.replace(SHIPPED)  # atomic: the package never holds half a file
        assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == sha
        print(f"adopted: {SHIPPED} ({SHIPPED.stat().st_size:,} bytes), sha256 {sha} — put it into docs/models.md")


if __name__ == "__main__":
    main()
