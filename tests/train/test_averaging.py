"""Weight averaging of finished runs (mlic.train.averaging, scripts/average_weights.py)."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from mlic.errors import CheckpointError
from mlic.models.registry import load_weights, save_weights
from mlic.train.averaging import average_weights
from tests.helpers import FIXED_TINY, smooth_image, tiny_model

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "average_weights.py"


@pytest.fixture
def two_files(tmp_path):
    paths = []
    for seed in (0, 1):
        path = tmp_path / f"run{seed}" / "model.safetensors"
        path.parent.mkdir()
        save_weights(tiny_model(seed=seed), path, "tiny")
        paths.append(path)
    return paths


def test_the_mean_of_every_parameter_with_tables_rebuilt_for_it(two_files):
    a, b = (load_weights(p) for p in two_files)
    mean = average_weights(two_files)
    sa, sb, sm = a.state_dict(), b.state_dict(), mean.state_dict()
    averaged = [k for k, v in sm.items() if v.is_floating_point() and not torch.equal(sa[k], sb[k])]
    assert len(averaged) > 50  # the two seeds really differ almost everywhere
    for k in averaged:
        torch.testing.assert_close(sm[k], (sa[k] + sb[k]) / 2, rtol=0, atol=1e-6)
    # the integer tables belong to the averaged parameters, not to the first file's
    rebuilt = load_weights(two_files[0])
    rebuilt.load_state_dict(sm)
    rebuilt.update(force=True)
    tables = [k for k, v in sm.items() if not v.is_floating_point()]
    assert any(not torch.equal(sm[k], sa[k]) for k in tables)
    assert all(torch.equal(sm[k], rebuilt.state_dict()[k]) for k in tables)
    # and it codes: a real bitstream decodes to the model's own reconstruction
    x = smooth_image(1, 64, 64)
    out = mean.compress(x, quality=4)
    x_hat = mean.decompress(out["strings"], out["shape"], quality=4)["x_hat"]
    assert x_hat.shape == x.shape and torch.isfinite(x_hat).all()
    assert sum(len(s[0]) for s in out["strings"]) > 0


def test_one_file_or_different_configurations_are_refused(two_files, tmp_path):
    with pytest.raises(ValueError, match="at least two"):
        average_weights(two_files[:1])
    other = tmp_path / "other.safetensors"
    save_weights(tiny_model(FIXED_TINY), other, "fixed")
    with pytest.raises(CheckpointError, match="other.safetensors"):
        average_weights([two_files[0], other])


def test_the_script_writes_a_loadable_run_folder_naming_its_sources(two_files, tmp_path):
    out = tmp_path / "soup"
    run = subprocess.run([sys.executable, str(SCRIPT), *(str(p.parent) for p in two_files), "--out", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    model = load_weights(out / "model.safetensors")
    torch.testing.assert_close(model.state_dict(), average_weights(two_files).state_dict(), rtol=0, atol=0)
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        assert str(two_files[1]) in f.metadata()["averaged_from"]
    missing = subprocess.run([sys.executable, str(SCRIPT), str(two_files[0]), str(tmp_path / "nothing"), "--out", str(tmp_path / "x")],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "nothing" in missing.stderr and not (tmp_path / "x").exists()
