"""The ``.mlic`` container: header, length-prefixed chunks with CRC32, per-half symbol checksums.

See docs/format.md for the byte layout. Readers validate every length against the bytes actually
present before using it, so a hostile file cannot make the reader allocate or loop beyond its size.
"""
from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field

from ..errors import FormatError, LimitExceededError, UnsupportedVersionError

MAGIC = b"\x89MLIC\r\n\x1a"  # PNG-style: catches text-mode mangling and non-mlic files
# 2.0: one symbol CRC per checkerboard half (decoders reconcile uncertain table indexes). A new major
# version because 1.x readers cannot decode it (they would report corrupt checksums); they now say
# "upgrade mlic" instead. 1.0 (still read): one CRC per slice.
VERSION_MAJOR, VERSION_MINOR = 2, 0
MODES = ("L", "LA", "RGB", "RGBA")
PAD_MODES = ("replicate", "reflect", "constant")
MAX_HEADER_BYTES = 1 << 24
DEFAULT_MAX_PIXELS = 1 << 28  # 268 MP: far beyond any camera, far below an absurd allocation
# Memory is held one tile at a time, so the tile area is what bounds it. The default allows tiles up
# to 4096×4096 (the shipped model's measured peak there is in the README); a file whose header
# declares larger tiles is refused before anything is decoded.
DEFAULT_MAX_TILE_PIXELS = 4096 * 4096
TILE_MULTIPLE = 64

_FIXED = struct.Struct(">16sfIIBBBIB")  # model id, quality, width, height, mode, depth, pad, tile, slices


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
        name = self.model_name.encode()
        if len(name) > 255:
            raise ValueError("model name longer than 255 bytes")
        icc = self.icc_profile or b""
        q = float("nan") if self.quality is None else float(self.quality)
        fixed = _FIXED.pack(self.model_id, q, self.width, self.height, MODES.index(self.mode), self.bit_depth,
                            PAD_MODES.index(self.pad_mode), self.tile_size, self.num_slices)  # fmt: skip
        return fixed + bytes([len(name)]) + name + struct.pack(">I", len(icc)) + icc

    @classmethod
    def unpack(cls, data: bytes, max_pixels: int) -> "Header":
        if len(data) < _FIXED.size + 5:
            raise FormatError("header too short")
        mid, q, w, h, mode, depth, pad, tile, slices = _FIXED.unpack_from(data)
        pos = _FIXED.size
        n = data[pos]
        pos += 1
        name = data[pos : pos + n]
        pos += n
        if len(name) != n or pos + 4 > len(data):
            raise FormatError("header truncated (model name)")
        (icc_len,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if pos + icc_len != len(data):
            raise FormatError("header length does not match its ICC profile length")
        icc = data[pos:]
        if w < 1 or h < 1:
            raise FormatError(f"invalid image size {w}×{h}")
        if w * h > max_pixels:
            raise LimitExceededError(f"image of {w}×{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} pixels (see --max-pixels)")
        if mode >= len(MODES) or pad >= len(PAD_MODES):
            raise FormatError("invalid colour mode or padding code in header")
        if depth not in (8, 16):
            raise FormatError(f"invalid bit depth {depth}")
        if tile < TILE_MULTIPLE or tile % TILE_MULTIPLE or tile > 1 << 16:
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
        zh, zw = self.z_shape
        return (struct.pack(">IHHI", self.index, zh, zw, len(self.z_string)) + self.z_string + struct.pack(">I", len(self.y_string))
                + self.y_string + bytes([len(self.checksums)]) + b"".join(struct.pack(">I", c) for c in self.checksums))  # fmt: skip

    @classmethod
    def unpack(cls, data: bytes) -> "Tile":
        try:
            index, zh, zw, zlen = struct.unpack_from(">IHHI", data)
            pos = 12
            z = data[pos : pos + zlen]
            pos += zlen
            (ylen,) = struct.unpack_from(">I", data, pos)
            pos += 4
            y = data[pos : pos + ylen]
            pos += ylen
            n = data[pos]
            pos += 1
            sums = list(struct.unpack_from(f">{n}I", data, pos))
            pos += 4 * n
        except (struct.error, IndexError):
            raise FormatError("tile chunk truncated") from None
        if len(z) != zlen or len(y) != ylen or pos != len(data):
            raise FormatError("tile chunk lengths are inconsistent")
        return cls(index, (zh, zw), z, y, sums)


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

    def to_bytes(self) -> bytes:
        head = bytes([VERSION_MAJOR, VERSION_MINOR]) + struct.pack(">I", len(hb := self.header.pack())) + hb
        out = [MAGIC, head, struct.pack(">I", zlib.crc32(head))]
        for t in self.tiles:
            out.append(_chunk(b"TILE", t.pack()))
        if self.alpha is not None:
            out.append(_chunk(b"ALPH", self.alpha))
        out.append(_chunk(b"IEND", b""))
        return b"".join(out)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload + struct.pack(">I", zlib.crc32(kind + payload))


def parse_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, int]:
    """Validate magic, version and header CRC; returns the header and the offset of the first chunk."""
    header, pos, _ = _parse_header(data, max_pixels)
    return header, pos


def _parse_header(data: bytes, max_pixels: int) -> tuple[Header, int, tuple[int, int]]:
    if len(data) < len(MAGIC) + 10:
        raise FormatError("file too short to be an .mlic file" if data[: len(MAGIC)] == MAGIC[: len(data)] else "not an .mlic file (wrong magic bytes)")
    if data[: len(MAGIC)] != MAGIC:
        raise FormatError("not an .mlic file (wrong magic bytes)")
    pos = len(MAGIC)
    major, minor = data[pos], data[pos + 1]
    if major > VERSION_MAJOR:
        raise UnsupportedVersionError(f"file uses .mlic format {major}.{minor}; this mlic reads formats 1.x and {VERSION_MAJOR}.x — upgrade mlic")
    if major < 1:
        raise FormatError(f"invalid format version {major}.{minor}")
    (hlen,) = struct.unpack_from(">I", data, pos + 2)
    if hlen > MAX_HEADER_BYTES or pos + 6 + hlen + 4 > len(data):
        raise FormatError("header length exceeds the file (truncated or corrupt)")
    head = data[pos : pos + 6 + hlen]
    (crc,) = struct.unpack_from(">I", data, pos + 6 + hlen)
    if zlib.crc32(head) != crc:
        raise FormatError("header CRC mismatch (corrupt file)")
    return Header.unpack(head[6:], max_pixels), pos + 6 + hlen + 4, (major, minor)


def iter_chunks(data: bytes, pos: int):
    """Yield (kind, payload, offset) for every chunk; checks lengths and CRCs; stops after IEND."""
    while True:
        if pos + 8 > len(data):
            raise FormatError("file truncated: missing IEND chunk")
        kind = data[pos : pos + 4]
        (length,) = struct.unpack_from(">I", data, pos + 4)
        end = pos + 8 + length
        if end + 4 > len(data):
            raise FormatError(f"{_name(kind)} chunk at byte {pos} runs past the end of the file (truncated or corrupt)")
        payload = data[pos + 8 : end]
        (crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(kind + payload) != crc:
            raise FormatError(f"{_name(kind)} chunk at byte {pos} fails its CRC (corrupt file)")
        yield kind, payload, pos
        pos = end + 4
        if kind == b"IEND":
            if pos != len(data):
                raise FormatError(f"{len(data) - pos} unexpected bytes after the IEND chunk")
            return


def _name(kind: bytes) -> str:
    return repr(kind.decode("ascii", "replace"))


def parse(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Container:
    header, pos, version = _parse_header(data, max_pixels)
    container = Container(header, version=version)
    for kind, payload, offset in iter_chunks(data, pos):
        container.chunk_table.append((kind, offset, len(payload)))
        if kind == b"TILE":
            tile = Tile.unpack(payload)
            if tile.index != len(container.tiles) or tile.index >= header.num_tiles:
                raise FormatError(f"tile chunk at byte {offset} has index {tile.index}, expected {len(container.tiles)}")
            if tile.z_shape != header.z_shape(tile.index):
                raise FormatError(f"tile {tile.index} declares latent shape {tile.z_shape}, expected {header.z_shape(tile.index)}")
            if len(tile.checksums) != container.checksums_per_tile:
                raise FormatError(f"tile {tile.index} carries {len(tile.checksums)} symbol checksums, expected {container.checksums_per_tile}")
            container.tiles.append(tile)
        elif kind == b"ALPH":
            if not header.has_alpha or container.alpha is not None:
                raise FormatError("unexpected alpha chunk")
            container.alpha = payload
        elif kind == b"IEND":
            break
        else:
            raise FormatError(f"unknown chunk type {_name(kind)} at byte {offset}")
    if len(container.tiles) != header.num_tiles:
        raise FormatError(f"file holds {len(container.tiles)} tiles, header declares {header.num_tiles}")
    if header.has_alpha and container.alpha is None:
        raise FormatError("alpha chunk missing")
    return container
