"""Rebuild tests/data/flower-crop-v1.0.* : a format-1.0 file (one chained CRC per slice) written with the
seeded mlicpp-tiny model, so it does not change when the shipped weights do. Run from the repository root."""
import numpy as np
from PIL import Image

import mlic
from mlic.codec import container as fmt, legacy
from mlic.entropy import reconcile as rc
from mlic.codec.api import get_model
from mlic.models import model_fingerprint

img = Image.open("src/mlic/samples/flower.png").convert("RGB").crop((0, 0, 128, 96))
data = mlic.encode_image(img, 3, "mlicpp-tiny", precision="fp32")
running = {}
orig = rc.CheckedDecoder.decode
def rec(self, slice_index, nonanchor, indexes, tables, alternatives):
    s = orig(self, slice_index, nonanchor, indexes, tables, alternatives)
    running[slice_index] = rc.symbol_checksum(s, indexes, running.get(slice_index, 0))
    return s
rc.CheckedDecoder.decode = rec
dec = mlic.decode_image(data, precision="fp32")
rc.CheckedDecoder.decode = orig
c = fmt.parse(data)
assert len(c.tiles) == 1
c.tiles[0].checksums = [running[i] for i in range(len(running))]
model_id = model_fingerprint(get_model("mlicpp-tiny"))
old = legacy.to_legacy_bytes(c, model_id, (1, 0))
assert mlic.read_info(old)["format_version"] == "1.0"
d1 = mlic.decode_image(old, precision="fp32")
assert np.array_equal(np.asarray(d1), np.asarray(dec))
open("tests/data/flower-crop-v1.0.mlic", "wb").write(old)
d1.save("tests/data/flower-crop-v1.0.decoded.png")
# a wrong slice checksum must be caught
c.tiles[0].checksums[0] ^= 1
try:
    mlic.decode_image(legacy.to_legacy_bytes(c, model_id, (1, 0)), precision="fp32")
except mlic.MlicError as e:
    print("a wrong slice checksum is caught:", e)
else:
    raise SystemExit("a wrong slice checksum was not caught")
print(len(old), "bytes, slice checksums", running)
