"""Structured mutations of valid .mlic files, for fuzzing the reader and decoder.

Besides raw byte damage (which the CRCs catch), it rewrites header fields, chunk lengths and the
entropy-coded payloads and then *recomputes every CRC*, so the damage reaches the deep layers:
header validation, tile bookkeeping, the rANS decoder, the slice checksums and the model itself.
"""
from __future__ import annotations

import random
import struct
import zlib

from . import container as fmt


def _reframe(header_body: bytes, chunks: list[tuple[bytes, bytes]], version=(fmt.VERSION_MAJOR, fmt.VERSION_MINOR)) -> bytes:
    head = bytes(version) + struct.pack(">I", len(header_body)) + header_body
    out = [fmt.MAGIC, head, struct.pack(">I", zlib.crc32(head))]
    for kind, payload in chunks:
        out.append(kind + struct.pack(">I", len(payload)) + payload + struct.pack(">I", zlib.crc32(kind + payload)))
    return b"".join(out)


def _split(data: bytes):
    pos = len(fmt.MAGIC)
    (hlen,) = struct.unpack_from(">I", data, pos + 2)
    body = data[pos + 6 : pos + 6 + hlen]
    pos = pos + 6 + hlen + 4
    chunks = []
    while pos < len(data):
        kind = data[pos : pos + 4]
        (n,) = struct.unpack_from(">I", data, pos + 4)
        chunks.append((kind, data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    return body, chunks


def _flip(b: bytes, rng: random.Random, n: int = 1) -> bytes:
    if not b:
        return b
    a = bytearray(b)
    for _ in range(n):
        i = rng.randrange(len(a))
        a[i] ^= 1 << rng.randrange(8)
    return bytes(a)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random mutation of a valid file (structure-aware most of the time)."""
    kind = rng.randrange(10)
    if kind == 0:  # raw bit flips anywhere
        return _flip(data, rng, rng.randint(1, 4))
    if kind == 1:  # truncation or extension
        cut = rng.randrange(len(data) + 1)
        return data[:cut] if rng.random() < 0.7 else data + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    try:
        body, chunks = _split(data)
        fmt._FIXED.unpack_from(body)
    except (struct.error, IndexError):  # already too damaged for structured edits
        return _flip(data, rng, rng.randint(1, 4))
    if kind == 2:  # header field rewritten, CRC fixed
        fields = list(struct.unpack_from(fmt._FIXED.format, body))
        i = rng.randrange(1, len(fields))
        choices = [0, 1, 2, 3, 7, 64, 255, 1 << 16, (1 << 31) - 1, (1 << 32) - 1]
        if i == 1:
            fields[i] = rng.choice([0.0, -1.0, 1.0, 3.5, 6.0, 7.0, 1e30, float("nan"), float("inf")])
        elif i in (4, 5, 6, 8):
            fields[i] = rng.choice([0, 1, 2, 3, 4, 8, 16, 255])
        else:
            fields[i] = rng.choice(choices)
        return _reframe(fmt._FIXED.pack(*fields) + body[fmt._FIXED.size :], chunks)
    if kind == 3:  # header tail (name, ICC length) damaged, CRC fixed
        return _reframe(_flip(body, rng, rng.randint(1, 3)), chunks)
    if kind == 4:  # newer or older version
        return _reframe(body, chunks, (rng.choice([0, 1, 2, 255]), rng.randrange(256)))
    if not chunks:
        return data
    ci = rng.randrange(len(chunks))
    ck, payload = chunks[ci]
    if kind == 5:  # chunk payload damaged, CRC fixed (reaches the entropy decoder)
        chunks[ci] = (ck, _flip(payload, rng, rng.randint(1, 8)))
    elif kind == 6:  # inner length fields of a tile rewritten
        if ck == b"TILE" and len(payload) >= 12:
            p = bytearray(payload)
            off = rng.choice([4, 6, 8])
            width = 2 if off in (4, 6) else 4
            p[off : off + width] = rng.randrange(1 << (8 * width)).to_bytes(width, "big")
            chunks[ci] = (ck, bytes(p))
    elif kind == 7:  # chunks dropped, duplicated or reordered
        op = rng.randrange(3)
        if op == 0:
            del chunks[ci]
        elif op == 1:
            chunks.insert(ci, chunks[ci])
        else:
            rng.shuffle(chunks)
    elif kind == 8:  # unknown chunk type or a huge declared length
        if rng.random() < 0.5:
            chunks[ci] = (bytes(rng.randrange(65, 91) for _ in range(4)), payload)
        else:
            raw = _reframe(body, chunks)
            pos = raw.find(ck + struct.pack(">I", len(payload)))
            if pos >= 0:
                raw = raw[: pos + 4] + struct.pack(">I", rng.choice([len(payload) + 1, (1 << 32) - 1, 1 << 30])) + raw[pos + 8 :]
            return raw
    else:  # y/z streams swapped or truncated inside a tile, CRC fixed
        if ck == b"TILE" and len(payload) > 16:
            p = bytearray(payload)
            cut = rng.randrange(12, len(p))
            chunks[ci] = (ck, bytes(p[:cut]) + bytes(len(p) - cut))
    return _reframe(body, chunks)
