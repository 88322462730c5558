"""Named models and our own weight files (safetensors with the configuration in the metadata).

A weight file written by :func:`save_weights` holds every tensor the codec needs, integer probability
tables included, so that encoder and decoder never rebuild tables independently.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save

from .._io import atomic_write_bytes
from .config import RATE_LAMBDAS, MLICConfig
from .construction import skip_parameter_init
from .mlicpp import MLICPlusPlus

WEIGHTS_FORMAT = "mlic-weights/1"


from ..errors import CheckpointError, ModelNotFoundError  # noqa: E402  (re-exported)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config: MLICConfig
    weights: str | None  # file name inside mlic/weights, or None for random init (tests, benchmarks)
    description: str


# Two levels below the official six (continuing their ratio of about 1.93), so that the shipped model
# reaches down to about 0.1 bpp: qualities 1–8, the official quality k is our k + 2.
SMALL_CONFIG = MLICConfig(
    N=64, M=160, num_slices=5, entropy_widths=(224, 160, 96), channel_widths=(96, 64), lrp_widths=(96, 64), num_rates=8,
    rate_lambdas=(0.00048, 0.00093) + RATE_LAMBDAS,
)
TINY_CONFIG = MLICConfig(N=32, M=64, num_slices=2, entropy_widths=(64, 48, 32), channel_widths=(32, 32), lrp_widths=(32, 32), num_rates=6)

_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> None:
    _REGISTRY[spec.name] = spec


register(ModelSpec("mlicpp-small", SMALL_CONFIG, "mlicpp-small.safetensors", "small variable-rate MLIC++ trained by the mlic project (default)"))
register(ModelSpec("mlicpp-official", MLICConfig(), None, "official MLIC++ configuration (83.5 M params), untrained; load official weights with load_official_checkpoint"))
register(ModelSpec("mlicpp-tiny", TINY_CONFIG, None, "tiny random-init configuration for tests"))

#: The model ``mlic encode`` uses when none is given.
DEFAULT_MODEL = "mlicpp-small"


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def _packaged(filename: str) -> Path | None:
    path = Path(str(resources.files("mlic") / "weights" / filename))
    return path if path.exists() else None


def load_model(name_or_path: str | os.PathLike | None = None, device="cpu") -> MLICPlusPlus:
    """A ready model (eval mode, tables present): a registered name, or a path to a weight file."""
    name = str(name_or_path or DEFAULT_MODEL)
    if name in _REGISTRY:
        spec = _REGISTRY[name]
        if spec.weights is None:
            # Seeded, so a random-init model is the same model in every process (same identity hash).
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = MLICPlusPlus(spec.config)
            model.name = spec.name
            model.update(force=True)
            return model.to(device).eval()
        path = _packaged(spec.weights)
        if path is None:
            raise ModelNotFoundError(f"weights of {name!r} ({spec.weights}) are not installed")
        return load_weights(path, device=device, name=name)
    path = Path(name)
    if not path.is_file():
        raise ModelNotFoundError(f"unknown model {name!r}: not a registered name ({', '.join(list_models())}) nor a weight file")
    return load_weights(path, device=device)


def load_weights(path, device="cpu", name: str | None = None) -> MLICPlusPlus:
    path = Path(path)
    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = f.metadata() or {}
        if meta.get("format") != WEIGHTS_FORMAT:
            raise ModelNotFoundError(f"{path} is not an mlic weight file (format {meta.get('format')!r})")
        state = {k: f.get_tensor(k) for k in f.keys()}
    with skip_parameter_init():  # every parameter comes from the file (strict load below)
        model = MLICPlusPlus(MLICConfig.from_dict(json.loads(meta["config"])))
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    except RuntimeError as e:  # missing, extra or misshapen tensors: the file does not fit its own configuration
        raise CheckpointError(f"{path} does not fit the configuration it declares: {e}") from None
    model.name = name or meta.get("name") or path.stem
    model.update()  # no-op when the file carries tables
    return model.to(device).eval()


def save_weights(model: MLICPlusPlus, path, name: str, extra: dict | None = None, half: bool = False) -> str:
    """Write ``model`` (tables rebuilt) atomically; returns the file's SHA-256."""
    model.update(force=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:  # halves the file; tables and the scale table stay exact
        state = {k: v.half() if v.is_floating_point() and "scale_table" not in k else v for k, v in state.items()}
    meta = {"format": WEIGHTS_FORMAT, "name": name, "config": json.dumps(model.config.to_dict())}
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    data = _sorted_metadata(save(state, metadata=meta))
    atomic_write_bytes(path, data, force=True)
    return hashlib.sha256(data).hexdigest()


def _sorted_metadata(data: bytes) -> bytes:
    """The same safetensors file with its metadata keys in sorted order.

    safetensors writes ``__metadata__`` from a Rust hash map, whose order is random per map: saving the
    same weights twice gave files with different bytes and SHA-256, so an export could not be checked
    against a model card. Only the header is rewritten; tensor offsets are relative to its end.
    """
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    if "__metadata__" in header:
        header = {"__metadata__": dict(sorted(header.pop("__metadata__").items()))} | header
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header with spaces to 8-byte alignment
    return len(text).to_bytes(8, "little") + text + data[8 + size :]


def model_fingerprint(model: MLICPlusPlus) -> bytes:
    """16-byte identity of everything that decides decoded values: config, weights and tables."""
    cached = getattr(model, "_fingerprint", None)
    if cached is not None:
        return cached
    h = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for key, value in sorted(model.state_dict().items()):
        t = value.detach().cpu().contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    model._fingerprint = h.digest()[:16]
    return model._fingerprint
