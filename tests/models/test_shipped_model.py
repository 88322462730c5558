"""The weights that ship inside the package: they load, code every quality sanely, match the model card."""
import hashlib
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mlic
from mlic.models.registry import SMALL_CONFIG

SAMPLE = Path(str(resources.files("mlic") / "samples" / "flower.png"))
WEIGHTS = Path(str(resources.files("mlic") / "weights" / "mlicpp-small.safetensors"))
CARD = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_weights_match_the_model_card_and_size_limit():
    digest = hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
    assert WEIGHTS.stat().st_size <= 30 * 1000 * 1000
    card = CARD.read_text()
    assert re.search(r"sha256[^\n]*" + digest, card), f"docs/models.md does not name the shipped file's SHA-256 {digest}"


@pytest.fixture(scope="module")
def coded():
    ref = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float64)
    rows = []
    for q in range(1, SMALL_CONFIG.num_rates + 1):
        data = mlic.encode_image(SAMPLE, q)
        out = np.asarray(mlic.decode_image(data), dtype=np.float64)
        psnr = 10 * np.log10(255**2 / np.mean((out - ref) ** 2))
        rows.append((q, len(data) * 8 / (ref.shape[0] * ref.shape[1]), psnr))
    return rows


def test_every_quality_decodes_with_sane_rate_and_quality(coded):
    # Coarse floors that a broken model (or broken tables/gains) fails; see docs/models.md for real numbers.
    for q, bpp, psnr in coded:
        assert 0.03 < bpp < 2.0, (q, bpp)
        assert psnr > 22.0, (q, psnr)
    bpps = [b for _, b, _ in coded]
    psnrs = [p for _, _, p in coded]
    assert bpps == sorted(bpps) and psnrs == sorted(psnrs)


def test_default_model_is_the_shipped_one_with_the_registered_levels():
    data = mlic.encode_image(SAMPLE)
    info = mlic.read_info(data)
    assert info["model"] == "mlicpp-small"
    assert info["quality"] == SMALL_CONFIG.default_quality == 6.0  # the level trained for λ = 0.013
    assert mlic.load_model().config == SMALL_CONFIG  # the file's own config is what the registry says
