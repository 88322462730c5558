"""Make a small training subset that can travel to a GPU machine (≤ ~50 MB).

Photos are downscaled with antialiasing so the short side is SHORT px (this also removes most JPEG
blocking of the sources) and stored as 4:4:4 JPEG at high quality.

    python scripts/make_train_subset.py ../shared/data/train data/train-subset --short 320
"""
import argparse
from pathlib import Path

from PIL import Image

from mlic.train.data import list_images, load_rgb


def main():
    p = argparse.ArgumentParser()
    p.add_argument("src", nargs="+")
    p.add_argument("dst")
    p.add_argument("--short", type=int, default=320)
    p.add_argument("--quality", type=int, default=95)
    a = p.parse_args()
    dst = Path(a.dst)
    dst.mkdir(parents=True, exist_ok=True)
    total = 0
    for i, f in enumerate(list_images(a.src)):
        im = load_rgb(f, a.short)
        out = dst / f"{i:05d}_{f.stem}.jpg"
        im.save(out, quality=a.quality, subsampling=0)
        total += out.stat().st_size
    print(f"{i + 1} images, {total / 2**20:.1f} MiB in {dst}")


if __name__ == "__main__":
    main()
