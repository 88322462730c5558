"""Checkerboard split of a latent grid.

Anchors sit at (even row, odd column) and (odd row, even column); position (0, 0) is a non-anchor.
Anchors are coded first. "Squeezing" packs one half into a B×C×H×W/2 tensor: an even row keeps its
odd columns for anchors (even columns for non-anchors), an odd row the opposite.
"""
import torch


def anchor_mask(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """1×1×H×W tensor with 1 at anchor positions."""
    rows = torch.arange(height, device=device).view(-1, 1)
    cols = torch.arange(width, device=device).view(1, -1)
    return ((rows + cols) % 2 == 1).to(dtype).view(1, 1, height, width)


def ckbd_anchor(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    out[:, :, 0::2, 1::2] = x[:, :, 0::2, 1::2]
    out[:, :, 1::2, 0::2] = x[:, :, 1::2, 0::2]
    return out


def ckbd_nonanchor(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    out[:, :, 0::2, 0::2] = x[:, :, 0::2, 0::2]
    out[:, :, 1::2, 1::2] = x[:, :, 1::2, 1::2]
    return out


def _squeeze(x: torch.Tensor, even_start: int) -> torch.Tensor:
    b, c, h, w = x.shape
    if w % 2:
        raise ValueError(f"checkerboard squeeze needs an even latent width, got {w}")
    out = x.new_empty(b, c, h, w // 2)
    out[:, :, 0::2] = x[:, :, 0::2, even_start::2]
    out[:, :, 1::2] = x[:, :, 1::2, 1 - even_start :: 2]
    return out


def _unsqueeze(x: torch.Tensor, even_start: int) -> torch.Tensor:
    b, c, h, w2 = x.shape
    out = x.new_zeros(b, c, h, 2 * w2)
    out[:, :, 0::2, even_start::2] = x[:, :, 0::2]
    out[:, :, 1::2, 1 - even_start :: 2] = x[:, :, 1::2]
    return out


def squeeze_anchor(x):
    return _squeeze(x, 1)


def squeeze_nonanchor(x):
    return _squeeze(x, 0)


def unsqueeze_anchor(x):
    return _unsqueeze(x, 1)


def unsqueeze_nonanchor(x):
    return _unsqueeze(x, 0)


#: The two checkerboard halves MEM++ codes in turn (anchors first) and each one's per-half function:
#: zero the other half (MASK), keep only this half's positions (SQUEEZE), put them back (UNSQUEEZE).
ANCHOR, NONANCHOR = "anchor", "nonanchor"
MASK = {ANCHOR: ckbd_anchor, NONANCHOR: ckbd_nonanchor}
SQUEEZE = {ANCHOR: squeeze_anchor, NONANCHOR: squeeze_nonanchor}
UNSQUEEZE = {ANCHOR: unsqueeze_anchor, NONANCHOR: unsqueeze_nonanchor}
