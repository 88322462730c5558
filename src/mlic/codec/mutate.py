"""Structured mutations of valid .mlic files, for fuzzing the reader and decoder.

Besides raw byte damage (which the CRCs catch), it rewrites header fields, record lengths and the
entropy-coded payloads and then *recomputes every CRC*, so the damage reaches the deep layers:
header validation, tile bookkeeping, the rANS decoder, the slice checksums and the model itself.
Files of format 3.0 and of the chunked 1.x/2.x are both understood, so the old reader stays fuzzed.
"""
from __future__ import annotations

import random
import struct
import zlib

from ..errors import MlicError
from . import container as fmt
from . import legacy


def _flip(b: bytes, rng: random.Random, n: int = 1) -> bytes:
    if not b:
        return b
    a = bytearray(b)
    for _ in range(n):
        i = rng.randrange(len(a))
        a[i] ^= 1 << rng.randrange(8)
    return bytes(a)


def _drop_repeat_or_shuffle(items: list, i: int, rng: random.Random) -> None:
    """Drop item ``i``, repeat it, or shuffle them all (in place)."""
    op = rng.randrange(3)
    if op == 0:
        del items[i]
    elif op == 1:
        items.insert(i, items[i])
    else:
        rng.shuffle(items)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random mutation of a valid file (structure-aware most of the time)."""
    kind = rng.randrange(10)
    if kind == 0:  # raw bit flips anywhere
        return _flip(data, rng, rng.randint(1, 4))
    if kind == 1:  # truncation or extension
        cut = rng.randrange(len(data) + 1)
        return data[:cut] if rng.random() < 0.7 else data + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    major = data[len(fmt.MAGIC)] if len(data) > len(fmt.MAGIC) else 0
    try:
        if major >= 3:
            return _mutate_v3(data, rng, kind)
        return _mutate_legacy(data, rng, kind)
    except (MlicError, struct.error, IndexError, ValueError):  # already too damaged for structured edits
        return _flip(data, rng, rng.randint(1, 4))


# ---- format 3.0 ---------------------------------------------------------------------------------

def _split_v3(data: bytes):
    """(version, header body, tile record bodies, alpha payload or None, trailing bytes), CRCs ignored."""
    pos = len(fmt.MAGIC)
    version = (data[pos], data[pos + 1])
    hlen, at = fmt.get_varint(data, pos + 2, "header length")
    body = data[at : at + hlen]
    header = fmt.Header.unpack(body, 1 << 62)
    pos = at + hlen + 4
    sums = 2 * header.num_slices
    records = []
    for _ in range(header.num_tiles):
        zlen, p = fmt.get_varint(data, pos, "z")
        ylen, p = fmt.get_varint(data, p, "y")
        end = p + zlen + ylen + 4 * sums
        if end + 4 > len(data):
            raise ValueError("truncated")
        records.append(data[pos:end])
        pos = end + 4
    alpha = None
    if header.has_alpha:
        n, p = fmt.get_varint(data, pos, "alpha")
        alpha = data[p : p + n]
        pos = p + n + 4
    return version, body, records, alpha, data[pos:]


def _frame_v3(version, body: bytes, records: list[bytes], alpha: bytes | None, tail: bytes = b"") -> bytes:
    head = bytes(version) + fmt.put_varint(len(body)) + body
    out = [fmt.MAGIC, head, struct.pack(">I", zlib.crc32(head))]
    for i, r in enumerate(records):
        out += [r, struct.pack(">I", zlib.crc32(r, fmt._tile_seed(i)))]
    if alpha is not None:
        record = fmt.put_varint(len(alpha)) + alpha
        out += [record, struct.pack(">I", zlib.crc32(record, fmt._ALPHA_SEED))]
    return b"".join(out) + tail


def _header_fields(body: bytes) -> list:
    """[id, quality, width, height, flags, tiles of 64, slices, name, icc] of a 3.0 header body."""
    mid, (q,) = body[: fmt.MODEL_ID_BYTES], struct.unpack_from(">f", body, fmt.MODEL_ID_BYTES)
    w, pos = fmt.get_varint(body, fmt.MODEL_ID_BYTES + 4, "w")
    h, pos = fmt.get_varint(body, pos, "h")
    flags = body[pos]
    t, pos = fmt.get_varint(body, pos + 1, "t")
    slices, n = body[pos], body[pos + 1]
    name = body[pos + 2 : pos + 2 + n]
    _, pos = fmt.get_varint(body, pos + 2 + n, "icc")
    return [mid, q, w, h, flags, t, slices, name, body[pos:]]


def _pack_fields(f: list) -> bytes:
    mid, q, w, h, flags, t, slices, name, icc = f
    return b"".join([mid, struct.pack(">f", q), fmt.put_varint(w), fmt.put_varint(h), bytes([flags]), fmt.put_varint(t),
                     bytes([slices, len(name)]), name, fmt.put_varint(len(icc)), icc])  # fmt: skip


def _mutate_v3(data: bytes, rng: random.Random, kind: int) -> bytes:
    version, body, records, alpha, tail = _split_v3(data)
    if kind == 2:  # one header field rewritten, CRC fixed
        f = _header_fields(body)
        i = rng.randrange(1, 8)
        if i == 1:
            f[1] = rng.choice([0.0, -1.0, 1.0, 3.5, 6.0, 7.0, 1e30, float("nan"), float("inf")])
        elif i in (4, 6):
            f[i] = rng.choice([0, 1, 2, 3, 4, 8, 16, 31, 32, 255])
        elif i == 7:
            f[7] = rng.choice([b"", b"\xff\xfe", b"x" * 255, f[7][:-1]])
        else:
            f[i] = rng.choice([0, 1, 2, 3, 7, 64, 255, 1 << 16, (1 << 31) - 1, (1 << 32) - 1, (1 << 35) - 1])
        return _frame_v3(version, _pack_fields(f), records, alpha, tail)
    if kind == 3:  # header body damaged (name, ICC, varints), CRC fixed
        return _frame_v3(version, _flip(body, rng, rng.randint(1, 3)), records, alpha, tail)
    if kind == 4:  # newer or older version: a 3.0 body read as 2.0 must fail cleanly
        return _frame_v3((rng.choice([0, 1, 2, 4, 255]), rng.randrange(256)), body, records, alpha, tail)
    if not records:
        return data
    ri = rng.randrange(len(records))
    r = records[ri]
    zlen, p = fmt.get_varint(r, 0, "z")
    ylen, p = fmt.get_varint(r, p, "y")
    if kind == 5:  # record payload damaged, CRC fixed (reaches the entropy decoder and the checksums)
        records[ri] = r[:p] + _flip(r[p:], rng, rng.randint(1, 8))
    elif kind == 6:  # a length inside a record rewritten, CRC fixed
        new = rng.choice([0, 1, zlen + 1, ylen + 1, max(0, ylen - 1), 1 << 20, (1 << 35) - 1])
        lengths = (new, ylen) if rng.random() < 0.5 else (zlen, new)
        records[ri] = fmt.put_varint(lengths[0]) + fmt.put_varint(lengths[1]) + r[p:]
    elif kind == 7:  # records dropped, duplicated or reordered, CRCs recomputed for their new places
        _drop_repeat_or_shuffle(records, ri, rng)
    elif kind == 8:  # a padded or over-long varint where a length is
        pad = rng.choice([b"\x80\x00", b"\xff\xff\xff\xff\xff\x01", b"\x80\x80\x80\x80\x80"])
        records[ri] = pad + r
    else:  # the y stream truncated and zero-filled inside a record, CRC fixed
        if ylen > 1:
            cut = p + zlen + rng.randrange(ylen)
            records[ri] = r[:cut] + bytes(p + zlen + ylen - cut) + r[p + zlen + ylen :]
    return _frame_v3(version, body, records, alpha, tail)


# ---- formats 1.x and 2.x ------------------------------------------------------------------------

def _mutate_legacy(data: bytes, rng: random.Random, kind: int) -> bytes:
    version, body, chunks = legacy.split(data)
    legacy._FIXED.unpack_from(body)
    if kind == 2:  # header field rewritten, CRC fixed
        fields = list(struct.unpack_from(legacy._FIXED.format, body))
        i = rng.randrange(1, len(fields))
        choices = [0, 1, 2, 3, 7, 64, 255, 1 << 16, (1 << 31) - 1, (1 << 32) - 1]
        if i == 1:
            fields[i] = rng.choice([0.0, -1.0, 1.0, 3.5, 6.0, 7.0, 1e30, float("nan"), float("inf")])
        elif i in (4, 5, 6, 8):
            fields[i] = rng.choice([0, 1, 2, 3, 4, 8, 16, 255])
        else:
            fields[i] = rng.choice(choices)
        return legacy.frame(version, legacy._FIXED.pack(*fields) + body[legacy._FIXED.size :], chunks)
    if kind == 3:  # header tail (name, ICC length) damaged, CRC fixed
        return legacy.frame(version, _flip(body, rng, rng.randint(1, 3)), chunks)
    if kind == 4:  # another version: a 2.0 body read as 3.0 must fail cleanly
        return legacy.frame((rng.choice([0, 1, 2, 3, 255]), rng.randrange(256)), body, chunks)
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
        _drop_repeat_or_shuffle(chunks, ci, rng)
    elif kind == 8:  # unknown chunk type or a huge declared length
        if rng.random() < 0.5:
            chunks[ci] = (bytes(rng.randrange(65, 91) for _ in range(4)), payload)
        else:
            raw = legacy.frame(version, body, chunks)
            pos = raw.find(ck + struct.pack(">I", len(payload)))
            if pos >= 0:
                raw = raw[: pos + 4] + struct.pack(">I", rng.choice([len(payload) + 1, (1 << 32) - 1, 1 << 30])) + raw[pos + 8 :]
            return raw
    else:  # y/z streams swapped or truncated inside a tile, CRC fixed
        if ck == b"TILE" and len(payload) > 16:
            p = bytearray(payload)
            cut = rng.randrange(12, len(p))
            chunks[ci] = (ck, bytes(p[:cut]) + bytes(len(p) - cut))
    return legacy.frame(version, body, chunks)
