"""Classical image codecs, measured live through libraries (no quoted tables).

Every codec takes 8-bit RGB, returns the real file size and the decoded 8-bit RGB, so PSNR is always
measured against the original RGB image. Settings are fixed and documented in ``SETTINGS``; where a
codec has a switch for it, it is tuned for PSNR (4:4:4 chroma where supported, perceptual
quantization off).
"""
from __future__ import annotations

import io
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Codec:
    name: str
    settings: str
    qualities: tuple
    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[bytes, tuple[int, int]], np.ndarray]

    def run(self, rgb: np.ndarray, quality) -> dict:
        t0 = time.perf_counter()
        data = self.encode(rgb, quality)
        t1 = time.perf_counter()
        out = self.decode(data, rgb.shape[:2])
        t2 = time.perf_counter()
        if out.shape != rgb.shape or out.dtype != np.uint8:
            raise RuntimeError(f"{self.name}: decoded {out.shape} {out.dtype}, expected {rgb.shape} uint8")
        return {"bytes": len(data), "decoded": out, "encoding_time": t1 - t0, "decoding_time": t2 - t1}


def _pil_encode(fmt: str, **fixed):
    def encode(rgb, q):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, **{k: (v(q) if callable(v) else v) for k, v in fixed.items()})
        return buf.getvalue()

    return encode


def _pil_decode(data, shape):
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _heic_encode(rgb, q):
    import pillow_heif

    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(rgb)).save(buf, quality=int(q), chroma=444)
    return buf.getvalue()


def _heic_decode(data, shape):
    import pillow_heif

    return np.asarray(pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True).to_pillow().convert("RGB"))


def _jxl_encode(rgb, distance):
    import imagecodecs

    return bytes(imagecodecs.jpegxl_encode(rgb, distance=float(distance), effort=7))


def _jxl_decode(data, shape):
    import imagecodecs

    return np.asarray(imagecodecs.jpegxl_decode(data))[..., :3].astype(np.uint8)


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# RGB ↔ Y'CbCr with BT.709 full range both ways, with accurate rounding: the conversion itself must
# not be what limits PSNR.
_TO_YUV = "scale=out_color_matrix=bt709:out_range=full:flags=accurate_rnd+full_chroma_int+bitexact"
_TO_RGB = "scale=in_color_matrix=bt709:in_range=full:flags=accurate_rnd+full_chroma_int+bitexact"


def _vvc_encode(rgb, qp):
    h, w = rgb.shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "x.266")
        cmd = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-i", "-",
               "-vf", _TO_YUV + ",format=yuv420p10le", "-c:v", "libvvenc", "-qp", str(int(qp)), "-qpa", "0", "-preset", "medium",
               "-frames:v", "1", "-f", "vvc", out]  # fmt: skip
        subprocess.run(cmd, input=np.ascontiguousarray(rgb).tobytes(), check=True, capture_output=True)
        with open(out, "rb") as f:
            return f.read()


def _vvc_decode(data, shape):
    h, w = shape
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "x.266")
        with open(src, "wb") as f:
            f.write(data)
        cmd = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "vvc", "-i", src, "-vf", _TO_RGB, "-pix_fmt", "rgb24",
               "-frames:v", "1", "-f", "rawvideo", "-"]  # fmt: skip
        raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).copy()


CODECS: dict[str, Codec] = {
    "jpeg": Codec("jpeg", "Pillow/libjpeg, quality q, 4:2:0, optimize=True", (5, 10, 20, 30, 45, 60, 75, 85, 92),
                  _pil_encode("JPEG", quality=lambda q: int(q), subsampling="4:2:0", optimize=True), _pil_decode),
    "webp": Codec("webp", "Pillow/libwebp, quality q, method 6 (lossy, 4:2:0 is the only lossy mode)", (0, 5, 15, 30, 50, 70, 85, 95),
                  _pil_encode("WEBP", quality=lambda q: int(q), method=6), _pil_decode),
    "avif": Codec("avif", "Pillow/libavif (aom), quality q, 4:4:4, speed 6", (5, 12, 20, 35, 50, 60, 70, 80),
                  _pil_encode("AVIF", quality=lambda q: int(q), subsampling="4:4:4", speed=6), _pil_decode),
    "heic": Codec("heic", "pillow-heif/x265 (HEVC intra in HEIF), quality q, 4:4:4", (5, 10, 20, 30, 40, 50, 60), _heic_encode, _heic_decode),
    "jxl": Codec("jxl", "imagecodecs/libjxl, distance d (Butteraugli), effort 7", (8.0, 5.0, 3.5, 2.5, 1.8, 1.2, 0.8), _jxl_encode, _jxl_decode),
    "jpeg2000": Codec("jpeg2000", "Pillow/OpenJPEG, irreversible 9/7 with the RGB→YCbCr transform (mct), one layer at compression ratio r",
                      (200, 120, 80, 50, 32, 20, 12),
                      _pil_encode("JPEG2000", quality_mode="rates", quality_layers=lambda r: [float(r)], irreversible=True, mct=1), _pil_decode),
    "vvc": Codec("vvc", "ffmpeg/libvvenc (VVC intra, one frame), QP q, 10-bit 4:2:0, BT.709 full range, QPA off, preset medium",
                 (50, 46, 42, 38, 35, 32, 29, 26), _vvc_encode, _vvc_decode),
}  # fmt: skip
