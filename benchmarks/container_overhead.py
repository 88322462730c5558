"""Bytes a ``.mlic`` file spends outside its entropy-coded streams (header, record framing, checksums).

    python benchmarks/container_overhead.py [--every 20] [--qualities 1 8]

Encodes every ``--every``-th validation image (sorted) with the shipped model and prints, per file,
its size, its streams' size and the rest, as bytes and as a share of the file, and what the rest
would be in the format-2.0 layout (:func:`mlic.codec.legacy.to_legacy_bytes`, same streams).
"""
import argparse
import glob

import mlic
from mlic.codec import container as fmt
from mlic.codec import legacy
from mlic.codec.api import get_model
from mlic.models import model_fingerprint


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data/val")
    p.add_argument("--every", type=int, default=20)
    p.add_argument("--qualities", type=float, nargs="+", default=[1, 8])
    a = p.parse_args()
    net = get_model("mlicpp-small")
    for path in sorted(glob.glob(f"{a.data}/**/*.png", recursive=True))[:: a.every]:
        for q in a.qualities:
            data = mlic.encode_image(path, q, net, precision="fp32")
            c = fmt.parse(data)
            streams = sum(len(t.z_string) + len(t.y_string) for t in c.tiles)
            old = len(legacy.to_legacy_bytes(c, model_fingerprint(net))) - streams
            rest = len(data) - streams
            print(f"{path.split('/')[-1]} q{q:g}: {len(data)} bytes, streams {streams}, container {rest} "
                  f"({100 * rest / len(data):.2f} %); 2.0 layout {old} ({100 * old / (streams + old):.2f} %)")  # fmt: skip


if __name__ == "__main__":
    main()
