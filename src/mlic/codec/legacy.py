"""Formats 1.x and 2.x of ``.mlic``: the chunked layout that format 3.0 replaced (reading, and writing for tests).

1.x/2.x files are PNG-style chunks (``type | length u32 | payload | crc u32``: TILE × tiles, then ALPH,
then IEND) after a fixed-width header with a 16-byte model id; docs/format.md describes them. They
are still read. The writer is kept so that tests and the fuzzer can make such files from a current one.
"""
from __future__ import annotations

import struct
import zlib

from ..errors import FormatError

_FIXED = struct.Struct(">16sfIIBBBIB")  # model id, quality, width, height, mode, depth, pad, tile, slices


def unpack_header(data: bytes) -> dict:
    """The fields of a 1.x/2.x header body (unvalidated beyond its layout)."""
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
    return dict(model_id=mid, quality=q, width=w, height=h, mode=mode, bit_depth=depth, pad_mode=pad, tile_size=tile,
                num_slices=slices, name=name, icc=data[pos:])  # fmt: skip


def pack_header(header, model_id: bytes) -> bytes:
    """A 1.x/2.x header body for ``header`` (a :class:`~mlic.codec.container.Header`) with the 16-byte ``model_id``."""
    from .container import MODES, PAD_MODES

    q = float("nan") if header.quality is None else float(header.quality)
    name = header.model_name.encode()
    icc = header.icc_profile or b""
    fixed = _FIXED.pack(model_id, q, header.width, header.height, MODES.index(header.mode), header.bit_depth,
                        PAD_MODES.index(header.pad_mode), header.tile_size, header.num_slices)  # fmt: skip
    return fixed + bytes([len(name)]) + name + struct.pack(">I", len(icc)) + icc


def pack_tile(index: int, z_shape: tuple[int, int], z: bytes, y: bytes, checksums: list[int]) -> bytes:
    zh, zw = z_shape
    return (struct.pack(">IHHI", index, zh, zw, len(z)) + z + struct.pack(">I", len(y)) + y + bytes([len(checksums)])
            + b"".join(struct.pack(">I", c) for c in checksums))  # fmt: skip


def unpack_tile(data: bytes) -> tuple[int, tuple[int, int], bytes, bytes, list[int]]:
    """(index, z shape, z stream, y stream, checksums) of a TILE payload."""
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
    return index, (zh, zw), z, y, sums


def chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload + struct.pack(">I", zlib.crc32(kind + payload))


def frame(version: tuple[int, int], header_body: bytes, chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A whole 1.x/2.x file from its header body and (type, payload) chunks (IEND included by the caller)."""
    from .container import MAGIC

    head = bytes(version) + struct.pack(">I", len(header_body)) + header_body
    return b"".join([MAGIC, head, struct.pack(">I", zlib.crc32(head))] + [chunk(k, p) for k, p in chunks])


def split(data: bytes) -> tuple[tuple[int, int], bytes, list[tuple[bytes, bytes]]]:
    """(version, header body, chunks) of a 1.x/2.x file, without any check (for rewriting files in tests)."""
    from .container import MAGIC

    pos = len(MAGIC)
    version = (data[pos], data[pos + 1])
    (hlen,) = struct.unpack_from(">I", data, pos + 2)
    body = data[pos + 6 : pos + 6 + hlen]
    pos = pos + 6 + hlen + 4
    chunks = []
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (n,) = struct.unpack_from(">I", data, pos + 4)
        chunks.append((kind, data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    return version, body, chunks


def to_legacy_bytes(container, model_id: bytes, version: tuple[int, int] = (2, 0)) -> bytes:
    """``container`` written as a 2.0 file (needs the model's full 16-byte id, which format 3.0 shortens)."""
    chunks = [(b"TILE", pack_tile(t.index, t.z_shape, t.z_string, t.y_string, t.checksums)) for t in container.tiles]
    if container.alpha is not None:
        chunks.append((b"ALPH", container.alpha))
    return frame(version, pack_header(container.header, model_id), chunks + [(b"IEND", b"")])


def parse_body(data: bytes, pos: int, container) -> None:
    """Read the chunks of a 1.x/2.x file from ``pos`` into ``container`` (its header already parsed)."""
    from .container import Tile

    header = container.header
    per_tile = container.checksums_per_tile
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
        offset, pos = pos, end + 4
        container.chunk_table.append((kind, offset, length))
        if kind == b"TILE":
            index, z_shape, z, y, sums = unpack_tile(payload)
            if index != len(container.tiles) or index >= header.num_tiles:
                raise FormatError(f"tile chunk at byte {offset} has index {index}, expected {len(container.tiles)}")
            if z_shape != header.z_shape(index):
                raise FormatError(f"tile {index} declares latent shape {z_shape}, expected {header.z_shape(index)}")
            if len(sums) != per_tile:
                raise FormatError(f"tile {index} carries {len(sums)} symbol checksums, expected {per_tile}")
            container.tiles.append(Tile(index, z_shape, z, y, sums))
        elif kind == b"ALPH":
            if not header.has_alpha or container.alpha is not None:
                raise FormatError("unexpected alpha chunk")
            container.alpha = payload
        elif kind == b"IEND":
            if pos != len(data):
                raise FormatError(f"{len(data) - pos} unexpected bytes after the IEND chunk")
            return
        else:
            raise FormatError(f"unknown chunk type {_name(kind)} at byte {offset}")


def _name(kind: bytes) -> str:
    return repr(kind.decode("ascii", "replace"))

