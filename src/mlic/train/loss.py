"""Rate–distortion losses with a λ per sample (so one batch can train several rates)."""
import torch
from torch import nn

from ..evaluate.metrics import ms_ssim


def bits_per_pixel(likelihoods: dict, num_pixels: int) -> torch.Tensor:
    """Per-image bpp: Σ −log2 p over all latents, divided by the number of pixels."""
    total = sum((-torch.log2(lik.float())).flatten(1).sum(1) for lik in likelihoods.values())
    return total / num_pixels


class RateDistortionLoss(nn.Module):
    """``λ·255²·MSE + bpp`` (metric="mse") or ``λ·(1 − MS-SSIM) + bpp`` (metric="ms-ssim"), averaged over the batch."""

    def __init__(self, metric: str = "mse"):
        super().__init__()
        if metric not in ("mse", "ms-ssim"):
            raise ValueError(f"metric must be 'mse' or 'ms-ssim', not {metric!r}")
        self.metric = metric

    def forward(self, output: dict, target: torch.Tensor, lmbda) -> dict:
        b, _, h, w = target.shape
        lmbda = torch.as_tensor(lmbda, dtype=torch.float32, device=target.device).reshape(-1).expand(b)
        x_hat = output["x_hat"].float()
        bpp = bits_per_pixel(output["likelihoods"], h * w)
        mse = (x_hat - target).pow(2).flatten(1).mean(1)
        if self.metric == "mse":
            distortion = 255**2 * mse
        else:
            distortion = 1 - ms_ssim(x_hat.clamp(0, 1), target)
        loss = (lmbda * distortion + bpp).mean()
        return {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean(), "distortion": distortion.mean()}
