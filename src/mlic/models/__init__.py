"""MLIC++ itself, its configurations, the official-checkpoint converter and the model registry."""
from .config import RATE_LAMBDAS, MLICConfig
from .mlicpp import STRIDE, MLICPlusPlus
from .official import CheckpointError, load_official_checkpoint
from .registry import DEFAULT_MODEL, ModelNotFoundError, list_models, load_model, load_weights, model_fingerprint, save_weights

__all__ = [
    "CheckpointError", "DEFAULT_MODEL", "MLICConfig", "MLICPlusPlus", "ModelNotFoundError", "RATE_LAMBDAS", "STRIDE",
    "list_models", "load_model", "load_official_checkpoint", "load_weights", "model_fingerprint", "save_weights",
]
