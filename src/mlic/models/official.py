"""Load checkpoints of the official MLIC++ code (JiangWeibeta/MLIC) into our model.

The official state dict differs from ours only in names (and in constant buffers that we derive).
This module holds the name map, infers the configuration from tensor shapes and refuses files that
do not fit with a message naming the offending keys.
"""
from __future__ import annotations

import os
import re
from typing import Any, Mapping

import torch

from ..errors import CheckpointError  # noqa: E402  (re-exported)
from .config import MLICConfig
from .construction import skip_parameter_init
from .mlicpp import MLICPlusPlus

_PER_SLICE = {
    "local_context": "local_context",
    "channel_context": "channel_context",
    "global_inter_context": "inter_context",
    "global_intra_context": "intra_context",
    "entropy_parameters_anchor": "params_anchor",
    "entropy_parameters_nonanchor": "params_nonanchor",
    "lrp_anchor": "lrp_anchor",
    "lrp_nonanchor": "lrp_nonanchor",
}
_SLICE_RE = re.compile(r"^(" + "|".join(_PER_SLICE) + r")\.(\d+)\.(.*)$")
_INNER = {"fushion.": "", "fusion.": "", "lrp_transform.": "layers."}
_PREFIXES = {
    "g_a.analysis_transform.": "g_a.",
    "g_s.synthesis_transform.": "g_s.",
    "h_a.reduction.": "h_a.",
    "h_s.increase.": "h_s.",
}
# Constants and tables of the official code that we derive ourselves.
_IGNORED = re.compile(
    r"(\.pedestal|\.lower_bound\.bound|likelihood_lower_bound\.bound|\.relative_position_index"
    r"|^entropy_bottleneck\.(target|_offset|_quantized_cdf|_cdf_length)"
    r"|^gaussian_conditional\.(?!scale_table$).*)$"
)


def official_to_ours(key: str) -> str | None:
    """Our name for an official key, or None for a buffer we derive ourselves."""
    if _IGNORED.search(key):
        return None
    m = _SLICE_RE.match(key)
    if m:
        module, index, rest = m.groups()
        ours = _PER_SLICE[module]
        if module in ("channel_context", "entropy_parameters_anchor", "entropy_parameters_nonanchor", "lrp_anchor", "lrp_nonanchor"):
            for old, new in _INNER.items():
                if rest.startswith(old):
                    rest = new + rest[len(old) :]
                    break
        return f"slices.{index}.{ours}.{rest}"
    for old, new in _PREFIXES.items():
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def _unwrap(obj: Any) -> Mapping[str, torch.Tensor]:
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            obj = load_file(path)
        else:
            obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"expected a state dict or a checkpoint dict with 'state_dict', got {type(obj).__name__}")
    state = dict(obj)
    if state and all(k.startswith("module.") for k in state):  # saved from DistributedDataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def infer_config(state: Mapping[str, torch.Tensor]) -> MLICConfig:
    """Read N, M, slices, hidden widths and the variant off the tensor shapes."""

    def shape(key):
        if key not in state:
            raise CheckpointError(f"not an MLIC++ checkpoint: missing key {key!r}")
        return tuple(state[key].shape)

    N = shape("g_a.analysis_transform.0.conv1.weight")[0]
    M = shape("g_a.analysis_transform.6.weight")[0]
    slices = sorted({int(m.group(2)) for k in state if (m := _SLICE_RE.match(k)) and m.group(1) == "local_context"})
    if not slices or slices != list(range(len(slices))):
        raise CheckpointError("not an MLIC++ checkpoint: local_context.<i> entries are missing or not contiguous")
    old = "g_s.synthesis_transform.0.skip.weight" in state or "lrp_anchor.0.lrp_transform.6.weight" in state
    ep = "entropy_parameters_anchor.0.fusion."
    entropy_widths = (shape(ep + "0.weight")[0], shape(ep + "2.weight")[0], shape(ep + "4.weight")[0])
    kwargs: dict[str, Any] = dict(N=N, M=M, num_slices=len(slices), variant="old" if old else "current", entropy_widths=entropy_widths)
    if len(slices) > 1:
        cc = "channel_context.1.fushion."
        kwargs["channel_widths"] = (shape(cc + "0.weight")[0], shape(cc + "2.weight")[0])
    if not old:
        lrp = "lrp_anchor.0.lrp_transform."
        kwargs["lrp_widths"] = (shape(lrp + "0.weight")[0], shape(lrp + "2.weight")[0])
    try:
        return MLICConfig(**kwargs)
    except ValueError as exc:
        raise CheckpointError(f"unsupported MLIC++ configuration: {exc}") from exc


def convert_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        ours = official_to_ours(key)
        if ours is not None:
            out[ours] = value
    return out


def load_official_checkpoint(source, device: str | torch.device = "cpu") -> MLICPlusPlus:
    """Build a ready-to-use model (eval mode, tables built) from an official MLIC++ checkpoint.

    ``source`` is a path (``.pth.tar``/``.pt``/``.safetensors``), a checkpoint dict with ``state_dict``
    (a ``module.`` prefix from DDP is accepted) or a bare state dict. Float16 tensors are upcast.
    """
    state = _unwrap(source)
    config = infer_config(state)
    with skip_parameter_init():  # every parameter must come from the checkpoint (checked below)
        model = MLICPlusPlus(config)
    ours = convert_state_dict(state)
    expected = model.state_dict()
    # Our integer tables are rebuilt below; everything else must be present with the right shape.
    needed = {k for k in expected if not k.split(".")[-1].startswith("_table_")}
    missing = sorted(needed - ours.keys())
    unexpected = sorted(ours.keys() - expected.keys())
    if missing or unexpected:
        raise CheckpointError(_describe_mismatch(missing, unexpected))
    bad = [f"{k}: file {tuple(ours[k].shape)} vs model {tuple(expected[k].shape)}" for k in needed if tuple(ours[k].shape) != tuple(expected[k].shape)]
    if bad:
        raise CheckpointError("shape mismatch: " + "; ".join(sorted(bad)[:8]))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ours.items()}, strict=False)
    model.to(device).eval()
    model.update(force=True)
    return model


def _describe_mismatch(missing, unexpected) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s), e.g. {', '.join(missing[:5])}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s), e.g. {', '.join(unexpected[:5])}")
    return "checkpoint does not match the MLIC++ layout: " + "; ".join(parts)
