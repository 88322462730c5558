"""Small models and inputs shared by the tests."""
import torch

from mlic.models import MLICConfig, MLICPlusPlus
from mlic.models.registry import TINY_CONFIG

FIXED_TINY = MLICConfig(N=32, M=64, num_slices=2, entropy_widths=(64, 48, 32), channel_widths=(32, 32), lrp_widths=(32, 32))


def tiny_model(config: MLICConfig = TINY_CONFIG, seed: int = 0, scale_latents: float = 30.0) -> MLICPlusPlus:
    """A random tiny model whose latents are non-trivial (so the coder really codes something)."""
    torch.manual_seed(seed)
    model = MLICPlusPlus(config)
    with torch.no_grad():
        model.g_a[-1].weight.mul_(scale_latents)
        model.g_a[-1].bias.mul_(scale_latents)
        for s in model.slices:
            for net in (s.params_anchor, s.params_nonanchor):
                net[-1].weight.mul_(5.0)
    model.update(force=True)
    return model.eval()


def smooth_image(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, 3, max(1, height // 16), max(1, width // 16), generator=g)
    x = torch.nn.functional.interpolate(low, size=(height, width), mode="bilinear", align_corners=False)
    return (x + 0.05 * torch.rand(batch, 3, height, width, generator=g)).clamp(0, 1)
