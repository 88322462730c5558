"""A decoder whose arithmetic differs from the encoder's in the last bits still decodes exactly."""
import copy

import numpy as np
import pytest
import torch

from mlic.entropy import reconcile as rec
from mlic.errors import DesyncError
from mlic.layers import ckbd_anchor, ckbd_nonanchor
from mlic.models.mlicpp import INDEX_RULE
from mlic.models.registry import TINY_CONFIG

from ..helpers import smooth_image, tiny_model


@pytest.fixture(scope="module")
def setup():
    model = tiny_model(TINY_CONFIG, scale_latents=10.0)
    x = smooth_image(1, 128, 192, seed=3)
    return model, model.compress(x, 3)


def _perturbed(model, relative: float = 0.0, mirror: int = 0, seed: int = 0):
    """A copy of ``model`` with another machine's arithmetic, exaggerated: every predicted σ off by up to
    ``relative``, and in every half the ``mirror`` σ closest to an index boundary moved to the other
    side of it by their own distance (a rounding error smaller than ``MAX_MARGIN``). The means stay
    exact so that the decoded ŷ can be compared bit for bit."""
    other = copy.deepcopy(model)
    gc = other.gaussian_conditional
    g = torch.Generator().manual_seed(seed)
    C = model.config.slice_channels
    t = gc.scale_table.double()
    bounds = (t[:-1] * t[1:]).sqrt()
    stats = {"flips": 0}

    def hook(half_mask):
        def f(module, inputs, output):
            scales = output[:, :C] * (1 + relative * (2 * torch.rand(output[:, :C].shape, generator=g) - 1))
            if mirror:
                idx = gc.build_indexes(scales, INDEX_RULE).numpy()
                margins, alt = gc.index_alternatives(scales, idx, INDEX_RULE)
                used = half_mask(torch.ones_like(scales)).reshape(-1).numpy() > 0
                margins = np.where(used, margins, np.inf)
                flat = scales.reshape(-1).clone().double()
                for p in np.argsort(margins)[:mirror]:
                    if margins[p] < rec.MAX_MARGIN:
                        b = bounds[min(idx.reshape(-1)[p], alt[p])]
                        flat[p] = b * b / flat[p]  # mirror in log space across the boundary
                        stats["flips"] += 1
                scales = flat.float().reshape(scales.shape)
            return torch.cat([scales, output[:, C:]], 1)

        return f

    for s in other.slices:
        s.params_anchor.register_forward_hook(hook(ckbd_anchor))
        s.params_nonanchor.register_forward_hook(hook(ckbd_nonanchor))
    return other, stats


def test_noisy_decoder_reconciles_to_the_encoders_latents(setup):
    model, enc = setup
    other, stats = _perturbed(model, relative=1e-6, mirror=2)
    out = other.decompress(enc["strings"], enc["shape"], 3, checksums=enc["checksums"])
    assert stats["flips"] >= 4, "the perturbation must really flip indexes for this test to mean anything"
    assert out["reconciled"] >= 2
    assert torch.equal(out["y_hat"], enc["y_hat"])


def test_same_arithmetic_needs_no_reconciliation(setup):
    model, enc = setup
    out = model.decompress(enc["strings"], enc["shape"], 3, checksums=enc["checksums"])
    assert out["reconciled"] == 0
    assert torch.equal(out["y_hat"], enc["y_hat"])


def test_beyond_noise_raises_instead_of_garbage(setup):
    model, enc = setup
    other, _ = _perturbed(model, relative=0.5)
    with pytest.raises(DesyncError, match="least certain"):
        other.decompress(enc["strings"], enc["shape"], 3, checksums=enc["checksums"])


def test_search_is_bounded(monkeypatch):
    """A chunk that can never match stops after at most 12 + 66 + 220 re-decodes."""

    class Decoder:
        calls = 0

        def restore(self, checkpoint):
            pass

        def decode(self, indexes, tables):
            Decoder.calls += 1
            return np.zeros_like(indexes)

    margins = np.full(1000, 1e-6)
    with pytest.raises(DesyncError):
        rec.reconcile(Decoder(), None, np.zeros(1000, np.int64), margins, np.ones(1000, np.int64), None, 123, "test")
    assert Decoder.calls == 12 + 66 + 220
    # σ far from every boundary are never candidates: nothing to try
    Decoder.calls = 0
    with pytest.raises(DesyncError):
        rec.reconcile(Decoder(), None, np.zeros(10, np.int64), np.full(10, 0.01), np.ones(10, np.int64), None, 1, "test")
    assert Decoder.calls == 0
