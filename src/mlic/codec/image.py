"""Images ↔ arrays: reading any Pillow image into 8-bit RGB (+ alpha), padding, and rebuilding the output.

Everything that is not plain 8-bit RGB is handled here explicitly, with a notice when information
changes (palette, CMYK, 16-bit, animation), so the codec core only ever sees RGB in [0, 1].
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import FormatError, InvalidImageError, LimitExceededError
from ..models import STRIDE


class MlicWarning(UserWarning):
    """Information changed on the way in (conversion, bit depth, animation)."""


@dataclass
class PreparedImage:
    rgb: np.ndarray  # H×W×3 uint8
    mode: str  # what decode gives back: L, LA, RGB, RGBA
    bit_depth: int = 8
    alpha: np.ndarray | None = None  # H×W uint8 or uint16
    icc_profile: bytes | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return self.rgb.shape[0]

    @property
    def width(self) -> int:
        return self.rgb.shape[1]


def open_image(source, max_pixels: int) -> Image.Image:
    """Open without decoding pixels and refuse oversize images before anything large is allocated."""
    if isinstance(source, Image.Image):
        im = source
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            if len(source) == 0:
                raise InvalidImageError("input is empty (0 bytes)")
            fp, label = io.BytesIO(bytes(source)), "input data"
        else:
            path = os.fspath(source)
            label = path
            if os.path.isdir(path):
                raise InvalidImageError(f"{path} is a directory, not an image")
            if not os.path.exists(path):
                raise InvalidImageError(f"{path}: no such file")
            if os.path.getsize(path) == 0:
                raise InvalidImageError(f"{path} is empty (0 bytes)")
            fp = path
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                old = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, before decoding
                try:
                    im = Image.open(fp)
                finally:
                    Image.MAX_IMAGE_PIXELS = old
        except UnidentifiedImageError:
            raise InvalidImageError(f"{label}: not an image format mlic can read") from None
        except PermissionError:
            raise InvalidImageError(f"{label}: permission denied") from None
        except OSError as exc:
            raise InvalidImageError(f"{label}: cannot read image ({exc})") from None
    w, h = im.size
    if w < 1 or h < 1:
        raise InvalidImageError(f"image has no pixels ({w}×{h})")
    if w * h > max_pixels:
        raise LimitExceededError(f"image of {w}×{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} pixels (see --max-pixels)")
    return im


def prepare(source, max_pixels: int) -> PreparedImage:
    im = open_image(source, max_pixels)
    notices: list[str] = []
    try:
        if getattr(im, "n_frames", 1) > 1:
            notices.append(f"animated image with {im.n_frames} frames: only the first frame is coded")
            im.seek(0)
        icc = im.info.get("icc_profile") or None
        im = ImageOps.exif_transpose(im)  # apply EXIF orientation, so the pixels are upright
        im.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(f"cannot decode image: {exc}") from None
    mode = im.mode
    bit_depth = 8
    alpha = None
    if mode == "P":
        has_t = "transparency" in im.info or im.palette.mode == "RGBA"
        notices.append("palette image converted to " + ("RGBA" if has_t else "RGB"))
        im = im.convert("RGBA" if has_t else "RGB")
    elif mode == "PA":
        notices.append("palette image with alpha converted to RGBA")
        im = im.convert("RGBA")
    elif mode == "CMYK":
        notices.append("CMYK image converted to RGB (the CMYK ICC profile, if any, is dropped)")
        im = im.convert("RGB")
        icc = None
    elif mode == "1":
        notices.append("bilevel image coded as grayscale")
        im = im.convert("L")
    elif mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im).astype(np.int64)
        if arr.max(initial=0) > 65535 or arr.min(initial=0) < 0:
            raise InvalidImageError("32-bit integer images are not supported")
        notices.append("16-bit image: coded from its 8 most significant bits")
        im = Image.fromarray((arr >> 8).astype(np.uint8), "L")
        bit_depth = 16
    elif mode == "F":
        raise InvalidImageError("floating-point images are not supported")
    elif mode in ("YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
        notices.append(f"{mode} image converted to RGB")
        im = im.convert("RGBA" if mode in ("RGBa", "La") else "RGB")
    mode = im.mode
    if mode not in ("L", "LA", "RGB", "RGBA"):
        raise InvalidImageError(f"unsupported image mode {mode}")
    if mode in ("LA", "RGBA"):
        alpha = np.asarray(im.getchannel("A")).copy()
    rgb = np.asarray(im.convert("RGB")).copy()
    return PreparedImage(rgb, mode, bit_depth, alpha, icc, notices)


def to_tensor(rgb: np.ndarray, device="cpu") -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1).unsqueeze(0).float().div_(255)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """1×3×H×W float in [0, 1] (not clamped yet) → H×W×3 uint8, rounding half to even."""
    return x[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def pad_to_multiple(x: torch.Tensor, multiple: int = STRIDE, mode: str = "replicate") -> torch.Tensor:
    """Pad right/bottom so height and width are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not ph and not pw:
        return x
    if mode == "constant":
        return F.pad(x, (0, pw, 0, ph))
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "replicate"  # reflection needs a pad smaller than the image
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def encode_alpha(alpha: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(alpha).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def decode_alpha(data: bytes, width: int, height: int) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "PNG" or im.size != (width, height) or im.mode not in ("L",):
                raise FormatError("alpha plane does not match the image")
            return np.asarray(im).copy()
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(f"alpha plane is corrupt ({exc})") from None


def build_output(rgb: np.ndarray, mode: str, bit_depth: int, alpha: np.ndarray | None, icc: bytes | None) -> Image.Image:
    im = Image.fromarray(rgb, "RGB")
    if mode in ("L", "LA"):
        im = im.convert("L")
        if bit_depth == 16:
            im = Image.fromarray(np.asarray(im).astype(np.uint16) * 257)
    if alpha is not None:
        if im.mode == "I;16":
            pass  # Pillow has no 16-bit gray+alpha mode; alpha with 16-bit gray does not occur on input
        else:
            im = im.convert("RGBA" if mode == "RGBA" else "LA")
            im.putalpha(Image.fromarray(alpha, "L"))
    if icc:
        im.info["icc_profile"] = icc
    return im
