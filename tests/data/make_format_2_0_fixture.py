"""Rebuild tests/data/flower-crop-v2.0.* : a format-2.0 file (chunked: TILE × 6, ALPH, IEND; one CRC per
checkerboard half), written by mlic's 2.0 writer (commit b9db10a, the last to write 2.0) with the seeded
mlicpp-tiny model, RGBA in six 64-pixel tiles, so that reading 2.0 stays tested after the format moved on.
Kept for the record: it only produces a 2.0 file when run on that commit. Run from the repository root."""
import numpy as np
from PIL import Image

import mlic

img = Image.open("src/mlic/samples/flower.png").convert("RGB").crop((0, 0, 160, 96))
alpha = Image.fromarray(np.tile(np.linspace(0, 255, 160).astype(np.uint8), (96, 1)))
img.putalpha(alpha)
data = mlic.encode_image(img, 3, "mlicpp-tiny", tile_size=64, precision="fp32")
assert mlic.read_info(data)["format_version"] == "2.0"
open("tests/data/flower-crop-v2.0.mlic", "wb").write(data)
mlic.decode_image(data, precision="fp32").save("tests/data/flower-crop-v2.0.decoded.png")
