"""Encoder-side latent refinement: search, for one image, for latents that code it more cheaply.

g_a predicts the latents in one pass, and so does h_a from them ("amortized inference"). For a given
image better ones exist, and the decoder accepts any symbols. Refinement starts from g_a's y and h_a's z
and lowers the model's own rate–distortion cost, ``bpp + λ·255²·MSE`` with the λ the quality level
was trained for, by gradient descent on y and z with the weights frozen. Rounding has no useful
gradient, so it is replaced by stochastic Gumbel annealing (SGA; Yang, Bamler & Mandt, "Improving
Inference for Neural Image Compression", NeurIPS 2020): each value is a random soft mix of its floor
and ceiling that hardens as the temperature falls, which leaves the optimizer free to move a value
across a rounding boundary when that pays off. The two simpler stand-ins did worse on the shipped model
(one image, quality 3, cost with real rounding; 30 steps of SGA at lr 5e-3: −0.87 %): straight-through
rounding +4.4 % after 30 steps at lr 1e-2 and +24 % at 3e-2; uniform noise −0.63 % after 30 steps
at 1e-2, then +0.65 % after 60.

Only the encoder changes: the file format, the decoder and its speed stay as they are, and a refined
file decodes with any ``mlic`` decoder. The encoder pays one forward and one backward pass through
h_s, the slice loop and g_s per step (g_a and h_a run once). Encoding never gets worse by the model's own estimate: the refined
latents are kept only where their cost, with real rounding, is below that of g_a's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..layers.checkerboard import MASK, UNSQUEEZE
from .region import coded_region

#: Names this search and its settings in evaluation caches (``mlic eval --refine``): change it whenever
#: a change here changes which latents a refined encode picks, so stale cached results are not reused.
ALGORITHM = "sga-1"

#: Adam step size on the latents. 5e-3 (the value of Yang et al.) lowered the cost on every image and
#: quality of benchmarks/refine_gain.py; 2e-2 raised it (+1.49 % after 30 steps, one image, quality 3).
DEFAULT_LR = 5e-3
#: Temperature of the soft rounding at the first step; it falls exponentially to TAU_START·e^-3 at the last.
TAU_START = 0.5
TAU_DECAY = 3.0


@dataclass
class Refined:
    """Latents to code, and the model's cost estimate (bpp + λ·255²·MSE, per image) before and after."""

    y: torch.Tensor
    z: torch.Tensor
    cost_before: list[float]
    cost_after: list[float]

    @property
    def improved(self) -> list[bool]:
        return [a < b for a, b in zip(self.cost_after, self.cost_before)]


def lambda_for(model, quality) -> float:
    """The λ of ``λ·255²·MSE + bpp`` that ``quality`` was trained for (geometric between levels)."""
    lambdas = model.config.lambdas()
    if not lambdas:
        raise ValueError("refinement needs the λ the model was trained for; this fixed-rate model does not "
                         "record it (variable-rate models do)")  # fmt: skip
    q = float(quality) - 1
    if not 0 <= q <= len(lambdas) - 1:
        raise ValueError(f"quality must lie in [1, {len(lambdas)}]")
    lo = min(int(math.floor(q)), len(lambdas) - 1)
    hi = min(lo + 1, len(lambdas) - 1)
    t = q - lo
    return math.exp(math.log(lambdas[lo]) * (1 - t) + math.log(lambdas[hi]) * t)


def _annealed_round(v: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """SGA: a Gumbel-softmax mix of floor(v) and ceil(v); the nearer one is likelier and, as ``tau``
    falls, the mix hardens towards a sample of one of them."""
    low = torch.floor(v).detach()
    frac = (v - low).clamp(1e-4, 1 - 1e-4)
    logits = torch.stack([-torch.atanh(frac), -torch.atanh(1 - frac)], -1) / tau
    u = torch.rand(logits.shape, generator=generator, device=generator.device).clamp_(1e-10, 1 - 1e-10)
    weights = torch.softmax((logits - torch.log(-torch.log(u))) / tau, -1)
    return low + weights[..., 1]


def _hard_round(v: torch.Tensor) -> torch.Tensor:
    return torch.round(v)


def _cost(model, x, y, z, gains, lmbda: float, rounding: Callable[[torch.Tensor], torch.Tensor], valid_size=None) -> torch.Tensor:
    """Per-image ``bpp + λ·255²·MSE`` of coding ``x`` with latents (y, z), rounding with ``rounding``."""
    bpp, mse = rate_and_distortion(model, x, y, z, gains, rounding, valid_size)
    return bpp + lmbda * 255**2 * mse


def rate_and_distortion(model, x, y, z, gains, rounding: Callable[[torch.Tensor], torch.Tensor] = _hard_round,
                        valid_size: tuple[int, int] | None = None):  # fmt: skip
    """Per-image (bpp, MSE) of coding ``x`` with latents (y, z), rounding with ``rounding``.

    With ``_hard_round`` this is the eval-mode estimate of what :meth:`compress` spends and decodes to
    (probability tables aside); with ``_annealed_round`` it is the differentiable stand-in.
    ``valid_size`` (height, width): the image is the top-left part of ``x``, the rest padding that the
    decoder crops away; the MSE is that of the image alone and the bits are counted per image pixel,
    as a file's bpp is, so the search spends nothing on the padding's fidelity; latent positions of
    padding only are not coded, as in :meth:`compress`.
    """
    h, w = valid_size if valid_size is not None else x.shape[-2:]
    eb, gc = model.entropy_bottleneck, model.gaussian_conditional
    medians = eb.medians().view(1, -1, 1, 1)
    z_hat = rounding(z - medians) + medians
    b, c = z.shape[:2]
    z_lik, _, _ = eb._likelihood(z_hat.transpose(0, 1).reshape(c, 1, -1))
    z_lik = z_lik.clamp_min(eb.likelihood_bound).reshape(c, b, -1)
    bits = -torch.log2(z_lik).sum((0, 2))
    hyper = model._hyper(z_hat)
    y_slices = y.split(model.config.slice_channels, 1)
    y_bits: list[torch.Tensor] = []
    coded = coded_region(y.shape[-2], y.shape[-1], valid_size, y.device)  # as compress codes them

    def step(i, half, scales, means):
        mask = MASK[half]
        y_half, means_half = mask(y_slices[i]), UNSQUEEZE[half](means)
        residual = rounding(y_half - means_half)
        if coded is not None:  # padding-only positions: not coded, ŷ = μ, no bits
            residual = torch.where(coded, residual, torch.zeros_like(residual))
        y_hat_half = mask(residual + means_half)
        bits_half = -torch.log2(gc.likelihood(y_hat_half, UNSQUEEZE[half](scales), means_half))
        if coded is not None:
            bits_half = torch.where(coded, bits_half, torch.zeros_like(bits_half))
        y_bits.append(mask(bits_half).flatten(1).sum(1))
        return y_hat_half

    y_hat = model._run_slices(hyper, step)
    x_hat = model.g_s(y_hat * gains[1] if gains is not None else y_hat)
    bpp = (bits + sum(y_bits)) / (h * w)
    return bpp, (x_hat[..., :h, :w].float() - x[..., :h, :w]).pow(2).flatten(1).mean(1)


def refine_latents(model, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, gains, lmbda: float, steps: int, *,
                   lr: float = DEFAULT_LR, seed: int = 0, progress: Callable[[int], None] | None = None,
                   valid_size: tuple[int, int] | None = None) -> Refined:  # fmt: skip
    """Refine g_a's ``y`` (after the quality gain) and h_a's ``z`` for ``x`` over ``steps`` Adam steps.

    Deterministic for a given ``seed`` on a given machine. The model's parameters are neither changed
    nor given gradients. ``progress(1)`` is called after each step. ``valid_size``: see
    :func:`rate_and_distortion` (padding is not worth bits).
    """
    if steps < 0:
        raise ValueError(f"refinement steps must be ≥ 0, got {steps}")
    with torch.no_grad():
        before = _cost(model, x, y, z, gains, lmbda, _hard_round, valid_size)
    if steps == 0:
        return Refined(y, z, before.tolist(), before.tolist())
    generator = torch.Generator(device=x.device)
    generator.manual_seed(seed)
    y_var = y.detach().clone().requires_grad_(True)
    z_var = z.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([y_var, z_var], lr=lr)
    with torch.enable_grad():
        for t in range(steps):
            tau = TAU_START * math.exp(-TAU_DECAY * t / max(steps - 1, 1))
            loss = _cost(model, x, y_var, z_var, gains, lmbda, lambda v: _annealed_round(v, tau, generator), valid_size).sum()
            # autograd.grad rather than backward: the frozen weights get no .grad and no gradient work.
            y_var.grad, z_var.grad = torch.autograd.grad(loss, [y_var, z_var])
            optimizer.step()
            if progress is not None:
                progress(1)
    with torch.no_grad():
        after = _cost(model, x, y_var, z_var, gains, lmbda, _hard_round, valid_size)
        keep = (after < before).view(-1, 1, 1, 1)
        y_out = torch.where(keep, y_var.detach(), y)
        z_out = torch.where(keep, z_var.detach(), z)
    return Refined(y_out, z_out, before.tolist(), torch.minimum(after, before).tolist())
