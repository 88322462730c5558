"""Factorized (fully learned, per-channel) prior for the hyper-latent z, after Ballé et al. 2018.

Parameter names and the density network follow CompressAI's ``EntropyBottleneck`` so that weights
trained by either load in the other; integer tables are our own (see ``tables.py``).
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..layers.bounds import lower_bound
from .quantization import add_uniform_noise
from .tables import SymbolTables, TableBuffers, quantize_pmf


class EntropyBottleneck(TableBuffers, nn.Module):
    def __init__(self, channels: int, tail_mass: float = 1e-9, init_scale: float = 10.0, filters=(3, 3, 3, 3), likelihood_bound: float = 1e-9):
        super().__init__()
        self.channels = int(channels)
        self.filters = tuple(int(f) for f in filters)
        self.tail_mass = float(tail_mass)
        self.likelihood_bound = float(likelihood_bound)
        widths = (1,) + self.filters + (1,)
        scale = float(init_scale) ** (1 / (len(self.filters) + 1))
        for i in range(len(self.filters) + 1):
            init = float(np.log(np.expm1(1 / scale / widths[i + 1])))
            self.register_parameter(f"_matrix{i}", nn.Parameter(torch.full((channels, widths[i + 1], widths[i]), init)))
            self.register_parameter(f"_bias{i}", nn.Parameter(torch.empty(channels, widths[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(self.filters):
                self.register_parameter(f"_factor{i}", nn.Parameter(torch.zeros(channels, widths[i + 1], 1)))
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        target = float(np.log(2 / self.tail_mass - 1))
        self.register_buffer("target", torch.tensor([-target, 0.0, target]), persistent=False)
        self._init_table_buffers()

    # -- density -------------------------------------------------------------------------------
    def _logits_cumulative(self, inputs: torch.Tensor, stop_gradient: bool) -> torch.Tensor:
        logits = inputs
        for i in range(len(self.filters) + 1):
            matrix = getattr(self, f"_matrix{i}")
            bias = getattr(self, f"_bias{i}")
            if stop_gradient:
                matrix, bias = matrix.detach(), bias.detach()
            logits = torch.matmul(F.softplus(matrix), logits) + bias
            if i < len(self.filters):
                factor = getattr(self, f"_factor{i}")
                if stop_gradient:
                    factor = factor.detach()
                logits = logits + torch.tanh(factor) * torch.tanh(logits)
        return logits

    def _likelihood(self, inputs: torch.Tensor, stop_gradient: bool = False):
        with torch.autocast(inputs.device.type, enabled=False):
            return self._likelihood_fp32(inputs.float(), stop_gradient)

    def _likelihood_fp32(self, inputs: torch.Tensor, stop_gradient: bool):
        lower = self._logits_cumulative(inputs - 0.5, stop_gradient)
        upper = self._logits_cumulative(inputs + 0.5, stop_gradient)
        # Evaluate in the tail that keeps precision (CompressAI's sign trick).
        sign = -torch.sign(lower + upper).detach()
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)), lower, upper

    def medians(self) -> torch.Tensor:
        return self.quantiles[:, 0, 1]

    def aux_loss(self) -> torch.Tensor:
        """Fits ``quantiles`` to the tails and the median of the density; reaches only ``quantiles``."""
        logits = self._logits_cumulative(self.quantiles, stop_gradient=True)
        return torch.abs(logits - self.target).sum()

    def forward(self, z: torch.Tensor, training: bool | None = None):
        """Returns (z_tilde, likelihoods): noisy z in training, round(z - median) + median otherwise."""
        training = self.training if training is None else training
        b, c = z.shape[:2]
        values = z.transpose(0, 1).reshape(c, 1, -1)
        medians = self.quantiles[:, :, 1:2]
        if training:
            values = add_uniform_noise(values)
        else:
            values = torch.round(values - medians) + medians
        likelihood, _, _ = self._likelihood(values)
        bound = likelihood.new_tensor([self.likelihood_bound])
        likelihood = lower_bound(likelihood, bound) if torch.is_grad_enabled() else torch.max(likelihood, bound)
        shape = (c, b) + tuple(z.shape[2:])
        return values.reshape(shape).transpose(0, 1), likelihood.reshape(shape).transpose(0, 1)

    # -- integer tables ------------------------------------------------------------------------
    @torch.no_grad()
    def update(self, force: bool = False) -> bool:
        """Build the per-channel integer tables from the learned density. Returns True if rebuilt."""
        if self.has_tables() and not force:
            return False
        q = self.quantiles.detach().float().cpu()
        medians = q[:, 0, 1]
        minima = torch.clamp(torch.ceil(medians - q[:, 0, 0]).int(), min=0)
        maxima = torch.clamp(torch.ceil(q[:, 0, 2] - medians).int(), min=0)
        pmf_start = medians - minima
        pmf_length = maxima + minima + 1
        max_length = int(pmf_length.max())
        samples = torch.arange(max_length, dtype=torch.float32)[None, :] + pmf_start[:, None]
        samples = samples[:, None, :].to(self.quantiles.device)
        pmf, lower, upper = self._likelihood(samples, stop_gradient=True)
        pmf, lower, upper = pmf[:, 0].cpu().double(), lower[:, 0].cpu().double(), upper[:, 0].cpu().double()
        tail = (torch.sigmoid(lower[:, 0]) + torch.sigmoid(-upper[:, -1])).numpy()
        tables = [quantize_pmf(pmf[i, : int(pmf_length[i])].numpy(), tail[i]) for i in range(self.channels)]
        self.set_tables(SymbolTables.from_list(tables, (-minima).numpy()))
        return True



    def symbols(self, z: torch.Tensor) -> torch.Tensor:
        return torch.round(z - self.medians().view(1, -1, 1, 1)).int()

    def dequantize(self, symbols: torch.Tensor) -> torch.Tensor:
        return symbols.float() + self.medians().view(1, -1, 1, 1)


