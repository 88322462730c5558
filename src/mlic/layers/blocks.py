"""Convolutions and residual blocks of the MLIC++ transforms (GELU everywhere, bias everywhere)."""
from torch import nn

from .gdn import GDN


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, stride=stride)


def subpel_conv3x3(in_ch: int, out_ch: int, r: int = 2) -> nn.Sequential:
    """3x3 conv to out_ch·r² channels followed by a pixel shuffle (×r upsampling)."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch * r * r, 3, padding=1), nn.PixelShuffle(r))


class ResidualBlockWithStride(nn.Module):
    """conv3x3(stride) → GELU → conv3x3 → GDN, plus a strided 1x1 skip."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 2):
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch, stride)
        self.act = nn.GELU()
        self.conv2 = conv3x3(out_ch, out_ch)
        self.gdn = GDN(out_ch)
        self.skip = conv1x1(in_ch, out_ch, stride) if (stride != 1 or in_ch != out_ch) else None

    def forward(self, x):
        out = self.gdn(self.conv2(self.act(self.conv1(x))))
        return out + (self.skip(x) if self.skip is not None else x)


class ResidualBlock(nn.Module):
    """conv3x3 → GELU → conv3x3 → GELU, plus identity (or a 1x1 skip when widths differ)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch)
        self.act = nn.GELU()
        self.conv2 = conv3x3(out_ch, out_ch)
        self.skip = conv1x1(in_ch, out_ch) if in_ch != out_ch else None

    def forward(self, x):
        out = self.act(self.conv2(self.act(self.conv1(x))))
        return out + (self.skip(x) if self.skip is not None else x)


class ResidualBlockUpsample(nn.Module):
    """subpel conv (×r) → GELU → conv3x3 → IGDN, plus a subpel-conv skip."""

    def __init__(self, in_ch: int, out_ch: int, upsample: int = 2):
        super().__init__()
        self.subpel_conv = subpel_conv3x3(in_ch, out_ch, upsample)
        self.act = nn.GELU()
        self.conv = conv3x3(out_ch, out_ch)
        self.igdn = GDN(out_ch, inverse=True)
        self.upsample = subpel_conv3x3(in_ch, out_ch, upsample)

    def forward(self, x):
        out = self.igdn(self.conv(self.act(self.subpel_conv(x))))
        return out + self.upsample(x)
