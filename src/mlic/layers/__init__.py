"""Building blocks with no knowledge of MLIC++ itself."""
from .attention import LinearGlobalInterContext, LinearGlobalIntraContext, LocalContext
from .blocks import (
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    conv1x1,
    conv3x3,
    subpel_conv3x3,
)
from .bounds import LowerBound, NonNegativeParametrizer, lower_bound
from .checkerboard import (
    anchor_mask,
    ckbd_anchor,
    ckbd_nonanchor,
    squeeze_anchor,
    squeeze_nonanchor,
    unsqueeze_anchor,
    unsqueeze_nonanchor,
)
from .gdn import GDN

__all__ = [
    "GDN", "LinearGlobalInterContext", "LinearGlobalIntraContext", "LocalContext", "LowerBound", "NonNegativeParametrizer",
    "ResidualBlock", "ResidualBlockUpsample", "ResidualBlockWithStride", "anchor_mask", "ckbd_anchor", "ckbd_nonanchor",
    "conv1x1", "conv3x3", "lower_bound", "squeeze_anchor", "squeeze_nonanchor", "subpel_conv3x3", "unsqueeze_anchor",
    "unsqueeze_nonanchor",
]  # fmt: skip
