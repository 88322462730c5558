"""Image round trips through the .mlic container with a tiny model."""
import io
import warnings

import numpy as np
import pytest
from PIL import Image

import mlic
from mlic.codec import container as fmt
from mlic.errors import FormatError, InvalidImageError, LimitExceededError, ModelMismatchError, UnsupportedVersionError

from ..helpers import FIXED_TINY, tiny_model


def _image(w, h, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, w * h * 3).reshape(h, w, 3) + rng.normal(0, 8, (h, w, 3))
    im = Image.fromarray(base.clip(0, 255).astype(np.uint8), "RGB")
    return im.convert(mode)


def _png(im, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


@pytest.mark.parametrize(("w", "h"), [(1, 1), (1, 7), (13, 1), (17, 31), (97, 61), (64, 64), (130, 67)])
def test_any_size_round_trips(model, w, h):
    data = mlic.encode_image(_image(w, h), 3, model)
    out = mlic.decode_image(data, model)
    assert out.size == (w, h) and out.mode == "RGB"
    assert mlic.read_info(data)["width"] == w


def test_modes_are_restored(model):
    for mode in ("L", "RGB", "RGBA", "LA"):
        im = _image(40, 30, mode)
        if mode in ("RGBA", "LA"):
            alpha = np.random.default_rng(1).integers(0, 256, (30, 40), dtype=np.uint8)
            im.putalpha(Image.fromarray(alpha, "L"))
        out = mlic.decode_image(mlic.encode_image(im, 2, model), model)
        assert out.mode == mode
        if mode in ("RGBA", "LA"):
            assert np.array_equal(np.asarray(out.getchannel("A")), alpha), "alpha must be lossless"


def test_conversions_warn(model):
    pal = _image(20, 20).convert("P")
    with pytest.warns(mlic.MlicWarning, match="palette"):
        out = mlic.decode_image(mlic.encode_image(pal, 2, model), model)
    assert out.mode == "RGB"
    cmyk = _image(20, 20).convert("CMYK")
    with pytest.warns(mlic.MlicWarning, match="CMYK"):
        mlic.encode_image(cmyk, 2, model)
    arr16 = (np.arange(20 * 20).reshape(20, 20) * 160).astype(np.uint16)
    im16 = Image.fromarray(arr16)
    with pytest.warns(mlic.MlicWarning, match="16-bit"):
        data = mlic.encode_image(im16, 2, model)
    out = mlic.decode_image(data, model)
    assert out.mode == "I;16" and mlic.read_info(data)["bit_depth"] == 16


def test_formats_from_files(tmp_path, model):
    im = _image(50, 40)
    for ext, kw in ((".png", {}), (".jpg", {"quality": 95}), (".webp", {"lossless": True}), (".tiff", {}), (".bmp", {}), (".ppm", {})):
        path = tmp_path / f"x{ext}"
        im.save(path, **kw)
        out = mlic.decode_image(mlic.encode_image(path, 2, model), model)
        assert out.size == (50, 40)
    gray = tmp_path / "g.pgm"
    im.convert("L").save(gray)
    assert mlic.decode_image(mlic.encode_image(gray, 2, model), model).mode == "L"


def test_exif_orientation_and_icc(model):
    im = _image(40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buf = io.BytesIO()
    icc = b"fake-icc-profile-bytes" * 10
    im.save(buf, format="JPEG", exif=exif, icc_profile=icc, quality=95)
    out = mlic.decode_image(mlic.encode_image(buf.getvalue(), 2, model), model)
    assert out.size == (20, 40)
    assert out.info.get("icc_profile") == icc


def test_tiling_matches_single_tile_layout(model):
    im = _image(200, 140)
    one = mlic.decode_image(mlic.encode_image(im, 3, model, tile_size=256), model)
    tiled_data = mlic.encode_image(im, 3, model, tile_size=64)
    assert mlic.read_info(tiled_data)["tiles"] == 4 * 3
    tiled = mlic.decode_image(tiled_data, model)
    err = np.abs(np.asarray(one, float) - np.asarray(tiled, float)).mean()
    assert tiled.size == one.size and err < 20


def test_fixed_rate_model_stores_no_quality():
    m = tiny_model(FIXED_TINY)
    m.name = "fixed"
    data = mlic.encode_image(_image(64, 64), None, m)
    assert mlic.read_info(data)["quality"] is None
    with pytest.raises(ValueError, match="fixed rate"):
        mlic.encode_image(_image(64, 64), 3, m)


def test_refined_tiles_decode_and_report_progress(model, capsys):
    """Refinement runs per tile, shows one bar over all steps, and the file decodes like any other."""
    im = _image(100, 70)
    data = mlic.encode_image(im, 3, model, tile_size=64, refine_steps=2, progress=True)
    assert mlic.read_info(data)["tiles"] == 2 * 2
    assert mlic.decode_image(data, model).size == im.size
    assert "refine" in capsys.readouterr().err
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="refine_steps"):
            mlic.encode_image(im, 3, model, refine_steps=bad)
    fixed = tiny_model(FIXED_TINY)
    fixed.name = "fixed"
    with pytest.raises(ValueError, match="fixed rate"):
        mlic.encode_image(im, None, fixed, refine_steps=2)


def test_wrong_model_is_refused(model):
    data = mlic.encode_image(_image(64, 64), 3, model)
    other = tiny_model(seed=1)
    other.name = "test-tiny"
    with pytest.raises(ModelMismatchError, match="other weights"):
        mlic.decode_image(data, other)
    with pytest.raises(ModelMismatchError, match="not installed"):
        mlic.decode_image(data)  # the header's model name is not a registered model


@pytest.mark.parametrize("blob", [b"", b"MLIC", b"\x89MLIC\r\n\x1a", b"hello world, this is not an mlic file at all"])
def test_garbage_is_a_clean_format_error(blob):
    with pytest.raises(FormatError):
        mlic.read_info(blob)
    with pytest.raises(FormatError):
        mlic.decode_image(blob)


def test_newer_major_version_is_refused(model):
    data = bytearray(mlic.encode_image(_image(64, 64), 3, model))
    data[len(fmt.MAGIC)] = fmt.VERSION_MAJOR + 1
    with pytest.raises(UnsupportedVersionError, match="upgrade mlic"):
        mlic.read_info(bytes(data))


def test_truncations_are_reported(model):
    data = mlic.encode_image(_image(64, 64), 3, model)
    for cut in (5, 12, 30, len(data) // 2, len(data) - 5, len(data) - 1):
        with pytest.raises(FormatError):
            mlic.decode_image(data[:cut], model)


def test_flipped_bit_in_every_region_is_caught(model):
    data = mlic.encode_image(_image(96, 80, "RGBA"), 3, model, tile_size=64)
    info = mlic.read_info(data)
    assert [c["type"] for c in info["chunks"]] == ["TILE"] * 4 + ["ALPH"]
    ends = [c["offset"] + c["length"] for c in info["chunks"]]
    assert ends[-1] == len(data)
    # magic, version, header length, header body, header CRC; in each record its lengths, payload, checksums and CRC
    starts = [0, len(fmt.MAGIC), len(fmt.MAGIC) + 2, len(fmt.MAGIC) + 5, info["chunks"][0]["offset"] - 1]
    starts += [c["offset"] + k for c in info["chunks"] for k in (0, 1, 2, c["length"] // 2, c["length"] - 5, c["length"] - 1)]
    for pos in starts:
        if pos >= len(data):
            continue
        bad = bytearray(data)
        bad[pos] ^= 0x10
        with pytest.raises(mlic.MlicError):
            mlic.decode_image(bytes(bad), model)


def test_oversize_is_refused_before_decoding(model, tmp_path):
    with pytest.raises(LimitExceededError):
        mlic.encode_image(_image(100, 100), 3, model, max_pixels=5000)
    data = mlic.encode_image(_image(100, 100), 3, model)
    with pytest.raises(LimitExceededError):
        mlic.decode_image(data, model, max_pixels=5000)
    # A decompression bomb: a tiny PNG that declares a huge canvas.
    bomb = tmp_path / "bomb.png"
    Image.new("L", (30000, 30000)).save(bomb, optimize=True)
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(LimitExceededError):
        mlic.encode_image(bomb, 3, model, max_pixels=100_000_000)


def test_tile_area_bounds_memory_and_is_checked_before_decoding(model, monkeypatch):
    """A small file can declare one huge tile (latents that are all zero cost almost nothing), which
    would need tens of GB to decode: the per-tile limit refuses it before any model is loaded."""
    data = mlic.encode_image(_image(128, 128), 3, model, tile_size=128)
    with pytest.raises(LimitExceededError, match="per tile"):
        mlic.encode_image(_image(128, 128), 3, model, tile_size=128, max_tile_pixels=128 * 127)
    monkeypatch.setattr(mlic.codec.api, "_model_for", lambda *a: pytest.fail("decoding started"))
    with pytest.raises(LimitExceededError, match="128×128"):
        mlic.decode_image(data, model, max_tile_pixels=10_000)
    # The header of a 16384×16384 single-tile image is within max_pixels (2^28) but not the tile limit.
    header = fmt.Header("test-tiny", b"\0" * 16, 3.0, 16384, 16384, tile_size=16384)
    assert header.width * header.height <= fmt.DEFAULT_MAX_PIXELS
    with pytest.raises(LimitExceededError):
        header.check_tile_limit(fmt.DEFAULT_MAX_TILE_PIXELS)
    fmt.Header("test-tiny", b"\0" * 16, 3.0, 16384, 16384, tile_size=4096).check_tile_limit(fmt.DEFAULT_MAX_TILE_PIXELS)


def test_bad_inputs(tmp_path, model):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    notimg = tmp_path / "text.png"
    notimg.write_text("hello")
    for bad, msg in ((empty, "empty"), (tmp_path, "directory"), (notimg, "not an image"), (tmp_path / "missing.png", "no such file")):
        with pytest.raises(InvalidImageError, match=msg):
            mlic.encode_image(bad, 3, model)


def test_animated_first_frame_with_notice(model):
    frames = [_image(32, 32, seed=i).convert("P") for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mlic.encode_image(buf.getvalue(), 3, model)
    assert any("animated" in str(w.message) for w in caught)


def test_desync_is_detected_not_silently_decoded(model):
    """Different probabilities in the decoder (here: a perturbed scale table) must raise, never produce garbage."""
    import torch

    from mlic.errors import DesyncError

    x = torch.rand(1, 3, 64, 64)
    enc = model.compress(x, 3)
    saved = model.gaussian_conditional.scale_table.clone()
    try:
        model.gaussian_conditional.scale_table.mul_(1.7)
        with pytest.raises(mlic.MlicError):
            model.decompress(enc["strings"], enc["shape"], 3, checksums=enc["checksums"])
    finally:
        model.gaussian_conditional.scale_table.copy_(saved)
    assert issubclass(DesyncError, mlic.MlicError)


def test_bf16_transforms_keep_files_compatible(model):
    im = _image(96, 64)
    data = mlic.encode_image(im, 3, model, precision="bf16")
    exact = np.asarray(mlic.decode_image(data, model), dtype=int)
    fast = np.asarray(mlic.decode_image(data, model, precision="bf16"), dtype=int)
    assert np.abs(exact - fast).max() <= 8  # only g_s differs; the latents are the same
    assert model.transform_precision == "fp32"  # the option does not leak into the shared model
    with pytest.raises(ValueError, match="precision"):
        mlic.encode_image(im, 3, model, precision="fp8")


def test_extreme_aspect_and_huge_icc(model):
    im = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), 256)[:65535].reshape(1, 65535), "L")
    data = mlic.encode_image(im, 2, model, tile_size=16384)
    out = mlic.decode_image(data, model)
    assert out.size == (65535, 1) and out.mode == "L"
    assert mlic.read_info(data)["tiles"] == 4
    icc = bytes(range(256)) * 4096  # 1 MiB profile
    rgb = _image(30, 20)
    rgb.info["icc_profile"] = icc
    out = mlic.decode_image(mlic.encode_image(rgb, 2, model), model)
    assert out.info["icc_profile"] == icc


def test_format_1_0_files_still_decode():
    """A format-1.0 file (one checksum per slice; made by tests/data/make_format_1_0_fixture.py with mlicpp-tiny)."""
    from pathlib import Path

    from PIL import Image

    data_dir = Path(__file__).parents[1] / "data"
    data = (data_dir / "flower-crop-v1.0.mlic").read_bytes()
    assert mlic.read_info(data)["format_version"] == "1.0"
    decoded = np.asarray(mlic.decode_image(data, precision="fp32"), dtype=int)
    reference = np.asarray(Image.open(data_dir / "flower-crop-v1.0.decoded.png"), dtype=int)  # fp32 decode
    assert np.abs(decoded - reference).max() <= 1  # g_s is multi-threaded: a rare pixel may move one level


def test_format_2_0_files_still_decode():
    """A format-2.0 file (chunked; RGBA in six tiles; written by the 2.0 writer, see tests/data/make_format_2_0_fixture.py)."""
    from pathlib import Path

    from PIL import Image

    data_dir = Path(__file__).parents[1] / "data"
    data = (data_dir / "flower-crop-v2.0.mlic").read_bytes()
    info = mlic.read_info(data)
    assert info["format_version"] == "2.0" and info["tiles"] == 6 and len(info["model_id"]) == 32
    assert [c["type"] for c in info["chunks"]] == ["TILE"] * 6 + ["ALPH", "IEND"]
    decoded = mlic.decode_image(data, precision="fp32")
    assert decoded.mode == "RGBA"
    reference = Image.open(data_dir / "flower-crop-v2.0.decoded.png")
    assert np.array_equal(np.asarray(decoded.getchannel("A")), np.asarray(reference.getchannel("A")))
    assert np.abs(np.asarray(decoded, dtype=int) - np.asarray(reference, dtype=int)).max() <= 1
    # The same streams in the 3.0 layout take 180 fewer bytes (25 in the header, 23 per tile record, 6 for
    # the alpha record, the 12 of IEND). They do not make a valid 3.0 file, whose streams leave out the
    # latents of padding only: decoding it must fail, not produce a wrong image.
    parsed = fmt.parse(data)
    current = fmt.Container(parsed.header, parsed.tiles, parsed.alpha).to_bytes()
    assert mlic.read_info(current)["format_version"] == "3.0"
    assert len(data) - len(current) == 25 + 6 * 23 + 5 + 12
    with pytest.raises(mlic.MlicError):
        mlic.decode_image(current, precision="fp32")


def test_files_are_written_in_format_3_0_with_little_overhead(model):
    data = mlic.encode_image(_image(64, 64), 3, model)
    info = mlic.read_info(data)
    assert info["format_version"] == "3.0" and len(info["model_id"]) == 2 * fmt.MODEL_ID_BYTES
    c = fmt.parse(data)
    streams = len(c.tiles[0].z_string) + len(c.tiles[0].y_string)
    # magic 8, version 2, header length 1, header CRC 4; header: id 8, quality 4, width, height, flags, tile
    # size, slices and name length 1 each, the name, ICC length 1; record: 2 lengths (1–2 bytes each here),
    # 4 per checksum, CRC 4
    lengths = len(fmt.put_varint(len(c.tiles[0].z_string))) + len(fmt.put_varint(len(c.tiles[0].y_string)))
    assert lengths <= 3
    name = len(model.name.encode())
    assert len(data) - streams == (8 + 2 + 1 + 4) + (8 + 4 + 6 + name + 1) + (lengths + 4 * 2 * model.config.num_slices + 4)


def test_swapped_tiles_fail_their_crc(model):
    """Records carry no index, so each CRC is seeded with its tile's place: swapping two is corruption."""
    data = mlic.encode_image(_image(128, 64), 3, model, tile_size=64)
    a, b = mlic.read_info(data)["chunks"]
    first, second = data[a["offset"] : a["offset"] + a["length"]], data[b["offset"] : b["offset"] + b["length"]]
    swapped = data[: a["offset"]] + second + first
    with pytest.raises(FormatError, match="tile 0 of 2 .* fails its CRC"):
        mlic.read_info(swapped)


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 16383, 16384, (1 << 31) - 1, (1 << 35) - 1])
def test_varints_round_trip(n):
    b = fmt.put_varint(n)
    assert fmt.get_varint(b + b"rest", 0, "x") == (n, len(b))
    assert len(b) == max(1, -(-n.bit_length() // 7))


@pytest.mark.parametrize(("raw", "message"), [(b"", "truncated"), (b"\x80", "truncated"), (b"\x80\x00", "invalid number"),
                                              (b"\x81\x80\x00", "invalid number"), (b"\xff" * 5 + b"\x01", "too large")])  # fmt: skip
def test_bad_varints_are_refused(raw, message):
    with pytest.raises(FormatError, match=message):
        fmt.get_varint(raw, 0, "x")


def test_auto_precision_is_what_the_hardware_runs_natively(model):
    from mlic.models.mlicpp import fast_precision

    assert fast_precision("cpu") in ("fp32", "bf16")
    im = _image(64, 64)
    assert mlic.encode_image(im, 3, model) == mlic.encode_image(im, 3, model, precision=fast_precision("cpu"))
    assert model.transform_precision == "fp32"  # the model-level default stays the exact path
