"""Which latent positions a file codes: those that cover the image or lie next to it (format 3.0).

Images are padded to a multiple of 64 pixels (the hyperprior's stride), but y has a stride of 16, so
most latent rows and columns beyond ceil(size / 16) describe nothing but padding. Measured with
``benchmarks/padding_latents.py`` on every tenth validation image (seven 481×321 or 321×481 photos,
padded to 512×384, and two Set14 images): such positions are 12.2 % of the grid and carry 5.8–7.2 %
of the shipped model's estimated bits at qualities 1, 4 and 8. Format 3.0 does not code
them: encoder and decoder both set them to their predicted mean (symbol 0), so the contexts, the
hyperprior and g_s keep the 64-aligned grid they were trained on.

g_s reconstructs the image's last pixel rows partly from the latent row below them, so that row is
coded too when the image ends within ``MARGIN`` pixels of it (when it ends exactly on a latent
boundary, as 352×288 does). Without that margin, Set14's foreman (352×288) lost 4.66 dB at quality 8;
with it, it keeps the PSNR of full coding (35.07 dB) with 5.5 % fewer bits, while a 481×321 photo,
whose last latent row already holds one image row and fifteen of padding, codes nothing more.
"""
from __future__ import annotations

import math

import torch

LATENT_STRIDE = 16
#: A latent row (column) is coded when it starts less than this many pixels past the image's last row
#: (column): 8 keeps the decoded image as with full coding on Set14's foreman, coastguard and baboon,
#: while 16 costs 4–7 % more bits on 481×321 photos for ≤ 0.015 dB (``benchmarks/padding_latents.py
#: --margins 0 8 16 --images foreman.png coastguard.png baboon.png 3096.png 101085.png --qualities 8``).
MARGIN = 8


def coded_region(height: int, width: int, valid_size: tuple[int, int] | None, device=None) -> torch.Tensor | None:
    """1×1×H×W bool mask of the coded positions of an H×W latent grid whose image is the top-left
    ``valid_size`` (pixel height, width) of the padded input; None when every position is coded."""
    if valid_size is None:
        return None
    if valid_size[0] < 1 or valid_size[1] < 1:
        raise ValueError(f"valid size {tuple(valid_size)} covers no latent position")
    rows = min(height, math.ceil((valid_size[0] + MARGIN) / LATENT_STRIDE))
    cols = min(width, math.ceil((valid_size[1] + MARGIN) / LATENT_STRIDE))
    if rows == height and cols == width:
        return None
    mask = torch.zeros(1, 1, height, width, dtype=torch.bool, device=device)
    mask[..., :rows, :cols] = True
    return mask
