"""Gaussian conditional for y: likelihoods, the scale table and its integer tables."""
import math

import numpy as np
import torch
from torch import nn

from ..layers.bounds import lower_bound
from .quantization import add_uniform_noise
from .tables import SymbolTables, TableBuffers, quantize_pmf

SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 64


def default_scale_table(minimum: float = SCALE_MIN, maximum: float = SCALE_MAX, levels: int = SCALE_LEVELS) -> torch.Tensor:
    return torch.exp(torch.linspace(math.log(minimum), math.log(maximum), levels))


def _std_cumulative(x):
    return 0.5 * torch.erfc(-(2**-0.5) * x)


class GaussianConditional(TableBuffers, nn.Module):
    """σ lower-bounded at 0.11, likelihoods floored at 1e-9, 64 log-spaced scales from 0.11 to 256.

    ``scale_table`` is a persistent buffer (stored with the weights) because the table index of a
    predicted σ must be computed identically by encoder and decoder.
    """

    scale_table: torch.Tensor

    def __init__(self, scale_table: torch.Tensor | None = None, scale_bound: float = SCALE_MIN, tail_mass: float = 1e-9, likelihood_bound: float = 1e-9):
        super().__init__()
        self.scale_bound = float(scale_bound)
        self.tail_mass = float(tail_mass)
        self.likelihood_bound = float(likelihood_bound)
        table = default_scale_table() if scale_table is None else torch.as_tensor(scale_table, dtype=torch.float32)
        self.register_buffer("scale_table", table.clone())
        self._init_table_buffers()

    def likelihood(self, values: torch.Tensor, scales: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
        # Likelihoods are always computed in float32, also under mixed-precision autocast.
        with torch.autocast(values.device.type, enabled=False):
            return self._likelihood(values.float(), scales.float(), means.float())

    def _likelihood(self, values, scales, means):
        bound = scales.new_tensor([self.scale_bound])
        scales = lower_bound(scales, bound) if torch.is_grad_enabled() else torch.max(scales, bound)
        v = torch.abs(values - means)
        lik = _std_cumulative((0.5 - v) / scales) - _std_cumulative((-0.5 - v) / scales)
        lb = lik.new_tensor([self.likelihood_bound])
        return lower_bound(lik, lb) if torch.is_grad_enabled() else torch.max(lik, lb)

    def forward(self, y: torch.Tensor, scales: torch.Tensor, means: torch.Tensor, training: bool | None = None):
        training = self.training if training is None else training
        values = add_uniform_noise(y) if training else torch.round(y - means) + means
        return values, self.likelihood(values, scales, means)

    def index_boundaries(self) -> torch.Tensor:
        """Decision boundaries (float64, CPU): σ ≤ boundary *j* and above boundary *j*−1 gets index *j*.

        CompressAI's and the official code's rule: the first table scale ≥ max(σ, bound), else the
        last, so the boundaries are the table scales t₀ … t₆₂.
        """
        return self.scale_table.detach().double().cpu()[:-1].clone()

    def build_indexes(self, scales: torch.Tensor) -> torch.Tensor:
        """Table index per σ: the first table scale ≥ max(σ, bound), else the last.

        Decided in float32 whatever the dtype of ``scales`` (a float64 decoder must decide like a
        float32 encoder), and without clamping σ to the bound: the bound is the first table scale, so
        σ ≤ bound gets index 0 either way, while clamping a float64 σ to the float64 0.11 would put it
        above the float32 table scale 0.1099999994 and give index 1.
        """
        bounds = self.index_boundaries().float().to(scales.device)
        return torch.searchsorted(bounds, scales.float().contiguous()).int()

    def index_alternatives(self, scales: torch.Tensor, indexes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each σ: its distance to the nearest decision boundary (|Δ ln σ|) and the index on the
        other side of that boundary. Lets a decoder whose arithmetic differs in the last bits from the
        encoder's find the few σ whose index it may have decided differently."""
        # σ itself, not max(σ, bound): with the bound equal to t₀ (as always here) a σ far below the
        # bound is far from every boundary, and clamping would make all of them look uncertain.
        s = scales.detach().double().cpu().reshape(-1).numpy()
        idx = np.asarray(indexes, dtype=np.int64).reshape(-1)
        bounds = self.index_boundaries().numpy()
        log_b = np.log(bounds)
        last = len(bounds) - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            ls = np.log(s)
            below = np.where(idx > 0, np.abs(ls - log_b[np.clip(idx - 1, 0, last)]), np.inf)
            above = np.where(idx <= last, np.abs(log_b[np.clip(idx, 0, last)] - ls), np.inf)
        margin = np.minimum(below, above)
        margin = np.where(np.isnan(margin), np.inf, margin)
        alt = np.where(below <= above, idx - 1, idx + 1)
        return margin, alt

    @torch.no_grad()
    def update(self, force: bool = False) -> bool:
        if self.has_tables() and not force:
            return False
        scales = self.scale_table.detach().cpu().double()
        multiplier = -_std_quantile(self.tail_mass / 2)
        centers = torch.ceil(scales * multiplier).long()
        tables, offsets = [], []
        for s, c in zip(scales.tolist(), centers.tolist()):
            k = torch.arange(-c, c + 1, dtype=torch.float64).abs()
            upper = _std_cumulative((0.5 - k) / s)
            lower = _std_cumulative((-0.5 - k) / s)
            tail = 2 * float(_std_cumulative(torch.tensor((-0.5 - c) / s, dtype=torch.float64)))
            tables.append(quantize_pmf((upper - lower).numpy(), tail))
            offsets.append(-c)
        self.set_tables(SymbolTables.from_list(tables, np.array(offsets)))
        return True





def _std_quantile(q: float) -> float:
    return math.sqrt(2) * -_erfcinv(2 * q)


def _erfcinv(x: float) -> float:
    return float(torch.special.erfinv(torch.tensor(1 - x, dtype=torch.float64)))
