"""The public codec API: ``encode_image``, ``decode_image``, ``read_info``."""
from __future__ import annotations

import contextlib
import os
import threading
import warnings
from functools import lru_cache

import numpy as np
import torch

from ..errors import FormatError, MlicError, ModelMismatchError, ModelNotFoundError
from ..models import DEFAULT_MODEL, MLICPlusPlus, load_model, model_fingerprint
from ..models.mlicpp import fast_precision
from . import container as fmt
from .image import MlicWarning, build_output, decode_alpha, encode_alpha, pad_to_multiple, prepare, to_tensor, to_uint8

DEFAULT_TILE_SIZE = 1024
DEFAULT_PAD_MODE = "replicate"
MAX_FILE_BYTES = 1 << 31

_lock = threading.Lock()


@lru_cache(maxsize=4)
def _cached_model(name: str, device: str) -> MLICPlusPlus:
    return load_model(name, device=device)


def get_model(model: MLICPlusPlus | str | None = None, device: str | torch.device = "cpu") -> MLICPlusPlus:
    """Resolve a model argument: an instance, a registered name / weight path, or None for the default."""
    if isinstance(model, MLICPlusPlus):
        return model
    with _lock:
        return _cached_model(str(model or DEFAULT_MODEL), str(device))


def _model_name(model: MLICPlusPlus) -> str:
    return getattr(model, "name", None) or "custom"


def _read_bytes(data_or_path) -> bytes:
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        return bytes(data_or_path)
    path = os.fspath(data_or_path)
    if os.path.isdir(path):
        raise FormatError(f"{path} is a directory, not an .mlic file")
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise FormatError(f"{path} is {size:,} bytes, larger than any valid .mlic file mlic writes")
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except PermissionError:
        raise FormatError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise FormatError(f"{path} is a directory") from None


def encode_image(
    image,
    quality: float | None = None,
    model: MLICPlusPlus | str | None = None,
    *,
    tile_size: int = DEFAULT_TILE_SIZE,
    pad_mode: str = DEFAULT_PAD_MODE,
    max_pixels: int = fmt.DEFAULT_MAX_PIXELS,
    max_tile_pixels: int = fmt.DEFAULT_MAX_TILE_PIXELS,
    device: str | torch.device = "cpu",
    precision: str | None = "auto",
    refine_steps: int = 0,
    progress: bool = False,
) -> bytes:
    """Compress an image (path, bytes or ``PIL.Image``) into ``.mlic`` bytes.

    ``quality`` is a real number from 1 to the model's number of levels (8 for the shipped model) for
    variable-rate models — default: the level trained for λ = 0.013 (6 for the shipped model) — and
    must be None for fixed-rate ones. Large images are coded as independent tiles of ``tile_size`` pixels so memory
    stays bounded (a tile larger than ``max_tile_pixels`` is refused). ``precision`` ("auto", "fp32"
    or "bf16"; auto = bf16 where the hardware computes it natively) applies to the analysis transform
    only; either way the file decodes with any decoder.

    ``refine_steps`` > 0 makes the encoder search, per tile, for latents that code the image at a lower
    rate–distortion cost than the analysis transform's (:mod:`mlic.models.refine`; variable-rate models
    only). Each step is a forward and backward pass through the decoder, so 40 steps make encoding some 50–100× slower;
    the file and its decoding are unchanged in kind and speed. ``progress`` shows a bar over the steps.
    """
    net = get_model(model, device)
    if not isinstance(refine_steps, int) or isinstance(refine_steps, bool) or refine_steps < 0:
        raise ValueError(f"refine_steps must be a whole number ≥ 0, got {refine_steps!r}")
    if refine_steps and not net.variable_rate:
        raise ValueError(f"refinement needs a variable-rate model (it optimizes for the λ of the quality level); "
                         f"{_model_name(net)!r} has a fixed rate")  # fmt: skip
    with _precision(net, precision):
        return _encode(net, image, quality, tile_size, pad_mode, max_pixels, max_tile_pixels, refine_steps, progress)


@contextlib.contextmanager
def _precision(net: MLICPlusPlus, precision: str | None):
    """Run with g_a/g_s in ``precision``; None keeps the model's own setting, "auto" picks bf16 where
    the hardware computes it natively (same decoded latents either way)."""
    if precision is None:
        yield
        return
    if precision == "auto":
        precision = fast_precision(next(net.parameters()).device)
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', not {precision!r}")
    before = net.transform_precision
    net.transform_precision = precision
    try:
        yield
    finally:
        net.transform_precision = before


def _encode(net, image, quality, tile_size, pad_mode, max_pixels, max_tile_pixels, refine_steps=0, progress=False) -> bytes:
    if tile_size < fmt.TILE_MULTIPLE or tile_size % fmt.TILE_MULTIPLE:
        raise ValueError(f"tile size must be a positive multiple of {fmt.TILE_MULTIPLE}")
    if pad_mode not in fmt.PAD_MODES:
        raise ValueError(f"pad mode must be one of {fmt.PAD_MODES}")
    if net.variable_rate:
        quality = net.config.default_quality if quality is None else float(quality)
        if not 1 <= quality <= net.config.num_rates:
            raise ValueError(f"quality must be between 1 and {net.config.num_rates}, got {quality}")
    elif quality is not None:
        raise ValueError(f"model {_model_name(net)!r} has a fixed rate and takes no quality")
    prepared = prepare(image, max_pixels)
    for notice in prepared.notices:
        warnings.warn(notice, MlicWarning, stacklevel=2)
    header = fmt.Header(
        model_name=_model_name(net), model_id=model_fingerprint(net), quality=quality, width=prepared.width,
        height=prepared.height, mode=prepared.mode, bit_depth=prepared.bit_depth, pad_mode=pad_mode,
        tile_size=tile_size, num_slices=net.config.num_slices, icc_profile=prepared.icc_profile,
    )  # fmt: skip
    header.check_tile_limit(max_tile_pixels)
    out = fmt.Container(header)
    dev = next(net.parameters()).device
    bar = None
    if refine_steps:
        from .._progress import progress_bar

        bar = progress_bar(total=refine_steps * header.num_tiles, desc="refine", unit="step", disable=not progress, leave=False)
    try:
        for index in range(header.num_tiles):
            left, top, right, bottom = header.tile_box(index)
            x = pad_to_multiple(to_tensor(prepared.rgb[top:bottom, left:right], dev), mode=pad_mode)
            enc = net.compress(x, quality, refine_steps=refine_steps, refine_progress=bar.update if bar is not None else None,
                               valid_size=(bottom - top, right - left))
            out.tiles.append(fmt.Tile(index, tuple(enc["shape"]), enc["strings"][1][0], enc["strings"][0][0], enc["checksums"][0]))
    finally:
        if bar is not None:
            bar.close()
    if prepared.alpha is not None:
        out.alpha = encode_alpha(prepared.alpha)
    return out.to_bytes()


def _model_for(header: fmt.Header, model, device) -> MLICPlusPlus:
    if model is None:
        try:
            net = get_model(header.model_name, device)
        except ModelNotFoundError:
            raise ModelMismatchError(
                f"file was encoded with model {header.model_name!r}, which is not installed; pass model=... (or --model)"
            ) from None
    else:
        net = get_model(model, device)
    # Files store a prefix of the fingerprint (8 bytes since format 3.0, 16 before).
    ours = model_fingerprint(net)[: len(header.model_id)]
    if ours != header.model_id:
        raise ModelMismatchError(
            f"file was encoded with model {header.model_name!r} (id {header.model_id.hex()}), but the model at hand "
            f"({_model_name(net)!r}, id {ours.hex()}) has other weights"
        )
    return net


def decode_image(data_or_path, model: MLICPlusPlus | str | None = None, *, max_pixels: int = fmt.DEFAULT_MAX_PIXELS,
                 max_tile_pixels: int = fmt.DEFAULT_MAX_TILE_PIXELS, device: str | torch.device = "cpu",
                 precision: str | None = "auto"):  # fmt: skip
    """Decode ``.mlic`` bytes or a path into a ``PIL.Image.Image`` (mode, alpha and ICC restored).

    ``precision`` ("auto", "fp32" or "bf16"; auto = bf16 where the hardware computes it natively)
    applies to the synthesis transform only (the decoded latents are the same either way; the pixels
    may differ in the last level).
    """
    data = _read_bytes(data_or_path)
    c = fmt.parse(data, max_pixels)
    h = c.header
    h.check_tile_limit(max_tile_pixels)  # before the model is even loaded
    net = _model_for(h, model, device)
    with _precision(net, precision):
        return _decode(net, c)


def _decode(net: MLICPlusPlus, c: fmt.Container):
    h = c.header
    if net.config.num_slices != h.num_slices:
        raise FormatError("slice count in the header does not match the model")
    canvas = np.empty((h.height, h.width, 3), dtype=np.uint8)
    for tile in c.tiles:
        left, top, right, bottom = h.tile_box(tile.index)
        try:
            dec = net.decompress([[tile.y_string], [tile.z_string]], tile.z_shape, h.quality, checksums=[tile.checksums],
                                 valid_size=c.valid_size(tile.index))  # fmt: skip
        except MlicError:
            raise
        except (ValueError, RuntimeError) as exc:
            raise FormatError(f"tile {tile.index} cannot be decoded: {exc}") from None
        canvas[top:bottom, left:right] = to_uint8(dec["x_hat"][..., : bottom - top, : right - left])
    alpha = decode_alpha(c.alpha, h.width, h.height) if c.alpha is not None else None
    return build_output(canvas, h.mode, h.bit_depth, alpha, h.icc_profile)


def read_info(data_or_path, *, max_pixels: int = fmt.DEFAULT_MAX_PIXELS) -> dict:
    """Header, model identity, dimensions, bpp and the chunk table of an ``.mlic`` file (no decoding)."""
    data = _read_bytes(data_or_path)
    c = fmt.parse(data, max_pixels)  # full structural validation, one pass
    header = c.header
    chunks = [{"type": kind.decode("ascii", "replace"), "offset": off, "length": n} for kind, off, n in c.chunk_table]
    return {
        "format_version": "{}.{}".format(*c.version),
        "model": header.model_name,
        "model_id": header.model_id.hex(),
        "quality": header.quality,
        "width": header.width,
        "height": header.height,
        "mode": header.mode,
        "bit_depth": header.bit_depth,
        "icc_profile_bytes": len(header.icc_profile or b""),
        "tile_size": header.tile_size,
        "tiles": header.num_tiles,
        "pad_mode": header.pad_mode,
        "file_bytes": len(data),
        "bpp": len(data) * 8 / (header.width * header.height),
        "alpha_bytes": len(c.alpha) if c.alpha is not None else 0,
        "chunks": chunks,
    }


__all__ = ["decode_image", "encode_image", "get_model", "read_info"]
