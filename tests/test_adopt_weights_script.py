"""scripts/adopt_weights.py --anchor-curves: on a new checkout no evaluation cache survives, so the
classical codecs' stored curves of the model-card run stand in for coding them again."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "adopt_weights.py"


def _script():
    spec = importlib.util.spec_from_file_location("adopt_weights", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _curve(path, name, bpp, psnr):
    path.write_text(json.dumps({"name": name, "description": "", "results": {"bpp": bpp, "psnr-rgb": psnr, "quality": [1, 2, 3, 4]}}))


def test_stored_curves_are_copied_under_the_names_eval_writes_and_plotted(tmp_path):
    adopt = _script()
    stored, out = tmp_path / "logs", tmp_path / "out"
    stored.mkdir(), out.mkdir()
    for i, name in enumerate(adopt.CLASSICAL):
        _curve(stored / f"eval-val-{name}.json", name, [0.1, 0.2, 0.4, 0.8], [25.0 + i, 27.0 + i, 29.0 + i, 31.0 + i])
    _curve(out / "mlic.json", "mlic", [0.1, 0.2, 0.4, 0.8], [26.0, 28.0, 30.0, 31.5])
    (out / "summary.json").write_text(json.dumps({"images": 82, "codecs": {"mlic": "m"}, "bd": {}}))

    adopt.copy_anchor_curves(adopt.stored_anchor_curves(stored), out)
    for name in adopt.CLASSICAL:
        assert (out / f"{name}.json").read_bytes() == (stored / f"eval-val-{name}.json").read_bytes()
    assert (out / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())  # as if one run had coded every codec
    assert summary["images"] == 82 and set(summary["codecs"]) == {"mlic", *adopt.CLASSICAL}
    # mlic lies above jpeg's curve everywhere (fewer bits at equal PSNR), jpeg 1 dB below webp's
    assert summary["bd"]["mlic"]["jpeg"]["bd_rate"] < 0 < summary["bd"]["jpeg"]["webp"]["bd_rate"]
    assert set(summary["anchor_curves"]) == set(adopt.CLASSICAL)


def test_a_missing_curve_stops_before_the_evaluation_and_names_the_file(tmp_path):
    adopt = _script()
    for name in ("jpeg", "webp", "heic"):
        _curve(tmp_path / f"eval-val-{name}.json", name, [0.1, 0.2, 0.4, 0.8], [25.0, 27.0, 29.0, 31.0])
    with pytest.raises(SystemExit, match="eval-val-avif.json"):
        adopt.stored_anchor_curves(tmp_path)


def test_stored_curves_of_all_images_are_refused_for_a_subset(tmp_path):
    # a BD-rate between curves of different image sets would mean nothing: refused at once, nothing written
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "run"), "--out", str(tmp_path / "out"),
                          "--anchor-curves", "docs/training-logs", "--limit", "2"], capture_output=True, text=True)
    assert run.returncode == 2 and "--anchor-curves" in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_weight_file_is_taken_as_the_run_itself(tmp_path):
    # `mlic train --ema` writes model-ema.safetensors beside model.safetensors: evaluated by naming the file
    from mlic.models.registry import save_weights
    from tests.helpers import tiny_model

    adopt = _script()
    run = tmp_path / "run"
    run.mkdir()
    save_weights(tiny_model(seed=0), run / "model.safetensors", "tiny")
    save_weights(tiny_model(seed=1), run / "model-ema.safetensors", "tiny-ema")
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    _, from_folder = adopt.export_half(run, tmp_path / "a")
    _, from_file = adopt.export_half(run / "model.safetensors", tmp_path / "b")
    _, from_ema = adopt.export_half(run / "model-ema.safetensors", tmp_path / "c")
    assert from_file == from_folder and from_ema != from_folder
