"""Generalized divisive normalization (Ballé et al.), parametrized exactly like CompressAI's GDN."""
import torch
import torch.nn.functional as F
from torch import nn

from .bounds import NonNegativeParametrizer


class GDN(nn.Module):
    """y_c = x_c / sqrt(beta_c + sum_j gamma_cj x_j^2); ``inverse=True`` multiplies instead (IGDN)."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = bool(inverse)
        self.beta_reparam = NonNegativeParametrizer(minimum=beta_min)
        self.gamma_reparam = NonNegativeParametrizer()
        self.beta = nn.Parameter(self.beta_reparam.init(torch.ones(channels)))
        self.gamma = nn.Parameter(self.gamma_reparam.init(gamma_init * torch.eye(channels)))

    def forward(self, x):
        channels = x.shape[1]
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(channels, channels, 1, 1)
        norm = F.conv2d(x**2, gamma, beta)
        norm = torch.sqrt(norm) if self.inverse else torch.rsqrt(norm)
        return x * norm
