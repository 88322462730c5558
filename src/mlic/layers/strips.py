"""Run a convolutional network over horizontal strips of its input, to bound peak memory.

For a translation-equivariant network (convolutions, pointwise GDN, pixel shuffle), each strip with
a halo at least as tall as the receptive field gives exactly the rows the whole input would give
(up to floating-point summation order), so the stitched output equals the unchunked one while only
one strip's activations are alive at a time.
"""
import torch
from torch import nn


def run_in_strips(net: nn.Module, x: torch.Tensor, strip: int, halo: int, ratio: float) -> torch.Tensor:
    """``net(x)`` computed strip by strip. ``ratio`` = output rows per input row (16 for g_s, 1/16 for g_a);
    ``strip`` and ``halo`` are in input rows and must map to whole output rows."""
    height = x.shape[-2]
    if height <= strip + 2 * halo:
        return net(x)
    if (strip * ratio) % 1 or (halo * ratio) % 1:
        raise ValueError("strip and halo must map to whole output rows")
    pieces = []
    for start in range(0, height, strip):
        end = min(height, start + strip)
        lo, hi = max(0, start - halo), min(height, end + halo)
        out = net(x[..., lo:hi, :])
        pieces.append(out[..., round((start - lo) * ratio) : round((end - lo) * ratio), :])
        del out
    return torch.cat(pieces, dim=-2)
