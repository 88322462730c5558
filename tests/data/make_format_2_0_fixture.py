"""Rebuild tests/data/flower-crop-v2.0.* : a format-2.0 file (chunked: TILE × 6, ALPH, IEND; one CRC per
checkerboard half) from the seeded mlicpp-tiny model, RGBA in six 64-pixel tiles, so that reading 2.0
stays tested after the format moved on. The committed file was written by the 2.0 writer itself (commit
b9db10a); this script rewrites a current file's streams into the 2.0 layout and gives the same bytes.
Run from the repository root."""
import sys

import numpy as np
from PIL import Image

import mlic
from mlic.codec import container as fmt, legacy
from mlic.codec.api import get_model
from mlic.models import model_fingerprint

img = Image.open("src/mlic/samples/flower.png").convert("RGB").crop((0, 0, 160, 96))
alpha = Image.fromarray(np.tile(np.linspace(0, 255, 160).astype(np.uint8), (96, 1)))
img.putalpha(alpha)
data = mlic.encode_image(img, 3, "mlicpp-tiny", tile_size=64, precision="fp32")
old = legacy.to_legacy_bytes(fmt.parse(data), model_fingerprint(get_model("mlicpp-tiny")), (2, 0))
assert mlic.read_info(old)["format_version"] == "2.0"
out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/flower-crop-v2.0"
open(out + ".mlic", "wb").write(old)
mlic.decode_image(old, precision="fp32").save(out + ".decoded.png")
