"""Changing the quality levels of a trained variable-rate model.

Each level of a variable-rate model is a learned per-channel gain (and inverse gain) on the latent.
Those gains vary smoothly with the level's λ, so levels for new λ can be made from the trained ones by
per-channel linear interpolation (or extrapolation beyond the ends) of log-gain against log λ — a
starting point that already codes at the new rates, to be refined by training (``mlic train --init``).
"""
from __future__ import annotations

import bisect
import dataclasses
import math

import torch

from .mlicpp import MLICPlusPlus


def resample_log_linear(values: torch.Tensor, old_lambdas: list[float], new_lambdas: list[float]) -> torch.Tensor:
    """Rows of ``values`` (one per old λ, increasing) at the new λ: piecewise linear in log λ, extended
    linearly past the ends; a λ that is among the old ones gets its row exactly."""
    old_x, new_x = [math.log(v) for v in old_lambdas], [math.log(v) for v in new_lambdas]
    out = []
    for x in new_x:
        if x in old_x:  # a level the model has: its gains, exactly
            out.append(values[old_x.index(x)])
            continue
        i = min(max(bisect.bisect_right(old_x, x) - 1, 0), len(old_x) - 2)  # segment, or the end one
        t = (x - old_x[i]) / (old_x[i + 1] - old_x[i])
        out.append(values[i] + t * (values[i + 1] - values[i]))
    return torch.stack(out)


def with_rate_lambdas(model: MLICPlusPlus, lambdas) -> MLICPlusPlus:
    """A copy of ``model`` whose quality levels 1..len(lambdas) are the MSE λ given (increasing).

    Everything but the gains is copied unchanged; a level whose λ the model already has keeps its gains
    exactly, and the gains of new levels come from log-linear interpolation in λ (see module doc).
    """
    if not model.variable_rate:
        raise ValueError("a fixed-rate model has no quality levels to change")
    old = model.config.lambdas()
    if len(old) < 2:
        raise ValueError("interpolating gains needs a model with at least two quality levels")
    config = dataclasses.replace(model.config, num_rates=len(lambdas), rate_lambdas=tuple(lambdas))
    new = MLICPlusPlus(config)
    state = model.state_dict()
    for name in ("log_gain", "log_inv_gain"):
        state[name] = resample_log_linear(state[name].cpu(), list(old), list(config.lambdas()))
    new.load_state_dict(state)
    new.name = getattr(model, "name", None)
    param = next(model.parameters())
    return new.to(param.device).train(model.training)
