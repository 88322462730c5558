"""Our MLIC++ against tensors produced by the official code (../shared/fixtures/official)."""
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mlic.layers.checkerboard import MASK, UNSQUEEZE
from mlic.models import mlicpp
from mlic.models.official import load_official_checkpoint

from ..conftest import FIXTURES, need_shared

TOL = {"y": 5e-5, "z": 5e-5, "hyper_params": 2e-5, "means": 2e-5, "y_hat": 2e-5, "scales": 1e-4,
       "likelihoods": 2e-4, "y_likelihoods": 2e-4, "z_likelihoods": 1e-6, "x_hat": 1e-4}  # fmt: skip


def _weights(variant):
    state = load_file(need_shared(FIXTURES / "weights_current.safetensors"))
    if variant == "old":
        state = {k: v for k, v in state.items() if not k.startswith(("g_s.", "lrp_anchor.", "lrp_nonanchor."))}
        state.update(load_file(FIXTURES / "weights_old_delta.safetensors"))
    return state


@pytest.fixture(scope="module", params=["current", "old"])
def setup(request):
    torch.set_num_threads(1)
    model = load_official_checkpoint(_weights(request.param))
    expected = load_file(FIXTURES / f"expected_{request.param}.safetensors")
    return request.param, model, expected


def _trace(model, x):
    """Eval forward that also records per-slice means/scales/symbols/indexes/ŷ."""
    rec = {}
    with torch.no_grad():
        y = model.g_a(x)
        z = model.h_a(y)
        _, z_lik = model.entropy_bottleneck(z)
        z_sym = model.entropy_bottleneck.symbols(z)
        z_hat = model.entropy_bottleneck.dequantize(z_sym)
        with mlicpp.symbol_path_numerics(x.device):  # exactly what forward/compress/decompress do
            hyper = model.h_s(z_hat)
        ys = y.split(32, 1)
        per = {}

        def step(i, half, scales, means):
            mask = MASK[half]
            scales, means = UNSQUEEZE[half](scales), UNSQUEEZE[half](means)  # squeezed halves
            d = per.setdefault(i, {"scales": 0, "means": 0})
            d["scales"] = d["scales"] + mask(scales)
            d["means"] = d["means"] + mask(means)
            return torch.round(mask(ys[i]) - mask(means)) + mask(means)

        with mlicpp.symbol_path_numerics(x.device):
            y_hat = model._run_slices(hyper, step)
        x_hat = model.g_s(y_hat)
        out = model(x)
    rec.update(y=y, z=z, z_symbols=z_sym, z_hat=z_hat, hyper_params=hyper, y_hat=y_hat, x_hat=x_hat,
               z_likelihoods=z_lik, y_likelihoods=out["likelihoods"]["y"], forward_x_hat=out["x_hat"])  # fmt: skip
    for i, d in per.items():
        rec[f"slice{i}.scales"] = d["scales"]
        rec[f"slice{i}.means"] = d["means"]
        rec[f"slice{i}.symbols"] = torch.round(ys[i] - d["means"]).int()
        rec[f"slice{i}.indexes"] = model.gaussian_conditional.build_indexes(d["scales"])
        rec[f"slice{i}.y_hat"] = y_hat[:, 32 * i : 32 * (i + 1)]
        rec[f"slice{i}.likelihoods"] = out["likelihoods"]["y"][:, 32 * i : 32 * (i + 1)]
    return rec


@pytest.mark.parametrize("name", ["A", "B"])
def test_tensors_match_official(setup, name):
    variant, model, exp = setup
    x = exp[f"{name}.x"]
    rec = _trace(model, x)
    for key in ("y", "z", "hyper_params", "y_hat", "y_likelihoods", "z_likelihoods", "x_hat"):
        diff = (rec[key] - exp[f"{name}.{key}"]).abs().max().item()
        assert diff <= TOL[key], f"{variant}/{name}: {key} differs by {diff}"
    assert torch.equal(rec["z_symbols"], exp[f"{name}.z_symbols"])
    assert torch.equal(rec["z_hat"], exp[f"{name}.z_hat"])
    # The eval forward runs g_a/g_s from a channels-last copy (another summation order): equal to the
    # plain modules up to float32 rounding, and to the official code within the same tolerance.
    assert (rec["forward_x_hat"] - rec["x_hat"]).abs().max().item() <= 1e-5
    assert (rec["forward_x_hat"] - exp[f"{name}.x_hat"]).abs().max().item() <= TOL["x_hat"]
    for i in range(3):
        s = f"slice{i}"
        for key in ("means", "scales", "y_hat", "likelihoods"):
            diff = (rec[f"{s}.{key}"] - exp[f"{name}.{s}.{key}"]).abs().max().item()
            assert diff <= TOL[key], f"{variant}/{name}: {s}.{key} differs by {diff}"
        assert torch.equal(rec[f"{s}.symbols"], exp[f"{name}.{s}.symbols"]), f"{s}.symbols differ"
        near = exp[f"{name}.{s}.index_near_boundary"].bool()
        d_idx = (rec[f"{s}.indexes"] - exp[f"{name}.{s}.indexes"]).abs()
        assert d_idx[~near].max() == 0 and d_idx.max() <= 1
    bpp = sum(-torch.log2(rec[k]).sum() for k in ("y_likelihoods", "z_likelihoods")) / (x.shape[2] * x.shape[3])
    assert abs(bpp.item() - exp[f"{name}.bpp"].item()) <= 1e-5 * exp[f"{name}.bpp"].item()


@pytest.mark.parametrize("name", ["A", "B"])
def test_real_codec_reproduces_official_symbols(setup, name, monkeypatch):
    variant, model, exp = setup
    x = exp[f"{name}.x"]
    recorded = []
    original = mlicpp.StreamEncoder.encode

    def spy(self, symbols, indexes, tables):
        recorded.append(np.asarray(symbols).reshape(-1).copy())
        return original(self, symbols, indexes, tables)

    monkeypatch.setattr(mlicpp.StreamEncoder, "encode", spy)
    enc = model.compress(x)
    # z first, then per slice anchors then non-anchors, in squeezed C order.
    assert np.array_equal(recorded[0], exp[f"{name}.z_symbols"].numpy().reshape(-1))
    from mlic.layers import squeeze_anchor, squeeze_nonanchor

    for i in range(3):
        sym = exp[f"{name}.slice{i}.symbols"].float()
        assert np.array_equal(recorded[1 + 2 * i], squeeze_anchor(sym).int().numpy().reshape(-1))
        assert np.array_equal(recorded[2 + 2 * i], squeeze_nonanchor(sym).int().numpy().reshape(-1))
    dec = model.decompress(enc["strings"], enc["shape"])
    assert (dec["x_hat"] - exp[f"{name}.x_hat_decoded"]).abs().max().item() <= TOL["x_hat"]
    assert torch.equal(dec["x_hat"], model(x)["x_hat"])
    nbytes = len(enc["strings"][0][0]) + len(enc["strings"][1][0])
    official = exp[f"{name}.bitstream_y"].numel() + exp[f"{name}.bitstream_z"].numel()
    assert nbytes <= official * 1.01, (nbytes, official)
