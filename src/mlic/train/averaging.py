"""Uniform weight averaging of finished runs ("model soup" / SWA-style end-point averaging).

Runs that continue the same weights with small learning rates end in the same basin; the mean of
their weights is often at least as good as any one of them and costs no training. Only floating
point tensors are averaged; the integer probability tables are then rebuilt from the averaged
parameters, so the result is a complete model that codes as it is.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from ..errors import CheckpointError
from ..models.mlicpp import MLICPlusPlus
from ..models.registry import load_weights


def average_weights(paths: Sequence[str | os.PathLike]) -> MLICPlusPlus:
    """The mean of the weight files ``paths`` (mlic safetensors files of one configuration)."""
    if len(paths) < 2:
        raise ValueError(f"averaging needs at least two weight files, got {len(paths)}")
    model = load_weights(paths[0])
    state = model.state_dict()
    sums = {k: v.double().clone() for k, v in state.items() if v.is_floating_point()}
    for path in paths[1:]:
        other = load_weights(path)
        if other.config != model.config:
            raise CheckpointError(f"{path} has another configuration than {paths[0]}: weights of different models cannot be averaged")
        for k, v in other.state_dict().items():
            if k in sums:
                sums[k] += v.double()
    with torch.no_grad():
        for k, total in sums.items():
            state[k].copy_((total / len(paths)).to(state[k].dtype))
    model.update(force=True)
    return model
