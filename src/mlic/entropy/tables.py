"""Integer probability tables: the contract between encoder and decoder.

A table j covers the integer symbols ``offset_j .. offset_j + n_j - 1`` plus one extra *escape*
symbol (index ``n_j``) that stands for every value outside that range. Frequencies are positive
integers summing to ``2**PRECISION``. Encoder and decoder must use bit-identical tables; that is why
tables are computed once (``update()``), stored with the weights, and hashed into the model identity.
"""
from dataclasses import dataclass

import numpy as np
import torch

PRECISION = 16


def quantize_pmf(pmf: np.ndarray, tail_mass: float, precision: int = PRECISION) -> np.ndarray:
    """Turn a float pmf (+ tail mass for the escape symbol) into positive integer frequencies.

    Same rule as CompressAI's ``pmf_to_quantized_cdf``: round, rescale to the total, then give every
    zero-frequency symbol one unit taken from the symbol that can best afford it. Pure integer work
    after the first rounding, so it is deterministic for a given float input.
    """
    total = 1 << precision
    p = np.append(np.asarray(pmf, dtype=np.float64), float(tail_mass))
    p = np.clip(p, 0.0, None)
    freq = np.round(p * total).astype(np.int64)
    s = int(freq.sum())
    if s <= 0:
        freq = np.ones_like(freq)
        s = int(freq.sum())
    freq = (freq * total) // s
    # Put the rounding remainder on the most probable symbol.
    freq[int(np.argmax(freq))] += total - int(freq.sum())
    for i in np.flatnonzero(freq == 0):
        donors = np.flatnonzero(freq > 1)
        donor = donors[np.argmax(freq[donors])]
        freq[donor] -= 1
        freq[i] = 1
    assert int(freq.sum()) == total and freq.min() >= 1
    return freq


@dataclass
class SymbolTables:
    """A set of tables, stored padded: ``freqs`` (T, max_len) int32, ``lengths`` (T,), ``offsets`` (T,)."""

    freqs: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_list(cls, tables: list[np.ndarray], offsets) -> "SymbolTables":
        lengths = np.array([len(t) for t in tables], dtype=np.int32)
        freqs = np.zeros((len(tables), int(lengths.max())), dtype=np.int32)
        for j, t in enumerate(tables):
            freqs[j, : len(t)] = t
        return cls(freqs, lengths, np.asarray(offsets, dtype=np.int32))

    @classmethod
    def from_buffers(cls, freqs: torch.Tensor, lengths: torch.Tensor, offsets: torch.Tensor) -> "SymbolTables":
        return cls(
            freqs.detach().cpu().numpy().astype(np.int32),
            lengths.detach().cpu().numpy().astype(np.int32),
            offsets.detach().cpu().numpy().astype(np.int32),
        )

    def to_buffers(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.freqs.copy()), torch.from_numpy(self.lengths.copy()), torch.from_numpy(self.offsets.copy())

    def __len__(self) -> int:
        return len(self.lengths)

    def __getstate__(self) -> dict:
        # The coder caches constriction models on the instance; they cannot be copied or pickled and
        # are rebuilt on demand, so copies (deepcopy of a model, DDP spawn) leave them out.
        return {k: v for k, v in self.__dict__.items() if k != "_constriction_models"}

    def table(self, j: int) -> np.ndarray:
        return self.freqs[j, : self.lengths[j]]


_BUFFERS = ("_table_freqs", "_table_lengths", "_table_offsets")


class TableBuffers:
    """Mixin for an ``nn.Module`` entropy model: integer tables stored as (resizable) buffers.

    Buffers make the tables travel with the weights (state dict, safetensors), so encoder and decoder
    never rebuild them independently.
    """

    _table_freqs: torch.Tensor
    _table_lengths: torch.Tensor
    _table_offsets: torch.Tensor

    def _init_table_buffers(self) -> None:
        for name in _BUFFERS:
            self.register_buffer(name, torch.zeros(0, dtype=torch.int32))  # type: ignore[attr-defined]
        self._tables_cache: SymbolTables | None = None

    def has_tables(self) -> bool:
        return self._table_freqs.numel() > 0

    def set_tables(self, tables: SymbolTables) -> None:
        device = self._table_freqs.device
        self._table_freqs, self._table_lengths, self._table_offsets = (t.to(device) for t in tables.to_buffers())
        self._tables_cache = tables

    def tables(self) -> SymbolTables:
        if not self.has_tables():
            raise RuntimeError("entropy tables are missing: call model.update() before compress/decompress")
        if self._tables_cache is None:
            self._tables_cache = SymbolTables.from_buffers(self._table_freqs, self._table_lengths, self._table_offsets)
        return self._tables_cache

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Table sizes depend on the data: take the stored size before the copy.
        for name in _BUFFERS:
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=self._table_freqs.device))
        self._tables_cache = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[misc]
