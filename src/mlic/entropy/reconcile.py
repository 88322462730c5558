"""Decoding that tolerates a different machine's last-bit arithmetic ("index reconciliation").

The decoder recomputes every σ with its own floating point. Convolutions on another CPU, another
thread count or a GPU round differently in the last bits (we measure |Δ ln σ| up to about 1e-5), and
a σ that lands that close to a table-index decision boundary can get the other index. One wrong
index desynchronizes the rANS stream: everything after it is garbage.

A format-2 file stores a CRC32 of each checkerboard half's (symbols, indexes). When a half fails its
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


class CheckedDecoder:
    """One image's y stream, decoded one checkerboard half at a time and checked against the
    encoder's CRCs: one per half (formats 2.0 and 3.0: a failing half is reconciled) or one per slice (format
    1.0: checked at the end of the slice, no reconciliation), or none (no checking)."""

    def __init__(self, data: bytes, checksums: list[int] | None, num_slices: int, name: str = "the image"):
        from .coder import StreamDecoder

        if checksums is not None and len(checksums) not in (num_slices, 2 * num_slices):
            raise ValueError(f"expected {2 * num_slices} checksums (one per half) or {num_slices} (one per slice), got {len(checksums)}")
        self.stream = StreamDecoder(data)
        self.checksums = checksums
        self.per_half = checksums is not None and len(checksums) == 2 * num_slices
        self._running = [0] * num_slices
        self.name = name
        self.reconciled = 0  # halves recovered by reconciliation
        self.tries = 0  # re-decodes they took

    def decode(self, slice_index: int, nonanchor: bool, indexes: np.ndarray, tables, alternatives) -> np.ndarray:
        """Symbols of one half. ``alternatives()`` returns (margins, other-side indexes) for the
        positions of ``indexes``; it is called only when the half needs reconciling."""
        if not self.per_half:
            symbols = self.stream.decode(indexes, tables).reshape(indexes.shape)
            if self.checksums is not None:
                crc = self._running[slice_index] = symbol_checksum(symbols, indexes, self._running[slice_index])
                if nonanchor and crc != self.checksums[slice_index]:
                    raise DesyncError(
                        f"slice {slice_index} of {self.name} fails its checksum: the decoder's probabilities differ from the encoder's "
                        "(corrupt data, another model, or numerics that differ between machines)"
                    )
            return symbols
        expected = self.checksums[2 * slice_index + nonanchor]
        start = self.stream.checkpoint()
        try:
            symbols = self.stream.decode(indexes, tables).reshape(indexes.shape)
        except DecodeError:  # a wrong index can also make the stream undecodable
            symbols = None
        if symbols is not None and symbol_checksum(symbols, indexes) == expected:
            return symbols
        margins, other = alternatives()
        what = f"{'non-anchor' if nonanchor else 'anchor'} half of slice {slice_index} of {self.name}"
        symbols, _, tries = reconcile(self.stream, start, indexes, margins, other, tables, expected, what)
        self.reconciled += 1
        self.tries += tries
        return symbols.reshape(indexes.shape)
