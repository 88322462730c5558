"""decompress(compress(x)) must equal the eval-mode forward bit for bit."""
import pytest
import torch

from mlic.models.registry import TINY_CONFIG

from ..helpers import FIXED_TINY, smooth_image, tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model(TINY_CONFIG)


@pytest.mark.parametrize(("batch", "height", "width"), [(1, 64, 64), (1, 128, 192), (2, 192, 128), (3, 64, 256)])
def test_roundtrip_matches_forward(model, batch, height, width):
    x = smooth_image(batch, height, width, seed=height + width)
    quality = 4
    with torch.no_grad():
        forward = model(x, quality)
    enc = model.compress(x, quality)
    assert len(enc["strings"][0]) == batch and len(enc["strings"][1]) == batch
    assert all(len(s) > 16 for s in enc["strings"][0]), "latents should be non-trivial"
    dec = model.decompress(enc["strings"], enc["shape"], quality)
    assert torch.equal(dec["y_hat"], enc["y_hat"])
    assert torch.equal(dec["x_hat"], forward["x_hat"])


def test_batch_items_decode_alone(model):
    x = smooth_image(2, 128, 128, seed=3)
    enc = model.compress(x, 2.5)
    for b in range(2):
        single = model.decompress([[enc["strings"][0][b]], [enc["strings"][1][b]]], enc["shape"], 2.5)
        together = model.decompress(enc["strings"], enc["shape"], 2.5)
        assert torch.allclose(single["x_hat"][0], together["x_hat"][b], atol=1e-5)


def test_any_sequence_of_sizes(model):
    """No state is kept between images of different sizes (the official code caches a mask)."""
    sizes = [(64, 64), (128, 64), (64, 64), (192, 256), (64, 128)]
    for i, (h, w) in enumerate(sizes):
        x = smooth_image(1, h, w, seed=i)
        enc = model.compress(x, 3)
        assert torch.equal(model.decompress(enc["strings"], enc["shape"], 3)["x_hat"], model(x, 3)["x_hat"])


def test_fixed_rate_model_roundtrip():
    model = tiny_model(FIXED_TINY)
    x = smooth_image(1, 128, 128)
    enc = model.compress(x)
    assert torch.equal(model.decompress(enc["strings"], enc["shape"])["x_hat"], model(x)["x_hat"])
    with pytest.raises(ValueError, match="fixed rate"):
        model.compress(x, 3)


def test_rate_grows_with_quality(model):
    x = smooth_image(1, 128, 128, seed=5)
    sizes = [len(model.compress(x, q)["strings"][0][0]) for q in (1, 3.5, 6)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_bad_sizes_and_qualities_are_refused(model):
    with pytest.raises(ValueError, match="multiples of 64"):
        model.compress(torch.rand(1, 3, 100, 64), 3)
    with pytest.raises(ValueError, match="quality"):
        model.compress(torch.rand(1, 3, 64, 64), 7)
    with pytest.raises(ValueError, match="needs a quality"):
        model.compress(torch.rand(1, 3, 64, 64))


def test_training_forward_uses_noise_for_likelihoods_and_rounding_for_reconstruction(model):
    model.train()
    try:
        x = smooth_image(2, 64, 64)
        out1, out2 = model(x, torch.tensor([1.0, 6.0])), model(x, torch.tensor([1.0, 6.0]))
        assert not torch.equal(out1["likelihoods"]["y"], out2["likelihoods"]["y"])  # noise
        assert torch.equal(out1["x_hat"], out2["x_hat"])  # STE rounding is deterministic
        loss = out1["x_hat"].square().mean() + out1["likelihoods"]["y"].log().mean()
        loss.backward()
        assert model.g_a[0].conv1.weight.grad is not None and model.g_a[0].conv1.weight.grad.abs().sum() > 0
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()


def test_registered_random_models_are_identical_across_loads():
    from mlic.models import load_model, model_fingerprint

    assert model_fingerprint(load_model("mlicpp-tiny")) == model_fingerprint(load_model("mlicpp-tiny"))


def test_strip_processing_matches_whole_transforms(model):
    """Large inputs run g_a/g_s in strips with halos; the result must equal the whole-input transforms."""
    x = smooth_image(1, 384, 128, seed=9)
    with torch.no_grad():
        whole_y, whole_x = model.g_a(x), model.g_s(model.g_a(x))
        model.g_a_strips, model.g_s_strips = (64, 128), (4, 8)
        try:
            y = model._transform(model.g_a, x)
            x_hat = model._transform(model.g_s, whole_y)
            enc = model.compress(x, 3)
            dec = model.decompress(enc["strings"], enc["shape"], 3)
            fwd = model(x, 3)
        finally:
            del model.g_a_strips, model.g_s_strips
    assert (y - whole_y).abs().max() < 1e-4 * whole_y.abs().max()
    assert (x_hat - whole_x).abs().max() < 1e-4
    assert torch.equal(dec["x_hat"], fwd["x_hat"])  # the same strips in forward and decompress


def test_channels_last_transforms_match_plain_modules(model):
    """Eval mode runs g_a/g_s from a channels-last copy: the same function up to float32 rounding,
    rebuilt when the weights change, and switchable off (then exactly the plain modules)."""
    x = smooth_image(1, 128, 192, seed=7)
    with torch.no_grad():
        y_plain = model.g_a(x)
        assert (model._transform(model.g_a, x) - y_plain).abs().max() <= 1e-4
        assert (model._transform(model.g_s, y_plain) - model.g_s(y_plain)).abs().max() <= 1e-4
        model.channels_last_transforms = False
        try:
            assert torch.equal(model._transform(model.g_a, x), y_plain)
        finally:
            del model.channels_last_transforms  # back to the class default
        weight = model.g_a[-1].weight
        saved = weight.clone()
        try:
            weight.mul_(2)  # a changed weight must not be served from the stale copy
            assert (model._transform(model.g_a, x) - model.g_a(x)).abs().max() <= 1e-4
        finally:
            weight.copy_(saved)
        assert (model._transform(model.g_a, x) - y_plain).abs().max() <= 1e-4


def test_inference_copies_do_not_travel_with_the_model(model):
    """The channels-last copies are a cache beside the model: a deep copy or a pickle of the model
    does not carry them, and they go when the model goes."""
    import copy
    import gc
    import pickle

    from mlic.models import mlicpp

    clone = copy.deepcopy(model)
    x = smooth_image(1, 64, 64, seed=9)
    clone.compress(x, 3)
    assert clone.g_a in mlicpp._INFERENCE_COPIES
    assert copy.deepcopy(clone).g_a not in mlicpp._INFERENCE_COPIES
    # a pickled model holding copies of g_a and g_s would be far larger than one without
    assert abs(len(pickle.dumps(clone)) - len(pickle.dumps(model))) < 4096
    before = len(mlicpp._INFERENCE_COPIES)
    del clone
    gc.collect()
    assert len(mlicpp._INFERENCE_COPIES) < before
