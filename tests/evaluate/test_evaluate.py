"""Evaluation: classical codecs round trip, JSON schema, BD-rate known answers, plots, eval end to end."""
import json

import numpy as np
import pytest
from PIL import Image

from mlic.evaluate.bdrate import bd_metrics
from mlic.evaluate.classical import CODECS
from mlic.evaluate.metrics import ms_ssim, psnr
from mlic.evaluate.plot import plot_rd
from mlic.evaluate.results import load_curve, reference_names
from mlic.evaluate.runner import evaluate
from mlic.models.registry import TINY_CONFIG, save_weights

from ..helpers import tiny_model


def _rgb(h=64, w=80):
    low = np.random.default_rng(0).integers(0, 255, (4, 5, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(low).resize((w, h), Image.BICUBIC))


@pytest.mark.parametrize("name", sorted(CODECS))
def test_classical_codec_round_trip(name):
    codec = CODECS[name]
    rgb = _rgb()
    lo, hi = codec.run(rgb, codec.qualities[0]), codec.run(rgb, codec.qualities[-1])
    for r in (lo, hi):
        assert r["decoded"].shape == rgb.shape and r["bytes"] > 0
    err = [np.mean((r["decoded"].astype(float) - rgb) ** 2) for r in (lo, hi)]
    assert hi["bytes"] > lo["bytes"] and err[1] < err[0]
    assert 10 * np.log10(255**2 / err[1]) > 30


def _curve(bpp, psnr):
    return {"name": "c", "results": {"bpp": list(bpp), "psnr-rgb": list(psnr)}}


def test_bd_rate_known_answers():
    bpp = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    q = np.array([28.0, 31.0, 34.0, 37.0, 40.0])
    assert bd_metrics(_curve(0.9 * bpp, q), _curve(bpp, q))["bd_rate"] == pytest.approx(-10.0, abs=1e-6)
    assert bd_metrics(_curve(bpp, q + 0.5), _curve(bpp, q))["bd_psnr"] == pytest.approx(0.5, abs=1e-6)
    # Published check: MLIC++ against CompressAI's VTM on Kodak ≈ −15.1 %.
    r = bd_metrics(load_curve("kodak_mlicplusplus_mse"), load_curve("kodak_compressai_vtm"))
    assert r["bd_rate"] == pytest.approx(-15.1, abs=0.2)


def test_metrics():
    import torch

    a = torch.rand(1, 3, 64, 64)
    assert psnr(a, a.clamp(0, 1) * 0 + a).item() > 100
    assert ms_ssim(a, a).item() == pytest.approx(1.0, abs=1e-5)
    assert ms_ssim(a, torch.rand_like(a)).item() < 0.5


def test_eval_end_to_end_with_tiny_model(tmp_path):
    data = tmp_path / "images"
    data.mkdir()
    for i in range(2):
        Image.fromarray(_rgb(50 + i, 70)).save(data / f"{i}.png")
    weights = tmp_path / "tiny.safetensors"
    save_weights(tiny_model(TINY_CONFIG, scale_latents=10.0), weights, "tiny-eval")
    out = tmp_path / "out"
    qualities = {"jpeg": [20, 40, 60, 80, 95], "webp": [20, 40, 60, 80, 95], "mlic": [1, 3, 6]}
    res = evaluate(data, out, ("mlic", "jpeg", "webp"), qualities, str(weights), progress=False)
    for codec in ("mlic", "jpeg", "webp"):
        d = json.loads((out / f"{codec}.json").read_text())
        assert {"name", "description", "results"} <= d.keys()
        r = d["results"]
        assert {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"} <= r.keys()
        assert len(r["bpp"]) == len(qualities[codec])
    assert "webp" in res["summary"]["bd"]["jpeg"]
    rows = (out / "per_image.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * (5 + 5 + 3)
    # A second run reads the cache instead of re-encoding (same rows, cache unchanged in size).
    size = (out / "cache.jsonl").stat().st_size
    evaluate(data, out, ("mlic", "jpeg", "webp"), qualities, str(weights), progress=False)
    assert (out / "cache.jsonl").stat().st_size == size
    assert "format 3.0" in json.loads((out / "mlic.json").read_text())["description"]
    # mlic results are cached per file format: files of another format have other sizes.
    from mlic.codec import container

    other = tmp_path / "other-format"
    other.mkdir()
    (other / "cache.jsonl").write_bytes((out / "cache.jsonl").read_bytes())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(container, "VERSION_MINOR", container.VERSION_MINOR + 1)
        evaluate(data, other, ("mlic",), {"mlic": [3]}, str(weights), progress=False)
    assert (other / "cache.jsonl").stat().st_size > size
    png = plot_rd([out / "jpeg.json", out / "webp.json"], tmp_path / "rd.png", references=["kodak_compressai_vtm"])
    assert png.stat().st_size > 10_000
    # Refined encodes are other results: cached under their own keys, named in the description.
    refined = tmp_path / "refined"
    refined.mkdir()
    (refined / "cache.jsonl").write_bytes((out / "cache.jsonl").read_bytes())
    evaluate(data, refined, ("mlic",), {"mlic": [3]}, str(weights), progress=False, refine_steps=2)
    d = json.loads((refined / "mlic.json").read_text())
    assert "refinement 2 steps" in d["description"]
    assert (refined / "cache.jsonl").stat().st_size > size
    plain = json.loads((out / "mlic.json").read_text())["results"]["bpp"][1]
    assert d["results"]["bpp"][0] != plain


def test_bundled_references_have_provenance():
    names = reference_names()
    assert "kodak_mlicplusplus_mse" in names and "kodak_compressai_vtm" in names
    assert len(load_curve("tecnick_mlicplusplus_mse")["results"]["bpp"]) == 6


def test_bench_measures_each_size_in_its_own_process(tmp_path):
    from mlic.evaluate.bench import run_bench

    rows = run_bench("mlicpp-tiny", [64, 128], tmp_path, precision="bf16")
    assert [r["height"] for r in rows] == [64, 128]
    for r in rows:
        assert r["precision"] == "bf16"
        assert r["encode_s"] > 0 and r["decode_s"] > 0 and r["bpp"] > 0
        assert r["peak_mib"] >= 0
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["precision"] == "bf16" and len(saved["rows"]) == 2
    assert (tmp_path / "bench.png").stat().st_size > 0


def test_interrupted_eval_stops_soon_and_keeps_what_it_measured(tmp_path):
    """SIGTERM must not first run every queued classical task; what finished stays in the cache."""
    import signal
    import subprocess
    import sys
    import time

    data = tmp_path / "images"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(60):
        low = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(low).resize((512, 512), Image.BICUBIC).save(data / f"{i:02d}.png")
    out = tmp_path / "eval"
    cmd = [sys.executable, "-m", "mlic", "eval", str(data), "-o", str(out), "--codecs", "jpeg", "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cache = out / "cache.jsonl"
    while proc.poll() is None and not (cache.exists() and cache.read_text().count("\n") >= 9):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode in (130, -signal.SIGTERM), err
    done = [json.loads(line) for line in cache.read_text().splitlines()]
    total = 60 * len(CODECS["jpeg"].qualities)
    assert 9 <= len(done) < total / 2, "the queued tasks ran after the signal"
    assert not (out / "summary.json").exists()
