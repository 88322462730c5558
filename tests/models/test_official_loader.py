"""Official checkpoint loading: layouts, configuration inference and clear refusals."""
import pytest
import torch

from mlic.models import CheckpointError, MLICConfig, MLICPlusPlus, load_official_checkpoint
from mlic.models.official import convert_state_dict, infer_config, official_to_ours

from ..conftest import SHARED, need_shared


def _official_keys(variant):
    rows = []
    for line in need_shared(SHARED / "design" / f"official-keys-{variant}.txt").read_text().splitlines():
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) >= 2 and "." in parts[0] and parts[1].startswith("["):
            rows.append((parts[0], tuple(int(v) for v in parts[1].strip("[]").split(",") if v)))
    assert len(rows) > 900
    return rows


@pytest.mark.parametrize("variant", ["current", "old"])
def test_full_default_configuration_covers_every_official_key(variant):
    """Every official key of the full model maps to one of ours with the same shape, and vice versa."""
    rows = _official_keys(variant)
    fake = {k: torch.zeros(shape) for k, shape in rows}
    config = infer_config(fake)
    assert config == MLICConfig(variant=variant)
    ours = MLICPlusPlus(config).state_dict()
    mapped = {}
    for key, shape in rows:
        name = official_to_ours(key)
        if name is None:
            continue
        assert name in ours, f"{key} -> {name} has no counterpart"
        assert tuple(ours[name].shape) == shape, f"{key}: {shape} vs {tuple(ours[name].shape)}"
        mapped[name] = key
    unmapped = [k for k in ours if k not in mapped and "._table_" not in k]
    assert unmapped == [], unmapped


def test_parameter_counts_match_the_official_model():
    assert sum(p.numel() for p in MLICPlusPlus().parameters()) == 83_501_408
    assert sum(p.numel() for p in MLICPlusPlus(MLICConfig(variant="old")).parameters()) == 116_716_928


def _small_official_state():
    from safetensors.torch import load_file

    from ..conftest import FIXTURES

    return load_file(need_shared(FIXTURES / "weights_current.safetensors"))


def test_accepts_checkpoint_dict_with_ddp_prefix_and_paths(tmp_path):
    state = _small_official_state()
    wrapped = {"epoch": 3, "state_dict": {"module." + k: v for k, v in state.items()}}
    path = tmp_path / "ckpt.pth.tar"
    torch.save(wrapped, path)
    a = load_official_checkpoint(path)
    b = load_official_checkpoint(state)
    assert not a.training
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(a(x)["x_hat"], b(x)["x_hat"])


def test_refuses_mismatched_files_naming_the_keys():
    state = _small_official_state()
    broken = dict(state)
    del broken["h_s.increase.4.weight"]
    broken["something.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"missing key.*h_s\.4\.weight.*unexpected key.*something\.extra"):
        load_official_checkpoint(broken)
    reshaped = dict(state)
    reshaped["h_a.reduction.2.weight"] = torch.zeros(3, 3, 3, 3)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_official_checkpoint(reshaped)
    with pytest.raises(CheckpointError, match="not an MLIC"):
        load_official_checkpoint({"foo": torch.zeros(1)})


def test_conversion_drops_only_derived_buffers():
    state = _small_official_state()
    converted = convert_state_dict(state)
    dropped = sorted(k for k in state if official_to_ours(k) is None)
    assert all(any(s in k for s in ("pedestal", "bound", "relative_position_index", "_cdf", "_offset", "target", "gaussian_conditional")) for k in dropped)
    assert "gaussian_conditional.scale_table" in converted
