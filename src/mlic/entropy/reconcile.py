"""Decoding that tolerates a different machine's last-bit arithmetic ("index reconciliation").

The decoder recomputes every σ with its own floating point. Convolutions on another CPU, another
thread count or a GPU round differently in the last bits (we measure |Δ ln σ| up to about 1e-5), and
a σ that lands that close to a table-index decision boundary can get the other index. One wrong
index desynchronizes the rANS stream: everything after it is garbage.

A format-1.1 file stores a CRC32 of each checkerboard half's (symbols, indexes). When a half fails its
CRC, the decoder knows exactly which decisions it can have got wrong: the σ nearest to a boundary.
It re-decodes the half with the index of the other side for subsets of the closest candidates,
closest first, until the CRC matches. The search is bounded (at most ``MAX_CANDIDATES`` positions
within ``MAX_MARGIN`` of a boundary, every subset of them, each a vectorized rANS pass over one
half), and an unreconcilable half raises :class:`~mlic.errors.DesyncError`, never a wrong image.
Files that decode first time (all of them on the encoder's own machine) pay nothing.
"""
from __future__ import annotations

import zlib

import numpy as np

from ..errors import DecodeError, DesyncError

#: Only σ this close to a decision boundary (|Δ ln σ|) can have been decided differently: 10× the
#: largest cross-numerics difference we measured (thread counts, float64 against float32).
MAX_MARGIN = 1e-4
#: The candidates: at most this many σ, closest to a boundary first. Every subset of them is tried,
#: in binary-counting order (all subsets of the closest j before any that includes candidate j+1), so
#: the cost grows with the rank of the farthest flipped σ, not with how many flipped: at most
#: 2⁸ − 1 = 255 re-decodes of one half. (Flips come in groups: we measured a half with 4 flips, the 4
#: σ closest to a boundary.)
MAX_CANDIDATES = 8


def symbol_checksum(symbols: np.ndarray, indexes: np.ndarray, crc: int = 0) -> int:
    """CRC32 over the symbols and their table indexes: catches both wrong values and wrong tables."""
    crc = zlib.crc32(np.ascontiguousarray(symbols, dtype="<i4").tobytes(), crc)
    return zlib.crc32(np.ascontiguousarray(indexes, dtype="<i1").tobytes(), crc)


def reconcile(decoder, checkpoint, indexes: np.ndarray, margins: np.ndarray, alternatives: np.ndarray, tables,
              expected: int, what: str) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """Re-decode one chunk from ``checkpoint`` with flipped indexes until its CRC equals ``expected``.

    Returns (symbols, indexes, tries). ``margins``/``alternatives`` come from
    :meth:`GaussianConditional.index_alternatives`.
    """
    flat = np.asarray(indexes).reshape(-1)
    order = np.argsort(margins.reshape(-1), kind="stable")[:MAX_CANDIDATES]
    order = order[margins.reshape(-1)[order] < MAX_MARGIN]
    alternatives = alternatives.reshape(-1)
    tries = 0
    for subset in range(1, 1 << len(order)):
        tries += 1
        chosen = order[[bit for bit in range(len(order)) if subset >> bit & 1]]
        trial = flat.copy()
        trial[chosen] = alternatives[chosen]
        decoder.restore(checkpoint)
        try:
            symbols = decoder.decode(trial, tables)
        except DecodeError:
            continue
        if symbol_checksum(symbols, trial) == expected:
            return symbols, trial.reshape(np.shape(indexes)), tries
    raise DesyncError(
        f"{what} fails its checksum and no re-decode of its {len(order)} least certain table indexes matches "
        f"({tries} tries): corrupt data, another model, or arithmetic that differs from the encoder's by more "
        "than floating-point noise"
    )
