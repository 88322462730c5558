"""MLIC++ itself, its configurations, the official-checkpoint converter and the model registry."""
from .config import MLICConfig
from .mlicpp import STRIDE, MLICPlusPlus

__all__ = ["MLICConfig", "MLICPlusPlus", "STRIDE"]
