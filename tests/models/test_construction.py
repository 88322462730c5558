import threading

import pytest
import torch
from torch import nn
from torch.nn import init

from mlic.errors import CheckpointError
from mlic.models import MLICPlusPlus
from mlic.models.registry import TINY_CONFIG, load_weights, save_weights
from mlic.models.construction import skip_parameter_init


def test_skips_init_in_this_thread_and_restores_the_real_functions():
    real = init.kaiming_uniform_
    t = torch.full((4, 4), 7.0)
    with skip_parameter_init():
        assert init.kaiming_uniform_(t, a=5 ** 0.5) is t
        assert torch.equal(t, torch.full((4, 4), 7.0))
        with skip_parameter_init():  # nesting neither deadlocks nor ends the outer block
            pass
        init.zeros_(t)
        assert torch.equal(t, torch.full((4, 4), 7.0))
    assert init.kaiming_uniform_ is real
    init.zeros_(t)
    assert not t.any()


def test_other_threads_still_initialise():
    torch.manual_seed(0)
    expected = nn.Conv2d(3, 8, 3).weight.detach().clone()
    got = {}

    def build():
        torch.manual_seed(0)
        got["weight"] = nn.Conv2d(3, 8, 3).weight.detach().clone()

    with skip_parameter_init():
        worker = threading.Thread(target=build)
        worker.start()
        worker.join()
    assert torch.equal(got["weight"], expected)


def test_functions_restored_after_an_error():
    real = init.normal_
    with pytest.raises(RuntimeError):
        with skip_parameter_init():
            raise RuntimeError("boom")
    assert init.normal_ is real


def test_loaded_model_is_exactly_the_saved_one(tmp_path):
    torch.manual_seed(3)
    model = MLICPlusPlus(TINY_CONFIG).eval()
    path = tmp_path / "tiny.safetensors"
    save_weights(model, path, "tiny")
    loaded = load_weights(path)
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x, quality=3)["x_hat"], loaded(x, quality=3)["x_hat"])


def test_saving_the_same_weights_gives_the_same_bytes(tmp_path):
    # safetensors orders the metadata by a randomly seeded hash map; save_weights must not inherit that,
    # or an exported file's SHA-256 could never be checked against the model card.
    import json

    torch.manual_seed(3)
    model = MLICPlusPlus(TINY_CONFIG).eval()
    hashes = {save_weights(model, tmp_path / f"{i}.safetensors", "tiny", half=True) for i in range(6)}
    assert len(hashes) == 1
    data = (tmp_path / "0.safetensors").read_bytes()
    size = int.from_bytes(data[:8], "little")
    assert size % 8 == 0
    meta = json.loads(data[8 : 8 + size])["__metadata__"]
    assert list(meta) == sorted(meta) and meta["name"] == "tiny"
    loaded = load_weights(tmp_path / "0.safetensors")  # the rewritten header still reads
    assert loaded.state_dict().keys() == model.state_dict().keys()


def test_a_file_missing_a_parameter_is_refused(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    torch.manual_seed(3)
    path = tmp_path / "tiny.safetensors"
    save_weights(MLICPlusPlus(TINY_CONFIG), path, "tiny")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    state = load_file(path)
    dropped = next(k for k in state if k.startswith("g_s."))
    del state[dropped]
    save_file(state, tmp_path / "broken.safetensors", metadata=meta)
    with pytest.raises(CheckpointError, match="Missing key.*" + dropped.replace(".", r"\.")):
        load_weights(tmp_path / "broken.safetensors")
