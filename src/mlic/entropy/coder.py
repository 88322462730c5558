"""The only module that turns latent symbols into bytes and back (via ``constriction``'s rANS coder).

Layout of one stream: a sequence of *chunks* (one per checkerboard half of a slice, or the whole z),
each decoded with tables the decoder already knows. Inside a chunk, symbols are coded grouped by
table index (ascending, positions in C order inside a group) so each group is one vectorized call,
followed by the escape payloads: for every symbol outside its table's range, the escape symbol is
coded in the group and its value afterwards as an Elias-gamma style (bit count, remainder) pair.
"""
from __future__ import annotations

import constriction
import numpy as np

from .tables import SymbolTables

MAX_ESCAPE_BITS = 23  # constriction's uniform model needs size < 2**24
_UNIFORM = constriction.stream.model.Uniform()
_BITS_MODEL = constriction.stream.model.Uniform(MAX_ESCAPE_BITS + 1)


from ..errors import DecodeError


def _models(tables: SymbolTables) -> list:
    # constriction re-quantizes the probabilities; we hand it exact integers so both sides see the
    # same floats and therefore build the same model.
    cache = getattr(tables, "_constriction_models", None)
    if cache is None:
        cache = [None] * len(tables)
        tables._constriction_models = cache  # type: ignore[attr-defined]
    return cache


def _model(tables: SymbolTables, j: int):
    cache = _models(tables)
    if cache[j] is None:
        cache[j] = constriction.stream.model.Categorical(tables.table(j).astype(np.float64), perfect=False)
    return cache[j]


def _groups(indexes: np.ndarray):
    order = np.argsort(indexes, kind="stable")
    values, starts, counts = np.unique(indexes[order], return_index=True, return_counts=True)
    return order, values, starts, counts


class StreamEncoder:
    """Collects chunks in decoding order; ``flush()`` entropy-codes them into one byte string."""

    def __init__(self):
        self._chunks: list[tuple[np.ndarray, np.ndarray, SymbolTables]] = []

    def encode(self, symbols, indexes, tables: SymbolTables) -> None:
        symbols = np.ascontiguousarray(symbols, dtype=np.int64).reshape(-1)
        indexes = np.ascontiguousarray(indexes, dtype=np.int64).reshape(-1)
        if symbols.shape != indexes.shape:
            raise ValueError("symbols and indexes differ in size")
        self._chunks.append((symbols, indexes, tables))

    def flush(self) -> bytes:
        coder = constriction.stream.stack.AnsCoder()
        # rANS is a stack: encode the last chunk first so the decoder reads them in order.
        for symbols, indexes, tables in reversed(self._chunks):
            _encode_chunk(coder, symbols, indexes, tables)
        self._chunks.clear()
        return coder.get_compressed().astype("<u4").tobytes()


def _encode_chunk(coder, symbols: np.ndarray, indexes: np.ndarray, tables: SymbolTables) -> None:
    if symbols.size == 0:
        return
    n_regular = tables.lengths[indexes].astype(np.int64) - 1
    v = symbols - tables.offsets[indexes]
    escaped = (v < 0) | (v >= n_regular)
    coded = np.where(escaped, n_regular, v).astype(np.int32)
    if escaped.any():
        ve, ne = v[escaped], n_regular[escaped]
        raw = np.where(ve < 0, -2 * ve - 1, 2 * (ve - ne)) + 1  # >= 1
        bits = np.floor(np.log2(raw.astype(np.float64))).astype(np.int64)
        # log2 in floating point can be off by one near powers of two: fix exactly.
        bits += (raw >= (np.int64(1) << (bits + 1))).astype(np.int64)
        bits -= (raw < (np.int64(1) << bits)).astype(np.int64)
        if bits.max() > MAX_ESCAPE_BITS:
            raise ValueError(f"a latent value is too large to code (|symbol| ≥ 2^{MAX_ESCAPE_BITS - 1})")
        rem = raw - (np.int64(1) << bits)
        has_rem = bits >= 1
        if has_rem.any():
            coder.encode_reverse(rem[has_rem].astype(np.int32), _UNIFORM, (np.int64(1) << bits[has_rem]).astype(np.int32))
        coder.encode_reverse(bits.astype(np.int32), _BITS_MODEL)
    order, values, starts, counts = _groups(indexes)
    for j, start, count in reversed(list(zip(values, starts, counts))):
        coder.encode_reverse(coded[order[start : start + count]], _model(tables, int(j)))


class StreamDecoder:
    """Reads chunks from a byte string in the order they were encoded."""

    def __init__(self, data: bytes):
        if len(data) % 4:
            raise DecodeError("entropy-coded stream length is not a multiple of 4 bytes")
        words = np.frombuffer(bytes(data), dtype="<u4").astype(np.uint32)
        try:
            self._coder = constriction.stream.stack.AnsCoder(words)
        except Exception as exc:  # constriction rejects some malformed streams up front
            raise DecodeError(f"invalid entropy-coded stream: {exc}") from exc

    def decode(self, indexes, tables: SymbolTables) -> np.ndarray:
        indexes = np.ascontiguousarray(indexes, dtype=np.int64).reshape(-1)
        out = np.empty(indexes.shape, dtype=np.int64)
        if indexes.size == 0:
            return out
        try:
            order, values, starts, counts = _groups(indexes)
            for j, start, count in zip(values, starts, counts):
                out[order[start : start + count]] = self._coder.decode(_model(tables, int(j)), int(count))
            n_regular = tables.lengths[indexes].astype(np.int64) - 1
            escaped = out == n_regular
            if escaped.any():
                bits = self._coder.decode(_BITS_MODEL, int(escaped.sum())).astype(np.int64)
                raw = np.int64(1) << bits
                has_rem = bits >= 1
                if has_rem.any():
                    sizes = (np.int64(1) << bits[has_rem]).astype(np.int32)
                    raw[has_rem] += self._coder.decode(_UNIFORM, sizes).astype(np.int64)
                raw -= 1
                ne = n_regular[escaped]
                out[escaped] = np.where(raw % 2 == 1, -(raw + 1) // 2, raw // 2 + ne)
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(f"entropy decoding failed: {exc}") from exc
        return out + tables.offsets[indexes]

    def checkpoint(self):
        """The decoder's state now; :meth:`restore` returns to it (lets a chunk be decoded again)."""
        return self._coder.clone()

    def restore(self, checkpoint) -> None:
        self._coder = checkpoint.clone()

    def exhausted(self) -> bool:
        return bool(self._coder.is_empty())
