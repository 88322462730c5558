"""Images ↔ tensors: padding to the model's multiple and cropping back."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import STRIDE


def pad_to_multiple(x: torch.Tensor, multiple: int = STRIDE, mode: str = "replicate") -> torch.Tensor:
    """Pad right/bottom so height and width are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not ph and not pw:
        return x
    if mode == "constant":
        return F.pad(x, (0, pw, 0, ph))
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "replicate"  # reflect needs pad < size
    return F.pad(x, (0, pw, 0, ph), mode=mode)
