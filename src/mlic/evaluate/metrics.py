"""Image quality metrics on B×3×H×W tensors in [0, 1]."""
import math

import torch
import torch.nn.functional as F

_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def psnr_from_mse(mse: float) -> float:
    """PSNR (dB) of an 8-bit MSE, capped at 100 dB for identical images (results stay finite in JSON)."""
    return 10 * math.log10(255**2 / mse) if mse > 0 else 100.0


def psnr_8bit(ref, out) -> float:
    """PSNR (dB) of two 8-bit arrays of the same shape."""
    import numpy as np

    return psnr_from_mse(float(np.mean((np.asarray(ref, dtype=np.float64) - np.asarray(out, dtype=np.float64)) ** 2)))


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    mse = F.mse_loss(a.float(), b.float(), reduction="none").flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-12))


def _gaussian_window(size: int = 11, sigma: float = 1.5, device=None) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=device) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _ssim_parts(x, y, window, data_range):
    c = x.shape[1]
    w_h = window.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    w_v = window.view(1, 1, -1, 1).expand(c, 1, -1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, w_h, groups=c), w_v, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x**2
    syy = blur(y * y) - mu_y**2
    sxy = blur(x * y) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs
    return ssim.flatten(2).mean(-1), cs.flatten(2).mean(-1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Multi-scale SSIM per image (Wang et al. 2003, the usual 5 scales and weights).

    Images smaller than 161 px on a side use fewer scales (renormalised weights) instead of failing.
    """
    x, y = x.float(), y.float()
    window = _gaussian_window(device=x.device)
    levels = 5
    while levels > 1 and min(x.shape[-2:]) < 11 * 2 ** (levels - 1):
        levels -= 1
    weights = torch.tensor(_MS_WEIGHTS[:levels], device=x.device)
    weights = weights / weights.sum()
    values = []
    for level in range(levels):
        ssim, cs = _ssim_parts(x, y, window, data_range)
        if level < levels - 1:
            values.append(torch.relu(cs))
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        else:
            values.append(torch.relu(ssim))
    stack = torch.stack(values, 0)  # levels × B × C
    return torch.prod(stack ** weights.view(-1, 1, 1), dim=0).mean(-1)
