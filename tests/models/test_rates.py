"""Quality levels: their λ in the config, the default quality, and adding levels to a trained model."""
import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlic.models import RATE_LAMBDAS, MLICConfig, load_model
from mlic.models.rates import resample_log_linear, with_rate_lambdas
from mlic.models.registry import TINY_CONFIG
from mlic.train.loop import MSSSIM_LAMBDAS, training_lambdas

from ..helpers import FIXED_TINY, smooth_image, tiny_model

LOW = (0.00048, 0.00093) + RATE_LAMBDAS
WIDER = dataclasses.replace(TINY_CONFIG, num_rates=8, rate_lambdas=LOW)


def test_levels_default_to_the_official_six_and_the_default_quality_follows_lambda():
    assert TINY_CONFIG.lambdas() == RATE_LAMBDAS and TINY_CONFIG.default_quality == 4.0
    assert WIDER.lambdas() == LOW and WIDER.default_quality == 6.0  # λ 0.013 either way
    assert FIXED_TINY.lambdas() == () and FIXED_TINY.default_quality is None
    spread = dataclasses.replace(TINY_CONFIG, num_rates=3).lambdas()
    assert spread[0] == pytest.approx(RATE_LAMBDAS[0]) and spread[-1] == pytest.approx(RATE_LAMBDAS[-1])


def test_config_checks_and_round_trips_its_levels():
    with pytest.raises(ValueError, match="3 values for num_rates=6"):
        dataclasses.replace(TINY_CONFIG, rate_lambdas=(0.001, 0.002, 0.003))
    with pytest.raises(ValueError, match="increasing"):
        dataclasses.replace(TINY_CONFIG, num_rates=2, rate_lambdas=(0.002, 0.001))
    # Absent when default: files saved before the field existed keep their fingerprint.
    assert "rate_lambdas" not in TINY_CONFIG.to_dict()
    assert MLICConfig.from_dict(WIDER.to_dict()) == WIDER


def test_resampling_is_exact_at_known_levels_and_linear_in_log_lambda_beyond():
    old = [0.001, 0.004]
    values = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    out = resample_log_linear(values, old, [0.0005, 0.001, 0.002, 0.004, 0.008])
    assert torch.equal(out[1], values[0]) and torch.equal(out[3], values[1])
    assert torch.allclose(out[0], torch.tensor([-1.0, 2.0])) and torch.allclose(out[2], torch.tensor([1.0, 0.0]))
    assert torch.allclose(out[4], torch.tensor([3.0, -2.0]))  # 1.5 spans past the first level


def test_added_levels_keep_the_trained_ones_and_code_at_lower_rates():
    model = tiny_model(TINY_CONFIG)
    wider = with_rate_lambdas(model, LOW).eval()
    assert wider.config.num_rates == 8 and wider.config.default_quality == 6.0
    assert torch.equal(wider.log_gain[2:], model.log_gain) and torch.equal(wider.log_inv_gain[2:], model.log_inv_gain)
    # The initial gains are 0.5·log(λ/λmax): extrapolating them in log λ must give exactly that law.
    expected = 0.5 * math.log(LOW[0] / LOW[-1])
    assert torch.allclose(wider.log_gain[0], torch.full_like(wider.log_gain[0], expected), atol=1e-5)
    x = smooth_image(1, 128, 128, seed=5)
    with torch.no_grad():
        assert torch.equal(wider(x, 3)["x_hat"], model(x, 1)["x_hat"])  # same level, same output
    sizes = [len(wider.compress(x, q)["strings"][0][0]) for q in (1, 2, 3)]
    assert sizes[0] < sizes[1] < sizes[2]
    enc = wider.compress(x, 1)
    dec = wider.decompress(enc["strings"], enc["shape"], 1, checksums=enc["checksums"])
    assert torch.equal(dec["y_hat"], enc["y_hat"])


def test_fixed_rate_models_have_no_levels_to_change():
    with pytest.raises(ValueError, match="fixed-rate"):
        with_rate_lambdas(tiny_model(FIXED_TINY), LOW)


def test_training_lambdas_follow_the_config_and_map_to_ms_ssim():
    assert torch.allclose(training_lambdas(TINY_CONFIG, "mse"), torch.tensor(RATE_LAMBDAS))
    assert torch.allclose(training_lambdas(TINY_CONFIG, "ms-ssim"), torch.tensor(MSSSIM_LAMBDAS))
    low = training_lambdas(WIDER, "ms-ssim")
    assert torch.allclose(low[2:], torch.tensor(MSSSIM_LAMBDAS))
    assert bool((low[1:] > low[:-1]).all()) and 0 < low[0] < MSSSIM_LAMBDAS[0] / 3


def test_set_rate_levels_script_writes_a_loadable_weight_file(tmp_path):
    script = Path(__file__).resolve().parents[2] / "scripts" / "set_rate_levels.py"
    out = tmp_path / "wider.safetensors"
    subprocess.run([sys.executable, str(script), "mlicpp-tiny", str(out), "--lambdas", ",".join(map(str, LOW))], check=True, capture_output=True)
    wider, base = load_model(out), load_model("mlicpp-tiny")
    assert wider.config.lambdas() == LOW
    assert torch.equal(wider.log_gain[2:], base.log_gain)
    others = {k: v for k, v in base.state_dict().items() if "gain" not in k}
    assert all(torch.equal(wider.state_dict()[k], v) for k, v in others.items())


def test_encode_image_defaults_to_the_level_trained_for_lambda_0013():
    import mlic
    from PIL import Image

    image = Image.fromarray((smooth_image(1, 64, 64)[0].permute(1, 2, 0).numpy() * 255).astype("uint8"))
    for model, default in ((tiny_model(TINY_CONFIG), 4.0), (with_rate_lambdas(tiny_model(TINY_CONFIG), LOW).eval(), 6.0)):
        info = mlic.read_info(mlic.encode_image(image, None, model))
        assert info["quality"] == default
        with pytest.raises(ValueError, match=f"between 1 and {model.config.num_rates}"):
            mlic.encode_image(image, model.config.num_rates + 0.5, model)
