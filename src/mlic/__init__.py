"""mlic — the MLIC++ learned image codec.

    >>> import mlic
    >>> data = mlic.encode_image("photo.png", quality=4)      # bytes of a .mlic file
    >>> image = mlic.decode_image(data)                        # PIL.Image.Image
    >>> mlic.read_info(data)["bpp"]
"""
__version__ = "0.1.0"

from .codec import MlicWarning, decode_image, encode_image, read_info
from .errors import MlicError
from .models import MLICConfig, MLICPlusPlus, list_models, load_model, load_official_checkpoint

__all__ = [
    "MLICConfig", "MLICPlusPlus", "MlicError", "MlicWarning", "__version__", "decode_image", "encode_image",
    "list_models", "load_model", "load_official_checkpoint", "read_info",
]  # fmt: skip
