"""The ``.mlic`` container (format 3.0): a compact header and one CRC-checked record per tile.

See docs/format.md for the byte layout. (What else 3.0 changed, not coding the latents that cover
only padding, lives with the model: :mod:`mlic.models.region`; :meth:`Container.valid_size` tells
the decoder which.) Format 3.0 spends 95–97 bytes on a one-tile RGB file where 2.0
spent 152: at the low rates the codec is for (0.1 bpp is some 2,000 bytes for a 481×321 photo) that is
a few percent of the file (benchmarks/container_overhead.py), bought by variable-length integers, an 8-byte model id and dropping what the header
already implies (chunk types, tile indexes, latent shapes, checksum counts, an end marker), while
every byte stays under a CRC and every per-half symbol checksum is kept. Readers validate every length
against the bytes actually present before using it, so a hostile file cannot make the reader allocate
or loop beyond its size. Formats 1.x and 2.x are still read (:mod:`mlic.codec.legacy`).
"""
from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field

from ..errors import FormatError, LimitExceededError, UnsupportedVersionError
from . import legacy

MAGIC = b"\x89MLIC\r\n\x1a"  # PNG-style: catches text-mode mangling and non-mlic files
# 3.0: compact header and tile records (no chunk framing). 2.0: one symbol CRC per checkerboard half
# (decoders reconcile uncertain table indexes). 1.0: one CRC per slice. A reader refuses a newer major
# version with "upgrade mlic"; this one reads all three.
VERSION_MAJOR, VERSION_MINOR = 3, 0
MODEL_ID_BYTES = 8  # of the model fingerprint; 64 bits tell models apart (1.x/2.x stored 16)
MODES = ("L", "LA", "RGB", "RGBA")
PAD_MODES = ("replicate", "reflect", "constant")
MAX_HEADER_BYTES = 1 << 24
DEFAULT_MAX_PIXELS = 1 << 28  # 268 MP: far beyond any camera, far below an absurd allocation
# Memory is held one tile at a time, so the tile area is what bounds it. The default allows tiles up
# to 4096×4096 (the shipped model's measured peak there is in the README); a file whose header
# declares larger tiles is refused before anything is decoded.
DEFAULT_MAX_TILE_PIXELS = 4096 * 4096
TILE_MULTIPLE = 64
MAX_TILE_SIZE = 1 << 16
_VARINT_MAX_BYTES = 5  # 35 bits: more than any length a 2 GiB file can hold


def put_varint(n: int) -> bytes:
    """``n`` ≥ 0 as an unsigned LEB128 varint (7 bits per byte, low bits first)."""
    if n < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def get_varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """(value, position after it) of the varint at ``pos``; refuses truncated, over-long and padded ones."""
    value = 0
    for k in range(_VARINT_MAX_BYTES):
        if pos + k >= len(data):
            raise FormatError(f"file truncated ({what})")
        byte = data[pos + k]
        value |= (byte & 0x7F) << (7 * k)
        if not byte & 0x80:
            if byte == 0 and k:  # a padded encoding: every value has exactly one
                raise FormatError(f"invalid number encoding ({what})")
            return value, pos + k + 1
    raise FormatError(f"number too large ({what})")


@dataclass
class Header:
    model_name: str
    model_id: bytes
    quality: float | None
    width: int
    height: int
    mode: str = "RGB"
    bit_depth: int = 8
    pad_mode: str = "replicate"
    tile_size: int = 1024
    num_slices: int = 10
    icc_profile: bytes | None = None

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("LA", "RGBA")

    @property
    def tiles_x(self) -> int:
        return math.ceil(self.width / self.tile_size)

    @property
    def tiles_y(self) -> int:
        return math.ceil(self.height / self.tile_size)

    @property
    def num_tiles(self) -> int:
        return self.tiles_x * self.tiles_y

    @property
    def tile_pixels(self) -> int:
        """Pixels of the largest tile (what bounds decoding memory)."""
        return min(self.tile_size, self.width) * min(self.tile_size, self.height)

    def check_tile_limit(self, max_tile_pixels: int) -> None:
        if self.tile_pixels > max_tile_pixels:
            tw, th = min(self.tile_size, self.width), min(self.tile_size, self.height)
            raise LimitExceededError(
                f"tiles of {tw}×{th} = {tw * th:,} pixels exceed the limit of {max_tile_pixels:,} pixels per tile, which "
                "bounds memory (see --max-tile-pixels)"
            )

    def tile_box(self, index: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of tile ``index`` (row-major)."""
        ty, tx = divmod(index, self.tiles_x)
        t = self.tile_size
        return tx * t, ty * t, min(self.width, (tx + 1) * t), min(self.height, (ty + 1) * t)

    def z_shape(self, index: int) -> tuple[int, int]:
        left, top, right, bottom = self.tile_box(index)
        return math.ceil((bottom - top) / TILE_MULTIPLE), math.ceil((right - left) / TILE_MULTIPLE)

    def pack(self) -> bytes:
        """The 3.0 header body."""
        name = self.model_name.encode()
        if len(name) > 255:
            raise ValueError("model name longer than 255 bytes")
        if len(self.model_id) < MODEL_ID_BYTES:
            raise ValueError(f"model id shorter than {MODEL_ID_BYTES} bytes")
        icc = self.icc_profile or b""
        q = float("nan") if self.quality is None else float(self.quality)
        flags = MODES.index(self.mode) | (4 if self.bit_depth == 16 else 0) | PAD_MODES.index(self.pad_mode) << 3
        return b"".join([self.model_id[:MODEL_ID_BYTES], struct.pack(">f", q), put_varint(self.width), put_varint(self.height),
                         bytes([flags]), put_varint(self.tile_size // TILE_MULTIPLE), bytes([self.num_slices, len(name)]), name,
                         put_varint(len(icc)), icc])  # fmt: skip

    @classmethod
    def unpack(cls, data: bytes, max_pixels: int) -> "Header":
        """Parse and validate a 3.0 header body."""
        if len(data) < MODEL_ID_BYTES + 4:
            raise FormatError("header too short")
        mid = data[:MODEL_ID_BYTES]
        (q,) = struct.unpack_from(">f", data, MODEL_ID_BYTES)
        w, pos = get_varint(data, MODEL_ID_BYTES + 4, "header width")
        h, pos = get_varint(data, pos, "header height")
        if pos + 1 > len(data):
            raise FormatError("file truncated (header flags)")
        flags = data[pos]
        tiles64, pos = get_varint(data, pos + 1, "header tile size")
        if pos + 2 > len(data):
            raise FormatError("file truncated (header slices)")
        slices, n = data[pos], data[pos + 1]
        name = data[pos + 2 : pos + 2 + n]
        if len(name) != n:
            raise FormatError("header truncated (model name)")
        icc_len, pos = get_varint(data, pos + 2 + n, "header ICC length")
        if pos + icc_len != len(data):
            raise FormatError("header length does not match its ICC profile length")
        if flags >> 5:
            raise FormatError("invalid flags in header")
        depth = 16 if flags & 4 else 8
        return cls._checked(mid, q, w, h, flags & 3, depth, (flags >> 3) & 3, tiles64 * TILE_MULTIPLE, slices, name, data[pos:], max_pixels)

    @classmethod
    def _checked(cls, mid, q, w, h, mode, depth, pad, tile, slices, name, icc, max_pixels) -> "Header":
        """A header from decoded fields, refusing any that no writer produces (shared by all versions)."""
        if w < 1 or h < 1:
            raise FormatError(f"invalid image size {w}×{h}")
        if w * h > max_pixels:
            raise LimitExceededError(f"image of {w}×{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} pixels (see --max-pixels)")
        if mode >= len(MODES) or pad >= len(PAD_MODES):
            raise FormatError("invalid colour mode or padding code in header")
        if depth not in (8, 16):
            raise FormatError(f"invalid bit depth {depth}")
        if tile < TILE_MULTIPLE or tile % TILE_MULTIPLE or tile > MAX_TILE_SIZE:
            raise FormatError(f"invalid tile size {tile}")
        if not 1 <= slices <= 64:
            raise FormatError(f"invalid slice count {slices}")
        try:
            model_name = name.decode()
        except UnicodeDecodeError:
            raise FormatError("model name is not valid UTF-8") from None
        quality = None if math.isnan(q) else float(q)
        if quality is not None and not (0 < quality < 100):
            raise FormatError(f"invalid quality {quality}")
        return cls(model_name, mid, quality, w, h, MODES[mode], depth, PAD_MODES[pad], tile, slices, icc or None)


@dataclass
class Tile:
    index: int
    z_shape: tuple[int, int]
    z_string: bytes
    y_string: bytes
    checksums: list[int]

    def pack(self) -> bytes:
        """The 3.0 record: z length, y length, z, y, the per-half checksums, then a CRC32 over all of
        it seeded with the tile index (so that swapped tiles fail it)."""
        body = b"".join([put_varint(len(self.z_string)), put_varint(len(self.y_string)), self.z_string, self.y_string]
                        + [struct.pack(">I", c) for c in self.checksums])  # fmt: skip
        return body + struct.pack(">I", zlib.crc32(body, _tile_seed(self.index)))


def _tile_seed(index: int) -> int:
    return zlib.crc32(b"TILE" + struct.pack(">I", index))


_ALPHA_SEED = zlib.crc32(b"ALPH")


@dataclass
class Container:
    header: Header
    tiles: list[Tile] = field(default_factory=list)
    alpha: bytes | None = None  # PNG-compressed alpha plane (lossless)
    chunk_table: list[tuple[bytes, int, int]] = field(default_factory=list)  # (type, offset, length) as read
    version: tuple[int, int] = (VERSION_MAJOR, VERSION_MINOR)  # as read; files are always written in the current one

    @property
    def checksums_per_tile(self) -> int:
        return self.header.num_slices * (1 if self.version < (2, 0) else 2)

    def valid_size(self, index: int) -> tuple[int, int] | None:
        """The image part (height, width) of tile ``index``, which decides which latents the file
        codes (format 3.0: those that cover some of it); None for 1.x/2.x files, which code them all."""
        if self.version < (3, 0):
            return None
        left, top, right, bottom = self.header.tile_box(index)
        return bottom - top, right - left

    def to_bytes(self) -> bytes:
        body = self.header.pack()
        head = bytes([VERSION_MAJOR, VERSION_MINOR]) + put_varint(len(body)) + body
        out = [MAGIC, head, struct.pack(">I", zlib.crc32(head))]
        out += [t.pack() for t in self.tiles]
        if self.alpha is not None:
            record = put_varint(len(self.alpha)) + self.alpha
            out += [record, struct.pack(">I", zlib.crc32(record, _ALPHA_SEED))]
        return b"".join(out)


def parse_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, int]:
    """Validate magic, version and header CRC; returns the header and the offset of what follows it."""
    header, pos, _ = _parse_header(data, max_pixels)
    return header, pos


def _parse_header(data: bytes, max_pixels: int) -> tuple[Header, int, tuple[int, int]]:
    if len(data) < len(MAGIC) + 2:
        raise FormatError("file too short to be an .mlic file" if data[: len(MAGIC)] == MAGIC[: len(data)] else "not an .mlic file (wrong magic bytes)")
    if data[: len(MAGIC)] != MAGIC:
        raise FormatError("not an .mlic file (wrong magic bytes)")
    pos = len(MAGIC)
    major, minor = data[pos], data[pos + 1]
    if major > VERSION_MAJOR:
        raise UnsupportedVersionError(f"file uses .mlic format {major}.{minor}; this mlic reads formats 1.x to {VERSION_MAJOR}.x — upgrade mlic")
    if major < 1:
        raise FormatError(f"invalid format version {major}.{minor}")
    if major < 3:
        if len(data) < pos + 6:
            raise FormatError("file too short to be an .mlic file")
        (hlen,) = struct.unpack_from(">I", data, pos + 2)
        body_at = pos + 6
    else:
        hlen, body_at = get_varint(data, pos + 2, "header length")
    if hlen > MAX_HEADER_BYTES or body_at + hlen + 4 > len(data):
        raise FormatError("header length exceeds the file (truncated or corrupt)")
    head = data[pos : body_at + hlen]
    (crc,) = struct.unpack_from(">I", data, body_at + hlen)
    if zlib.crc32(head) != crc:
        raise FormatError("header CRC mismatch (corrupt file)")
    body = data[body_at : body_at + hlen]
    if major < 3:
        f = legacy.unpack_header(body)
        header = Header._checked(f["model_id"], f["quality"], f["width"], f["height"], f["mode"], f["bit_depth"], f["pad_mode"],
                                 f["tile_size"], f["num_slices"], f["name"], f["icc"], max_pixels)  # fmt: skip
    else:
        header = Header.unpack(body, max_pixels)
    return header, body_at + hlen + 4, (major, minor)


def parse(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Container:
    """Parse and validate a whole file (every length and CRC); no decoding."""
    header, pos, version = _parse_header(data, max_pixels)
    container = Container(header, version=version)
    if version[0] < 3:
        legacy.parse_body(data, pos, container)
    else:
        _parse_records(data, pos, container)
    if len(container.tiles) != header.num_tiles:
        raise FormatError(f"file holds {len(container.tiles)} tiles, header declares {header.num_tiles}")
    if header.has_alpha and container.alpha is None:
        raise FormatError("alpha plane missing (the header declares one)")
    return container


def _parse_records(data: bytes, pos: int, container: Container) -> None:
    header = container.header
    sums = container.checksums_per_tile
    for index in range(header.num_tiles):
        start = pos
        what = f"tile {index} of {header.num_tiles}"
        zlen, pos = get_varint(data, pos, what)
        ylen, pos = get_varint(data, pos, what)
        end = pos + zlen + ylen + 4 * sums
        if end + 4 > len(data):
            raise FormatError(f"{what} at byte {start} runs past the end of the file (truncated or corrupt)")
        if zlib.crc32(data[start:end], _tile_seed(index)) != struct.unpack_from(">I", data, end)[0]:
            raise FormatError(f"{what} at byte {start} fails its CRC (corrupt file)")
        z, y = data[pos : pos + zlen], data[pos + zlen : pos + zlen + ylen]
        checksums = list(struct.unpack_from(f">{sums}I", data, pos + zlen + ylen))
        container.tiles.append(Tile(index, header.z_shape(index), z, y, checksums))
        container.chunk_table.append((b"TILE", start, end + 4 - start))
        pos = end + 4
    if header.has_alpha:
        start = pos
        n, pos = get_varint(data, pos, "alpha")
        if pos + n + 4 > len(data):
            raise FormatError(f"alpha record at byte {start} runs past the end of the file (truncated or corrupt)")
        if zlib.crc32(data[start : pos + n], _ALPHA_SEED) != struct.unpack_from(">I", data, pos + n)[0]:
            raise FormatError(f"alpha record at byte {start} fails its CRC (corrupt file)")
        container.alpha = data[pos : pos + n]
        container.chunk_table.append((b"ALPH", start, pos + n + 4 - start))
        pos += n + 4
    if pos != len(data):
        raise FormatError(f"{len(data) - pos} unexpected bytes after the last record")
