"""After a training run: measure its weights against the shipped model on the validation images with
real bitstreams, and (with --adopt) ship them if they are better. The run folder is either a GPU
run's output (`scripts/train_on_gpu.sh`: the weights in ≤15 MiB parts, reassembled here) or any
`mlic train` output folder holding model.safetensors (e.g. `scripts/train_on_cpu.sh`).

    python scripts/adopt_weights.py <run folder>           # evaluate + compare
    python scripts/adopt_weights.py <run folder> --adopt   # ... and replace the shipped weights

"Better" means a BD-rate (PSNR-RGB) against the shipped model below −``--min-gain`` % (default 0.5:
the float16 rounding of the shipped file alone measured −0.07 % for identical weights, on 2
validation images with `--limit 2`).
The shipped file is written in float16 (≤ 30 MB); its SHA-256 must then go into docs/models.md
(tests/models/test_shipped_model.py checks it) together with the new RD numbers.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "mlic" / "weights" / "mlicpp-small.safetensors"
VAL = ROOT.parent / "shared" / "data" / "val"


def mlic(*args):
    subprocess.run([sys.executable, "-m", "mlic", *map(str, args)], check=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run", help="folder holding model.safetensors.part00, part01, ... (or model.safetensors)")
    p.add_argument("--images", default=str(VAL))
    p.add_argument("--limit", type=int, default=0, help="images to evaluate (0 = all)")
    p.add_argument("--out", default=str(ROOT / "runs" / "adopt"))
    p.add_argument("--adopt", action="store_true")
    p.add_argument("--min-gain", type=float, default=0.5, help="BD-rate gain (%%) needed to adopt")
    a = p.parse_args()
    run, out = Path(a.run), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "candidate.safetensors"
    parts = sorted(run.glob("model.safetensors.part*"))
    source = b"".join(part.read_bytes() for part in parts) if parts else (run / "model.safetensors").read_bytes()
    weights.write_bytes(source)
    limit = ["--limit", a.limit] if a.limit else []
    for name, model in (("candidate", weights), ("shipped", SHIPPED)):
        mlic("eval", a.images, "-o", out / name, "--codecs", "mlic", "--model", model, *limit)

    from mlic.evaluate.bdrate import bd_metrics
    from mlic.evaluate.results import load_curve

    cand, ship = load_curve(out / "candidate" / "mlic.json"), load_curve(out / "shipped" / "mlic.json")
    result = bd_metrics(cand, ship)  # test, anchor
    (out / "comparison.json").write_text(json.dumps(result, indent=2, default=float))
    better = result["bd_rate"] < -a.min_gain
    print(f"candidate against shipped: BD-rate {result['bd_rate']:+.2f} %, BD-PSNR {result['bd_psnr']:+.3f} dB → {'better' if better else 'not better'} (threshold −{a.min_gain} %)")
    if a.adopt:
        if not better:
            raise SystemExit("not adopted: the candidate is not better than the shipped model")
        from mlic.models.registry import load_weights, save_weights

        model = load_weights(weights).eval()
        sha = save_weights(model, SHIPPED, "mlicpp-small", half=True)
        print(f"adopted: {SHIPPED} ({SHIPPED.stat().st_size / 1e6:.1f} MB), sha256 {sha} — put it into docs/models.md")


if __name__ == "__main__":
    main()
