"""Average the weights of finished runs into one run folder that `scripts/adopt_weights.py` can evaluate.

    python scripts/average_weights.py runs/cpu-run48 runs/cpu-run49 runs/cpu-run50 --out runs/soup48-50
    python scripts/adopt_weights.py runs/soup48-50 --out runs/eval-soup48-50 \\
        --anchor-curves docs/training-logs --previous docs/training-logs/eval-val-mlic.json

Each argument is a run folder holding model.safetensors, or a weight file. The mean is written in
float32 as <out>/model.safetensors, with the sources named in its metadata.
"""
import argparse
from pathlib import Path

from mlic.models.registry import save_weights
from mlic.train.averaging import average_weights


def main():
    p = argparse.ArgumentParser()
    p.add_argument("sources", nargs="+", help="run folders (model.safetensors inside) or weight files")
    p.add_argument("--out", required=True, help="output folder")
    a = p.parse_args()
    files = [Path(s) / "model.safetensors" if Path(s).is_dir() else Path(s) for s in a.sources]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"no weight file: {', '.join(missing)}")
    model = average_weights(files)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sha = save_weights(model, out / "model.safetensors", "mlicpp-small", extra={"averaged_from": ", ".join(map(str, files))})
    print(f"mean of {len(files)} files: {out / 'model.safetensors'}, sha256 {sha}")


if __name__ == "__main__":
    main()
