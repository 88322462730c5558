"""Images ↔ .mlic files: image preparation, tiling, the container format and the public codec API."""
from .api import DEFAULT_TILE_SIZE, decode_image, encode_image, get_model, read_info
from .image import MlicWarning

__all__ = ["DEFAULT_TILE_SIZE", "MlicWarning", "decode_image", "encode_image", "get_model", "read_info"]
