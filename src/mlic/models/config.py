"""Width configuration of an MLIC++ model."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

#: The six official MSE rate points (qualities 1..6 of the official models), λ of ``λ·255²·MSE + bpp``.
RATE_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)
#: The default quality of a variable-rate model is its level nearest this λ (the official quality 4),
#: so that adding levels at either end does not move the rate a plain ``mlic encode`` gives.
DEFAULT_LAMBDA = 0.0130


@dataclass(frozen=True)
class MLICConfig:
    """All widths of MLIC++. The defaults are the official configuration (83.5 M parameters).

    ``variant`` is ``"current"`` (2024 checkpoint) or ``"old"`` (the 2023 checkpoints, with a different
    first g_s block and four-layer LRPs). The hidden widths of the entropy-parameter, channel-context
    and LRP networks are hard-coded in the official code; small models may shrink them.
    """

    N: int = 192
    M: int = 320
    num_slices: int = 10
    variant: str = "current"
    entropy_widths: tuple[int, int, int] = (320, 256, 128)
    channel_widths: tuple[int, int] = (192, 128)
    lrp_widths: tuple[int, int] = (224, 128)
    window: int = 5
    local_heads: int = 2
    intra_heads: int = 2
    # Variable rate: number of learned gain vectors (0 = fixed-rate model like the official ones).
    num_rates: int = 0
    # The MSE λ each level is trained for, lowest first; empty = the official six (or, for another
    # num_rates, levels spread geometrically over the official range).
    rate_lambdas: tuple[float, ...] = ()
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if self.variant not in ("current", "old"):
            raise ValueError(f"variant must be 'current' or 'old', not {self.variant!r}")
        if self.M % self.num_slices:
            raise ValueError(f"M={self.M} is not divisible by num_slices={self.num_slices}")
        if self.slice_channels % 32:
            raise ValueError(f"channels per slice ({self.slice_channels}) must be a multiple of 32 (inter-context heads are 32 wide)")
        object.__setattr__(self, "entropy_widths", tuple(self.entropy_widths))
        object.__setattr__(self, "channel_widths", tuple(self.channel_widths))
        object.__setattr__(self, "lrp_widths", tuple(self.lrp_widths))
        object.__setattr__(self, "rate_lambdas", tuple(float(v) for v in self.rate_lambdas))
        lam = self.rate_lambdas
        if lam and len(lam) != self.num_rates:
            raise ValueError(f"rate_lambdas has {len(lam)} values for num_rates={self.num_rates}")
        if lam and not all(0 < a < b for a, b in zip(lam, lam[1:] + (math.inf,))):
            raise ValueError(f"rate_lambdas must be positive and increasing: {lam}")

    @property
    def slice_channels(self) -> int:
        return self.M // self.num_slices

    def lambdas(self) -> tuple[float, ...]:
        """The MSE λ of each quality level 1..num_rates (empty for a fixed-rate model)."""
        n = self.num_rates
        if self.rate_lambdas or n == 0:
            return self.rate_lambdas
        if n == len(RATE_LAMBDAS):
            return RATE_LAMBDAS
        if n == 1:
            return (DEFAULT_LAMBDA,)
        lo, hi = math.log(RATE_LAMBDAS[0]), math.log(RATE_LAMBDAS[-1])
        return tuple(math.exp(lo + (hi - lo) * i / (n - 1)) for i in range(n))

    @property
    def default_quality(self) -> float | None:
        """The quality ``encode_image`` uses when given none: the level nearest λ = 0.013."""
        lam = self.lambdas()
        if not lam:
            return None
        return float(1 + min(range(len(lam)), key=lambda i: abs(math.log(lam[i] / DEFAULT_LAMBDA))))

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        if not d["rate_lambdas"]:
            # Omitted when default, so models saved before the field existed keep their identity hash
            # (the model fingerprint hashes this dict) and their .mlic files stay decodable.
            d.pop("rate_lambdas")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "MLICConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "extra"}
        return cls(**known)
