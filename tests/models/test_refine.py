"""Encoder-side latent refinement: cheaper latents, same decoder, never worse, model untouched."""
import math

import pytest
import torch

from mlic.models.refine import _cost, lambda_for, rate_and_distortion, refine_latents
from mlic.models.registry import TINY_CONFIG
from mlic.train.loss import bits_per_pixel

from ..helpers import FIXED_TINY, smooth_image, tiny_model

QUALITY = 4


@pytest.fixture(scope="module")
def model():
    return tiny_model(TINY_CONFIG)


@pytest.fixture(scope="module")
def image():
    return smooth_image(1, 64, 128, seed=7)


def _real_cost(model, x, quality, enc) -> float:
    """bpp + λ·255²·MSE measured on the bitstream and its decoding."""
    dec = model.decompress(enc["strings"], enc["shape"], quality)
    bits = 8 * (len(enc["strings"][0][0]) + len(enc["strings"][1][0]))
    mse = float((dec["x_hat"] - x).pow(2).mean())
    return bits / (x.shape[-2] * x.shape[-1]) + lambda_for(model, quality) * 255**2 * mse


def test_estimate_is_the_eval_forward(model):
    """The cost refinement lowers is the eval-mode forward's: its rate estimate and its reconstruction,
    which decompress reproduces bit for bit (tests/models/test_roundtrip.py)."""
    x = smooth_image(1, 256, 256, seed=3)
    with torch.no_grad():
        y, gains = model._analysis(x, QUALITY)
        bpp, mse = rate_and_distortion(model, x, y, model.h_a(y), gains)
        forward = model(x, QUALITY)
    assert float(bpp) == pytest.approx(float(bits_per_pixel(forward["likelihoods"], 256 * 256)), rel=1e-5)
    assert float(mse) == pytest.approx(float((forward["x_hat"] - x).pow(2).mean()), rel=1e-5)
    # A padded image: only its own pixels count, the bits are spread over them alone, and only the
    # latents that cover them are coded, as compress(valid_size=...) codes them.
    with torch.no_grad():
        bpp_crop, mse_crop = rate_and_distortion(model, x, y, model.h_a(y), gains, valid_size=(200, 150))
    enc = model.compress(x, QUALITY, valid_size=(200, 150))
    dec = model.decompress(enc["strings"], enc["shape"], QUALITY, valid_size=(200, 150))
    assert float(mse_crop) == pytest.approx(float((dec["x_hat"] - x)[..., :200, :150].pow(2).mean()), rel=1e-5)
    assert float(bpp_crop) < 0.9 * float(bpp) * 256 * 256 / (200 * 150)  # 13×10 of 16×16 latent positions coded


def test_refinement_lowers_the_real_cost_and_decodes(model, image):
    plain = model.compress(image, QUALITY)
    refined = model.compress(image, QUALITY, refine_steps=12)
    r = refined["refined"]
    assert r.improved == [True]
    assert r.cost_after[0] < 0.98 * r.cost_before[0]
    assert refined["strings"] != plain["strings"]
    dec = model.decompress(refined["strings"], refined["shape"], QUALITY, checksums=refined["checksums"])
    assert torch.equal(dec["y_hat"], refined["y_hat"])
    assert _real_cost(model, image, QUALITY, refined) < _real_cost(model, image, QUALITY, plain)


def test_deterministic_and_the_model_is_left_alone(model, image):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    a = model.compress(image, 2.5, refine_steps=2)
    b = model.compress(image, 2.5, refine_steps=2)
    assert a["strings"] == b["strings"]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert not model.training


def test_never_worse_than_the_analysis_transform(model, image):
    """A step size that wrecks the latents: the encoder falls back to g_a's, bit for bit."""
    with torch.no_grad():
        y, gains = model._analysis(image, QUALITY)
        z = model.h_a(y)
    lmbda = lambda_for(model, QUALITY)
    out = refine_latents(model, image, y, z, gains, lmbda, 2, lr=50.0)
    assert out.improved == [False]
    assert out.cost_after == out.cost_before
    assert torch.equal(out.y, y) and torch.equal(out.z, z)


def test_batch_items_are_judged_one_by_one(model):
    x = smooth_image(2, 64, 64, seed=11)
    enc = model.compress(x, QUALITY, refine_steps=4)
    before, after = enc["refined"].cost_before, enc["refined"].cost_after
    assert len(before) == len(after) == 2 and all(a <= b for a, b in zip(after, before))
    with torch.no_grad():
        y, gains = model._analysis(x, QUALITY)
        costs = _cost(model, x, y, model.h_a(y), gains, lambda_for(model, QUALITY), torch.round)
    assert costs.tolist() == pytest.approx(before, rel=1e-6)
    for b in range(2):
        alone = model.decompress([[enc["strings"][0][b]], [enc["strings"][1][b]]], enc["shape"], QUALITY)
        assert torch.allclose(alone["y_hat"][0], enc["y_hat"][b], atol=1e-5)


def test_lambda_follows_the_quality_levels(model):
    lambdas = model.config.lambdas()
    assert lambda_for(model, 1) == pytest.approx(lambdas[0])
    assert lambda_for(model, len(lambdas)) == pytest.approx(lambdas[-1])
    assert lambda_for(model, 2.5) == pytest.approx(math.sqrt(lambdas[1] * lambdas[2]))
    with pytest.raises(ValueError, match="quality"):
        lambda_for(model, len(lambdas) + 1)


def test_refusals(model, image):
    with pytest.raises(ValueError, match="fixed-rate"):
        tiny_model(FIXED_TINY).compress(image, refine_steps=2)
    with pytest.raises(ValueError, match="≥ 0"):
        model.compress(image, QUALITY, refine_steps=-1)
