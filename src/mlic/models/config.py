"""Width configuration of an MLIC++ model."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


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

    @property
    def slice_channels(self) -> int:
        return self.M // self.num_slices

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "MLICConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "extra"}
        return cls(**known)
