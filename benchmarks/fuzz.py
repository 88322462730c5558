"""Long fuzzing run of read_info/decode_image on mutated .mlic files; prints outcome counts.

    python benchmarks/fuzz.py --count 100000 [--seed 1] [--model mlicpp-tiny]

Every input must end as a decoded image or an mlic.MlicError; anything else is counted as a bug
and printed with the seed that reproduces it.
"""
import argparse
import collections
import random
import sys
import time

import numpy as np
from PIL import Image

import mlic
from mlic.codec import container as fmt
from mlic.codec import legacy
from mlic.codec.mutate import mutate
from mlic.models import model_fingerprint
from mlic.evaluate.bench import nontrivial_model
from mlic._progress import progress_bar


def seeds(model):
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, 70 * 50 * 3).reshape(50, 70, 3) + rng.normal(0, 8, (50, 70, 3))
    rgb = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    rgba = rgb.convert("RGBA")
    alpha = mlic.encode_image(rgba, 5, model, tile_size=64)
    legacy_alpha = legacy.to_legacy_bytes(fmt.parse(alpha), model_fingerprint(model), (2, 0))  # the 2.0 reader too
    return [mlic.encode_image(rgb, 3, model), alpha, mlic.encode_image(rgb.convert("L"), 1, model), legacy_alpha]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--model", default="mlicpp-tiny")
    a = p.parse_args()
    model = nontrivial_model(a.model)
    model.name = a.model
    base = seeds(model)
    outcomes = collections.Counter()
    bugs = []
    slowest = 0.0
    for i in progress_bar(range(a.count)):
        rng = random.Random(a.seed * 1_000_003 + i)
        data = base[rng.randrange(len(base))]
        for _ in range(rng.randint(1, 3)):
            data = mutate(data, rng)
        t = time.perf_counter()
        try:
            mlic.decode_image(data, model, max_pixels=1 << 20)
            outcomes["decoded"] += 1
        except mlic.MlicError as exc:
            outcomes[type(exc).__name__] += 1
        except Exception as exc:  # a bug
            outcomes["BUG " + type(exc).__name__] += 1
            bugs.append((i, repr(exc)))
        slowest = max(slowest, time.perf_counter() - t)
    print(f"{a.count} inputs, seed {a.seed}, model {a.model}; slowest input {slowest * 1000:.0f} ms")
    for k, v in outcomes.most_common():
        print(f"  {k:28s} {v:8d}  ({100 * v / a.count:.2f} %)")
    for i, r in bugs[:20]:
        print(f"  bug at input {i}: {r}")
    sys.exit(1 if bugs else 0)


if __name__ == "__main__":
    main()
