"""mlic — the MLIC++ learned image codec."""
__version__ = "0.1.0"

from .models import MLICConfig, MLICPlusPlus

__all__ = ["MLICConfig", "MLICPlusPlus", "__version__"]
