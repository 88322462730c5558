"""Context modules of MEM++: masked local window attention and linear-complexity global attention.

Everything here is linear in the number of latent positions L: the local context attends inside a
5×5 window (L·25² work), the global contexts use the "efficient attention" factorization
softmax_q(Q)·(softmax_k(K)ᵀ V), which costs L·d² instead of L².
"""
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from .checkerboard import (
    anchor_mask,
    ckbd_anchor,
    ckbd_nonanchor,
    squeeze_anchor,
    squeeze_nonanchor,
    unsqueeze_nonanchor,
)

# The official code adds -100 (not -inf) to masked logits; a fully masked row then becomes the
# unmasked softmax. We keep the constant so the numbers match the official model.
MASK_VALUE = -100.0


def _relative_position_index(window: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


@lru_cache(maxsize=16)
def _window_mask_cpu(height: int, width: int, window: int) -> torch.Tensor:
    cells = F.unfold(anchor_mask(height, width), window, padding=window // 2)[0]  # (k², L)
    both = cells.t()[:, :, None] * cells.t()[:, None, :]  # (L, k², k²)
    return torch.where(both == 1, 0.0, MASK_VALUE).unsqueeze(1)  # (L, 1, k², k²)


def window_mask(height: int, width: int, window: int, device) -> torch.Tensor:
    """Additive attention mask for anchor-only windows; a pure function of the latent size.

    Unlike the official code (which caches the mask of the last image on the module), the mask is
    derived from the current input's size every time, so any sequence of sizes works.
    """
    return _window_mask_cpu(height, width, window).to(device)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, out_dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class LocalContext(nn.Module):
    """Checkerboard-masked window attention over the decoded anchors of one slice (C → 2C channels)."""

    relative_position_index: torch.Tensor

    def __init__(self, dim: int = 32, window: int = 5, num_heads: int = 2, mlp_ratio: float = 2.0, out_dim: int | None = None):
        super().__init__()
        out_dim = out_dim or 2 * dim
        self.dim, self.window, self.num_heads = dim, window, num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.relative_position_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_table, std=0.02)
        self.register_buffer("relative_position_index", _relative_position_index(window), persistent=False)
        self.qkv_proj = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(out_dim, out_dim)
        self.mlp = Mlp(out_dim, int(out_dim * mlp_ratio), out_dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(out_dim)
        self.fusion = nn.Conv2d(dim, out_dim, window)

    def forward(self, x: torch.Tensor, only: str | None = None) -> torch.Tensor:
        """Context at every position (B×out×H×W), or with ``only="nonanchor"`` just at the non-anchor
        positions, squeezed (B×out×H×W/2): the only ones MEM++ uses, at half the cost. Each position's
        value is computed the same way either way (a window attention around it)."""
        if only not in (None, "nonanchor"):
            raise ValueError(f"only must be None or 'nonanchor', got {only!r}")
        b, c, h, w = x.shape
        k = self.window
        t = self.norm1(x.reshape(b, c, h * w).transpose(1, 2))
        qkv = self.qkv_proj(t).reshape(b, h, w, 3 * c).permute(0, 3, 1, 2)  # (b, 3c, h, w): q | k | v
        mask = window_mask(h, w, k, x.device)
        if only is None:
            out = self._attend(F.unfold(qkv, k, padding=k // 2), mask)  # (b, h·w, out)
            return out.transpose(1, 2).reshape(b, -1, h, w)
        if h % 2 or w % 2:  # odd sizes: gather the non-anchor windows from all of them
            positions = _nonanchor_positions(h, w, x.device)
            out = self._attend(F.unfold(qkv, k, padding=k // 2)[:, :, positions], mask[positions])
            return out.transpose(1, 2).reshape(b, -1, h, w // 2)
        # Non-anchors are the centres (2i, 2j) and (2i+1, 2j+1): two stride-2 unfolds that build only
        # the windows needed (a quarter of the full unfold each), then interleave their rows the way
        # squeeze_nonanchor packs them (row 2i from the first, row 2i+1 from the second).
        padded = F.pad(qkv, (k // 2,) * 4)
        halves = []
        for parity in (0, 1):
            cells = F.unfold(padded[:, :, parity:, parity:], k, stride=2)  # (b, 3c·k², h/2·w/2)
            out = self._attend(cells, mask[_parity_positions(h, w, parity, x.device)])
            halves.append(out.transpose(1, 2).reshape(b, -1, h // 2, w // 2))
        return torch.stack(halves, dim=3).reshape(b, -1, h, w // 2)

    def _attend(self, cells: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Window self-attention, then fusion of each window into one vector: (b, 3c·k², n) → (b, n, out)."""
        b, n = cells.shape[0], cells.shape[-1]
        k, c, heads, hd = self.window, self.dim, self.num_heads, self.head_dim
        cells = cells.transpose(1, 2).reshape(b, n, 3, hd, heads, k * k)
        # Input channel c belongs to head c % heads (channel-interleaved split).
        q, kk, v = (cells[:, :, i].permute(0, 1, 3, 4, 2) for i in range(3))  # (b, n, heads, k², hd)
        bias = self.relative_position_table[self.relative_position_index.reshape(-1)]
        bias = bias.reshape(k * k, k * k, heads).permute(2, 0, 1)
        attn = (q * self.scale) @ kk.transpose(-2, -1)
        attn = attn + bias
        attn = attn + mask.to(attn.dtype)
        out = attn.softmax(dim=-1) @ v  # (b, n, heads, k², hd)
        # Output channels are head-major (head·hd + d).
        out = out.reshape(b, n, heads, k, k, hd).permute(0, 1, 2, 5, 3, 4).reshape(b * n, c, k, k)
        out = self.fusion(out).reshape(b, n, -1)
        out = self.proj(out)
        return out + self.mlp(self.norm2(out))


@lru_cache(maxsize=16)
def _nonanchor_positions_cpu(height: int, width: int) -> torch.Tensor:
    """Flat indexes of the non-anchor positions, in the order ``squeeze_nonanchor`` packs them."""
    return squeeze_nonanchor(torch.arange(height * width).view(1, 1, height, width)).reshape(-1)


def _nonanchor_positions(height: int, width: int, device) -> torch.Tensor:
    return _nonanchor_positions_cpu(height, width).to(device)


@lru_cache(maxsize=16)
def _parity_positions_cpu(height: int, width: int, parity: int) -> torch.Tensor:
    """Flat indexes of the positions (2i + parity, 2j + parity), row-major."""
    grid = torch.arange(height * width).view(height, width)
    return grid[parity::2, parity::2].reshape(-1)


def _parity_positions(height: int, width: int, parity: int, device) -> torch.Tensor:
    return _parity_positions_cpu(height, width, parity).to(device)


def _qkv_branch(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(dim, dim, 1), nn.Conv2d(dim, dim, 3, padding=1, groups=dim))


def _conv_mlp(dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(dim, hidden, 1),
        nn.GELU(),
        nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden),
        nn.GELU(),
        nn.Conv2d(hidden, out_dim, 1),
    )


def _efficient_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """q, k, v: (B, heads, d, L). Keys softmaxed over positions, queries over channels."""
    k = k.softmax(dim=-1)
    q = q.softmax(dim=-2)
    context = k @ v.transpose(-2, -1)  # (B, heads, d, d)
    return context.transpose(-2, -1) @ q  # (B, heads, d, L)


class LinearGlobalIntraContext(nn.Module):
    """Global context for the non-anchors of slice i from the anchor/non-anchor correlation of slice i-1.

    Queries come from the previous slice's non-anchors, keys from its anchors, values from the current
    slice's decoded anchors; the output lives at non-anchor positions before the 5×5 reprojection.
    """

    def __init__(self, dim: int = 32, num_heads: int = 2, out_dim: int | None = None, hidden: int | None = None):
        super().__init__()
        out_dim = out_dim or 2 * dim
        hidden = hidden or 4 * dim
        self.num_heads = num_heads
        self.keys = _qkv_branch(dim)
        self.queries = _qkv_branch(dim)
        self.values = _qkv_branch(dim)
        self.reprojection = nn.Conv2d(dim, out_dim, 5, padding=2)
        self.mlp = _conv_mlp(out_dim, hidden, out_dim)

    def forward(self, previous: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        b, c, h, w = previous.shape
        heads = self.num_heads
        q = squeeze_nonanchor(self.queries(ckbd_nonanchor(previous))).reshape(b, heads, c // heads, -1)
        k = squeeze_anchor(self.keys(ckbd_anchor(previous))).reshape(b, heads, c // heads, -1)
        v = squeeze_anchor(self.values(anchors)).reshape(b, heads, c // heads, -1)
        out = _efficient_attention(q, k, v).reshape(b, c, h, w // 2)
        out = self.reprojection(unsqueeze_nonanchor(out))
        return out + self.mlp(out)


class LinearGlobalInterContext(nn.Module):
    """Linear self-attention over all previously decoded slices (one 32-channel head per 32 channels)."""

    def __init__(self, dim: int, out_dim: int = 64, head_dim: int = 32, hidden: int = 128):
        super().__init__()
        if dim % head_dim:
            raise ValueError(f"inter-slice context width {dim} must be a multiple of {head_dim}")
        self.num_heads = dim // head_dim
        self.keys = _qkv_branch(dim)
        self.queries = _qkv_branch(dim)
        self.values = _qkv_branch(dim)
        mid = out_dim * 3 // 2
        self.reprojection = nn.Conv2d(dim, mid, 5, padding=2)
        self.mlp = _conv_mlp(mid, hidden, out_dim)
        self.skip = nn.Conv2d(mid, out_dim, 1)

    def forward(self, previous: torch.Tensor) -> torch.Tensor:
        b, c, h, w = previous.shape
        shape = (b, self.num_heads, c // self.num_heads, h * w)
        q = self.queries(previous).reshape(shape)
        k = self.keys(previous).reshape(shape)
        v = self.values(previous).reshape(shape)
        out = self.reprojection(_efficient_attention(q, k, v).reshape(b, c, h, w))
        return self.skip(out) + self.mlp(out)
