"""Latent positions that cover only padding are not coded (format 3.0), and both sides agree on them."""
import pytest
import torch

from mlic.errors import MlicError
from mlic.models.perturb import other_machine
from mlic.models.refine import rate_and_distortion
from mlic.models.region import coded_region
from mlic.models.registry import TINY_CONFIG

from ..helpers import smooth_image, tiny_model

VALID = (130, 70)  # of a 192×128 input: latent rows ⌈(130 + 8)/16⌉ = 9 of 12, columns ⌈(70 + 8)/16⌉ = 5 of 8


@pytest.fixture(scope="module")
def setup():
    model = tiny_model(TINY_CONFIG, scale_latents=10.0)
    x = smooth_image(2, 192, 128, seed=5)
    return model, x, model.compress(x, 3, valid_size=VALID), model.compress(x, 3)


def test_coded_region_is_the_latents_that_touch_the_image():
    mask = coded_region(12, 8, VALID)
    assert mask.shape == (1, 1, 12, 8) and mask.dtype == torch.bool
    assert mask[0, 0, :9, :5].all() and mask.sum() == 9 * 5
    assert coded_region(12, 8, (192, 128)) is None  # nothing to leave out
    assert coded_region(12, 8, (177, 113)) is None  # the last row and column hold a pixel each
    assert coded_region(12, 8, None) is None
    # An image that ends on a latent boundary also codes the row and column after it (g_s needs them
    # for its last pixels); one that ends 8 pixels or more before the boundary does not.
    assert coded_region(12, 8, (160, 96)).sum() == 11 * 7
    assert coded_region(12, 8, (152, 88)).sum() == 10 * 6
    with pytest.raises(ValueError, match="covers no latent"):
        coded_region(12, 8, (0, 5))
    with pytest.raises(ValueError, match="covers no latent"):
        coded_region(12, 8, (5, -3))


def test_region_round_trip_is_exact_and_shorter(setup):
    model, x, enc, full = setup
    out = model.decompress(enc["strings"], enc["shape"], 3, checksums=enc["checksums"], valid_size=VALID)
    assert out["reconciled"] == 0
    assert torch.equal(out["y_hat"], enc["y_hat"])
    for b in range(2):
        assert len(enc["strings"][0][b]) < len(full["strings"][0][b])
        assert enc["strings"][1][b] == full["strings"][1][b]  # z is the same: only y positions are left out
    # Outside the region ŷ is the prediction, not g_a's latent rounded: the two streams decode differently there.
    outside = ~coded_region(12, 8, VALID)
    assert not torch.equal(enc["y_hat"] * outside, full["y_hat"] * outside)


def test_decoding_without_the_region_fails_instead_of_garbage(setup):
    model, _, enc, _ = setup
    with pytest.raises(MlicError):
        model.decompress(enc["strings"], enc["shape"], 3, checksums=enc["checksums"])


def test_noisy_decoder_reconciles_inside_the_region(setup):
    model, _, enc, _ = setup
    other, stats = other_machine(model, relative=1e-6, mirror=2)
    out = other.decompress(enc["strings"], enc["shape"], 3, checksums=enc["checksums"], valid_size=VALID)
    assert stats["flips"] >= 1
    assert torch.equal(out["y_hat"], enc["y_hat"])


def test_refinement_cost_counts_only_coded_positions(setup):
    model, x, _, _ = setup
    with torch.no_grad():
        y, gains = model._analysis(x, 3)
        z = model.h_a(y)
        bpp_region, mse_region = rate_and_distortion(model, x, y, z, gains, valid_size=VALID)
        bpp_full, _ = rate_and_distortion(model, x, y, z, gains)
    bits_region, bits_full = bpp_region * VALID[0] * VALID[1], bpp_full * 192 * 128
    assert (bits_region < bits_full).all()  # the region's bits are a part of the full grid's
    # and the estimate shrinks as the written stream does (this random model's estimates run ~13 % above
    # what it writes, for the region and the full grid alike; measured 0.475 against 0.480)
    _, _, enc, full = setup
    for b in range(2):
        written = 8 * (len(enc["strings"][0][b]) + len(enc["strings"][1][b]))
        written_full = 8 * (len(full["strings"][0][b]) + len(full["strings"][1][b]))
        assert (bits_region[b] / bits_full[b]).item() == pytest.approx(written / written_full, rel=0.05)
    assert torch.isfinite(mse_region).all()
