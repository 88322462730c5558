"""Encode on one device, decode on another: does every file decode to the encoder's latents?

Step 1, on the GPU machine (files and a manifest go to --out):

    python benchmarks/cross_device.py encode --device cuda --images data/val-copy --out runs/cross

Step 2, here on the CPU:

    python benchmarks/cross_device.py decode --dir runs/cross

Decoding uses the model-level API so that it can count the checkerboard halves whose first decode
failed its CRC and were recovered by index reconciliation (``mlic.entropy.reconcile``): each of
those would have been a failed file without it. Prints counts and writes ``decode.json``.
"""
import argparse
import glob
import json
import time
from pathlib import Path

import numpy as np
import torch

import mlic
from mlic.codec import container as fmt
from mlic.codec.api import get_model
from mlic.errors import MlicError
from mlic._progress import progress_bar


def encode(a):
    paths = sorted(glob.glob(str(Path(a.images) / "**" / "*.png"), recursive=True))[: a.limit or None]
    if not paths:  # an empty manifest would make the decode side print 0/0 and a NaN time
        raise SystemExit(f"no PNG images under {a.images}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(a.device)
    manifest = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__, "files": []}
    for p in progress_bar(paths):
        data = mlic.encode_image(p, a.quality, device=a.device)
        name = Path(p).stem + ".mlic"
        (out / name).write_bytes(data)
        manifest["files"].append({"image": Path(p).name, "file": name, "bytes": len(data)})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(f"{len(paths)} files encoded on {manifest['device']} into {out}")


def decode(a):
    folder = Path(a.dir)
    manifest = json.loads((folder / "manifest.json").read_text())
    if not manifest["files"]:
        raise SystemExit(f"{folder / 'manifest.json'} lists no files")
    rows, failed = [], 0
    for entry in progress_bar(manifest["files"]):
        c = fmt.parse((folder / entry["file"]).read_bytes())
        net = get_model(c.header.model_name, "cpu")
        row = {"file": entry["file"], "reconciled": 0, "tries": 0}
        t = time.perf_counter()
        try:
            for tile in c.tiles:
                out = net.decompress([[tile.y_string], [tile.z_string]], tile.z_shape, c.header.quality, checksums=[tile.checksums],
                                     valid_size=c.valid_size(tile.index))
                row["reconciled"] += out["reconciled"]
                row["tries"] += out["reconcile_tries"]
            row["ok"] = True
        except MlicError as exc:
            row["ok"], row["error"] = False, str(exc)
            failed += 1
        row["decode_s"] = time.perf_counter() - t
        rows.append(row)
    n = len(rows)
    need = sum(r["reconciled"] > 0 for r in rows)
    print(f"encoded on {manifest['device']} (torch {manifest['torch']}), decoded on CPU (torch {torch.__version__}): "
          f"{n - failed}/{n} files decode; {need} needed index reconciliation "
          f"({sum(r['reconciled'] for r in rows)} halves, {sum(r['tries'] for r in rows)} re-decodes); "
          f"mean decode {np.mean([r['decode_s'] for r in rows]):.3f} s")  # fmt: skip
    (folder / "decode.json").write_text(json.dumps({"encoded_on": manifest["device"], "rows": rows}, indent=2))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="step", required=True)
    e = sub.add_parser("encode")
    e.add_argument("--images", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--device", default="cuda")
    e.add_argument("--quality", type=float, default=4.0)
    e.add_argument("--limit", type=int, default=0)
    d = sub.add_parser("decode")
    d.add_argument("--dir", required=True)
    a = p.parse_args()
    encode(a) if a.step == "encode" else decode(a)


if __name__ == "__main__":
    main()
