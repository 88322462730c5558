"""A decoder whose arithmetic differs from the encoder's in the last bits still decodes exactly."""
import copy

import numpy as np
import pytest
import torch

from mlic.entropy import reconcile as rec
from mlic.errors import DesyncError
from mlic.models.perturb import other_machine
from mlic.models.registry import TINY_CONFIG

from ..helpers import smooth_image, tiny_model


@pytest.fixture(scope="module")
def setup():
    model = tiny_model(TINY_CONFIG, scale_latents=10.0)
    x = smooth_image(1, 256, 256, seed=3)
    return model, model.compress(x, 3)


def test_noisy_decoder_reconciles_to_the_encoders_latents(setup):
    model, enc = setup
    other, stats = other_machine(model, relative=1e-6, mirror=2)
    out = other.decompress(enc["strings"], enc["shape"], 3, checksums=enc["checksums"])
    assert stats["flips"] >= 3, "the perturbation must really flip indexes for this test to mean anything"
    assert out["reconciled"] >= 2
    assert torch.equal(out["y_hat"], enc["y_hat"])


def test_same_arithmetic_needs_no_reconciliation(setup):
    model, enc = setup
    out = model.decompress(enc["strings"], enc["shape"], 3, checksums=enc["checksums"])
    assert out["reconciled"] == 0
    assert torch.equal(out["y_hat"], enc["y_hat"])


def test_beyond_noise_raises_instead_of_garbage(setup):
    model, enc = setup
    other, _ = other_machine(model, relative=0.5)
    with pytest.raises(DesyncError, match="least certain"):
        other.decompress(enc["strings"], enc["shape"], 3, checksums=enc["checksums"])


def test_search_is_bounded(monkeypatch):
    """A chunk that can never match stops after every subset of the 8 closest candidates: 255 re-decodes."""

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
    assert Decoder.calls == 2**rec.MAX_CANDIDATES - 1 == 255
    # σ far from every boundary are never candidates: nothing to try
    Decoder.calls = 0
    with pytest.raises(DesyncError):
        rec.reconcile(Decoder(), None, np.zeros(10, np.int64), np.full(10, 0.01), np.ones(10, np.int64), None, 1, "test")
    assert Decoder.calls == 0


def test_float64_decoder_decodes_a_float32_file(setup):
    """Completely different arithmetic on the decoder side (float64 everywhere) gives the same symbols."""
    model, enc = setup
    wide = copy.deepcopy(model).double()
    out = wide.decompress(enc["strings"], enc["shape"], 3, checksums=enc["checksums"])
    # A single different symbol would move ŷ by about 1; the means differ only by rounding.
    assert (out["y_hat"] - enc["y_hat"].double()).abs().max() < 1e-3


def test_batch_encoded_images_decode_alone_and_vice_versa(setup):
    """Batching changes the order of floating-point work; each image still decodes exactly."""
    model, _ = setup
    x = torch.cat([smooth_image(1, 128, 192, seed=s) for s in (5, 6)])
    batch = model.compress(x, 3)
    for b in range(2):
        strings = [[batch["strings"][0][b]], [batch["strings"][1][b]]]
        alone = model.decompress(strings, batch["shape"], 3, checksums=[batch["checksums"][b]])
        # identical symbols; the means may differ in the last bits (another order of work)
        assert (alone["y_hat"][0] - batch["y_hat"][b]).abs().max() < 1e-3
    singles = [model.compress(x[b : b + 1], 3) for b in range(2)]
    together = model.decompress([[s["strings"][0][0] for s in singles], [s["strings"][1][0] for s in singles]], batch["shape"], 3,
                                checksums=[s["checksums"][0] for s in singles])  # fmt: skip
    for b in range(2):
        assert (together["y_hat"][b] - singles[b]["y_hat"][0]).abs().max() < 1e-3
