"""Training: optimiser wiring, learning, bit-exact resume, and two processes under torchrun (gloo)."""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mlic.train.data import CropDataset, StepBatchSampler, count_smaller_than
from mlic.train.loop import Trainer, _config, build_parser, draw_qualities
from mlic.train.loss import RateDistortionLoss


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    (root / "sub").mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        low = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        im = Image.fromarray(low).resize((96 + 8 * i, 80), Image.BICUBIC)
        im.save(root / ("sub" if i % 2 else ".") / f"im{i}.png")
    Image.fromarray(rng.integers(0, 255, (70, 90), dtype=np.uint8), "L").save(root / "gray.jpg")
    return root


def _args(folder, out, *extra):
    return build_parser().parse_args(["--data", str(folder), "--out", str(out), "--model", "mlicpp-tiny", "--batch-size", "2",
                                      "--patch-size", "64", "--workers", "0", "--warmup-steps", "0", "--device", "cpu", *extra])  # fmt: skip


def test_dataset_is_recursive_and_deterministic_per_seed(image_folder):
    ds = CropDataset([image_folder], patch=64)
    assert len(ds) == 7
    assert torch.equal(ds[(3, 42)], ds[(3, 42)])
    assert ds[(3, 42)].shape == (3, 64, 64)
    a = list(next(iter(StepBatchSampler(7, 3, seed=1, start_step=5))))
    it = iter(StepBatchSampler(7, 3, seed=1))
    assert [next(it) for _ in range(6)][5] == a


def test_count_smaller_than_reads_short_sides(image_folder):
    files = CropDataset([image_folder], patch=64).files  # six photos 80 pixels high, one 70×90
    assert count_smaller_than(files, 64) == (0, 7)
    assert count_smaller_than(files, 80) == (1, 7)
    assert count_smaller_than(files, 81) == (7, 7)
    assert count_smaller_than(files, 81, sample=3) == (3, 3)  # a large set: only an evenly spaced sample is read
    assert count_smaller_than(files, 81, sample=5) == (5, 5)  # exactly that many (a stride of 2 would read 4)
    assert count_smaller_than(files, 81, sample=1) == (1, 1)


def test_a_patch_larger_than_most_photos_is_warned_about(image_folder, tmp_path, capsys):
    Trainer(_args(image_folder, tmp_path / "a"))
    assert "warning" not in capsys.readouterr().err
    Trainer(_args(image_folder, tmp_path / "b", "--patch-size", "128"))
    err = capsys.readouterr().err
    assert "warning: 7 of 7 training images have a short side under the 128-pixel patch" in err


@pytest.mark.parametrize("extra, message", [(["--patch-size", "100"], "--patch-size must be a positive multiple of 64 (got 100)"),
                                            (["--patch-size", "128", "--max-short-side", "96"], "--max-short-side 96 is smaller than --patch-size 128")])
def test_impossible_crop_settings_are_refused_before_loading(image_folder, tmp_path, extra, message):
    with pytest.raises(SystemExit, match=re.escape(message)):
        Trainer(_args(image_folder, tmp_path / "out", *extra))
    assert not (tmp_path / "out").exists()  # refused before anything was made: no output folder, so no checkpoint


def test_optimisers_split_main_and_aux_parameters(image_folder, tmp_path):
    t = Trainer(_args(image_folder, tmp_path))
    main_ids = {id(p) for g in t.optimizer.param_groups for p in g["params"]}
    aux = [p for g in t.aux_optimizer.param_groups for p in g["params"]]
    assert len(aux) == 1 and aux[0] is t.model.entropy_bottleneck.quantiles
    assert id(aux[0]) not in main_ids
    assert len(main_ids) == sum(1 for _ in t.model.parameters()) - 1


def test_a_few_steps_reduce_the_loss(image_folder, tmp_path):
    t = Trainer(_args(image_folder, tmp_path, "--lr", "1e-3"))
    x = torch.stack([t.dataset[(i, i)] for i in range(4)])
    torch.manual_seed(0)
    first = t.train_step(x)["loss"]
    for _ in range(25):
        last = t.train_step(x)["loss"]
    assert last < 0.7 * first, (first, last)


def test_quality_weights_steer_which_levels_train(image_folder, tmp_path):
    torch.manual_seed(0)
    uniform = draw_qualities(4, 4000)
    assert sorted(uniform.unique().tolist()) == [0, 1, 2, 3]
    torch.manual_seed(0)
    assert torch.equal(draw_qualities(4, 4000, None), uniform)  # the default draw is unchanged
    top_only = draw_qualities(4, 500, [0, 0, 0, 2.5])
    assert bool((top_only == 3).all())
    counts = torch.bincount(draw_qualities(4, 8000, [1, 1, 1, 5]), minlength=4).double() / 8000
    assert counts[3].item() == pytest.approx(5 / 8, abs=0.03) and counts[0].item() == pytest.approx(1 / 8, abs=0.03)
    for bad in ([1, 1, 1], [1, -1, 1, 1], [0, 0, 0, 0], [1, float("nan"), 1, 1]):
        with pytest.raises(ValueError, match="quality weights"):
            draw_qualities(4, 2, bad)
    # wired through the trainer: every sample of a batch at the only level with weight
    n = _config("mlicpp-tiny").num_rates
    t = Trainer(_args(image_folder, tmp_path / "w", "--steps", "1", "--quality-weights", *["0"] * (n - 1), "1"))
    quality, lmbda = t._qualities(6)
    assert quality.tolist() == [float(n)] * 6 and torch.equal(lmbda, t.lambdas[[n - 1] * 6])
    with pytest.raises(SystemExit, match="quality weights"):
        Trainer(_args(image_folder, tmp_path / "w", "--steps", "1", "--quality-weights", "1"))


def test_rd_loss_per_sample_lambda():
    crit = RateDistortionLoss("mse")
    x = torch.rand(2, 3, 16, 16)
    out = {"x_hat": x + 0.1, "likelihoods": {"y": torch.full((2, 4, 2, 2), 0.5)}}
    r = crit(out, x, torch.tensor([0.001, 0.01]))
    bpp = 16 / 256
    assert r["bpp"].item() == pytest.approx(bpp)
    assert r["loss"].item() == pytest.approx(((0.001 + 0.01) / 2) * 255**2 * 0.01 + bpp, rel=1e-4)
    assert RateDistortionLoss("ms-ssim")(out, x, 1.0)["loss"].item() > 0


def test_resume_continues_bit_exactly(image_folder, tmp_path):
    straight = Trainer(_args(image_folder, tmp_path / "a", "--steps", "4", "--save-every", "100"))
    straight.run()
    first = Trainer(_args(image_folder, tmp_path / "b", "--steps", "2", "--save-every", "100"))
    first.run()
    log = tmp_path / "b" / "log.csv"
    header, row1 = log.read_text().splitlines()
    # As if the first process had logged step 3 and been killed before checkpointing it.
    log.write_text(f"{header}\n{row1}\n3{row1[row1.index(','):]}\n")
    resumed = Trainer(_args(image_folder, tmp_path / "b", "--steps", "4", "--save-every", "100", "--resume"))
    assert resumed.step == 2
    resumed.run()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from an uninterrupted run"
    assert (tmp_path / "b" / "model.safetensors").exists()
    assert log.read_text().splitlines() == [header, row1], "the stale step-3 row must be gone, the rest kept"


def test_progress_in_a_log_file_is_a_few_lines_not_one_per_step(image_folder, tmp_path, capsys):
    # stderr is not a terminal here, as in `nohup mlic train … 2> train.log`
    Trainer(_args(image_folder, tmp_path, "--steps", "6", "--save-every", "100")).run()
    err = capsys.readouterr().err
    assert "\r" not in err  # checked on the raw text: splitlines() would split at carriage returns too
    lines = [line for line in err.splitlines() if line.startswith("train:")]
    assert 1 <= len(lines) <= 3, lines
    assert "6/6" in lines[-1]


def test_two_processes_with_gloo_agree(image_folder, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", "-m", "mlic.train",
           "--data", str(image_folder), "--out", str(tmp_path), "--model", "mlicpp-tiny", "--batch-size", "1", "--patch-size", "64",
           "--workers", "0", "--steps", "3", "--device", "cpu", "--threads", "1", "--check-replicas"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    replicas = json.loads(Path(tmp_path / "replicas.json").read_text())
    assert replicas["world_size"] == 2 and len(set(replicas["weights_sha256"])) == 1
    assert json.loads((tmp_path / "final.json").read_text())["step"] == 3


def test_init_takes_a_registered_name_or_a_weight_file(image_folder, tmp_path):
    from mlic.errors import ModelNotFoundError
    from mlic.models.registry import load_model

    by_name = Trainer(_args(image_folder, tmp_path / "a", "--init", "mlicpp-tiny"))
    reference = load_model("mlicpp-tiny").state_dict()
    assert by_name.model.training
    assert all(torch.equal(v, reference[k]) for k, v in by_name.model.state_dict().items())
    by_name.train_step(torch.stack([by_name.dataset[(i, i)] for i in range(2)]))
    by_name.export()
    by_file = Trainer(_args(image_folder, tmp_path / "b", "--init", str(tmp_path / "a" / "model.safetensors")))
    trained = by_name.model.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in by_file.model.state_dict().items())
    with pytest.raises(ModelNotFoundError, match="unknown model"):
        Trainer(_args(image_folder, tmp_path / "c", "--init", "no-such-model"))


def test_init_from_a_checkpoint_brings_its_adam_moments_but_starts_a_new_run(image_folder, tmp_path):
    first = Trainer(_args(image_folder, tmp_path / "a", "--steps", "3", "--save-every", "100", "--lr", "1e-4", "--aux-lr", "1e-3",
                          "--milestones", "0.5"))  # fmt: skip
    first.run()  # ends decayed: its saved param groups hold lr ×0.1
    ckpt = tmp_path / "a" / "checkpoint.pt"
    second = Trainer(_args(image_folder, tmp_path / "b", "--init", str(ckpt), "--lr", "3e-5", "--aux-lr", "2e-3"))
    assert second.step == 0 and second.elapsed == 0.0
    # Parameters, not the state dict: exporting at the end of the first run built its coding tables after the checkpoint.
    a, b = dict(first.model.named_parameters()), dict(second.model.named_parameters())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for old, new in ((first.optimizer, second.optimizer), (first.aux_optimizer, second.aux_optimizer)):
        old_state, new_state = old.state_dict()["state"], new.state_dict()["state"]
        assert old_state and old_state.keys() == new_state.keys()
        for i in old_state:
            assert torch.equal(old_state[i]["exp_avg"], new_state[i]["exp_avg"])
            assert torch.equal(old_state[i]["exp_avg_sq"], new_state[i]["exp_avg_sq"])
    assert {g["lr"] for g in second.optimizer.param_groups} == {3e-5}
    assert {g["lr"] for g in second.aux_optimizer.param_groups} == {2e-3}
    second.train_step(torch.stack([second.dataset[(i, i)] for i in range(2)]))
    assert all(torch.isfinite(p).all() for p in second.model.parameters())


def test_init_from_a_broken_checkpoint_says_so(image_folder, tmp_path):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="not a readable mlic training checkpoint"):
        Trainer(_args(image_folder, tmp_path / "o", "--init", str(bad)))
    torch.save({"model": {}}, bad)
    with pytest.raises(SystemExit, match="missing optimizer, aux_optimizer, config"):
        Trainer(_args(image_folder, tmp_path / "o", "--init", str(bad)))
    with pytest.raises(SystemExit, match="no checkpoint at"):
        Trainer(_args(image_folder, tmp_path / "o", "--init", str(tmp_path / "none.pt")))


def test_a_signal_stops_after_the_step_and_saves(image_folder, tmp_path):
    import signal
    import time

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, "-m", "mlic", "train", "--data", str(image_folder), "--out", str(tmp_path), "--model", "mlicpp-tiny",
           "--batch-size", "1", "--patch-size", "64", "--workers", "0", "--steps", "100000", "--save-every", "100000",
           "--device", "cpu", "--threads", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (tmp_path / "log.csv").exists():  # written after step 1
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "saving after this step" in err
    final = json.loads((tmp_path / "final.json").read_text())
    assert final["interrupted"] and 1 <= final["step"] < 100000
    assert (tmp_path / "model.safetensors").exists()
    resumed = Trainer(_args(image_folder, tmp_path, "--steps", "100000", "--resume"))
    assert resumed.step == final["step"]


def test_ema_averages_the_weights_after_every_step_with_its_decay(image_folder, tmp_path):
    t = Trainer(_args(image_folder, tmp_path, "--ema", "0.75", "--lr", "1e-3"))
    x = torch.stack([t.dataset[(i, i)] for i in range(2)])
    weights = []
    for _ in range(3):
        t.train_step(x)
        weights.append({n: p.detach().clone() for n, p in t.model.named_parameters()})
    ema = dict(t.ema.module.named_parameters())
    expected = {n: weights[0][n] for n in ema}  # the first step's weights start the average
    for w in weights[1:]:
        expected = {n: 0.75 * expected[n] + 0.25 * w[n] for n in ema}
    moved = [n for n in ema if not torch.equal(weights[0][n], weights[2][n])]
    assert len(moved) > 50
    for n in ema:
        torch.testing.assert_close(ema[n], expected[n], rtol=1e-5, atol=1e-7)


def test_ema_is_checkpointed_resumed_validated_and_exported(image_folder, tmp_path):
    import hashlib

    from mlic.models.registry import load_weights

    common = ["--ema", "0.9", "--save-every", "100", "--val", str(image_folder), "--val-limit", "1", "--val-every", "2"]
    straight = Trainer(_args(image_folder, tmp_path / "a", "--steps", "4", *common))
    straight.run()
    Trainer(_args(image_folder, tmp_path / "b", "--steps", "2", *common)).run()
    resumed = Trainer(_args(image_folder, tmp_path / "b", "--steps", "4", "--resume", *common))
    resumed.run()
    a, b = straight.ema.state_dict(), resumed.ema.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "the resumed average differs from an uninterrupted run's"
    out = tmp_path / "b"
    final = json.loads((out / "final.json").read_text())
    ema_file = out / "model-ema.safetensors"
    assert final["ema_weights_sha256"] == hashlib.sha256(ema_file.read_bytes()).hexdigest()
    assert final["ema_weights_sha256"] != final["weights_sha256"]  # an average, not a copy of the last weights
    exported = load_weights(ema_file).state_dict()
    trained = dict(resumed.ema.module.named_parameters())
    assert all(torch.equal(exported[n], p) for n, p in trained.items())
    assert set(final["ema"]) == {k for k in final if k.startswith("q")} and all(math.isfinite(v) for v in final["ema"].values())
    rows = (out / "val-ema.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and [r.split(",")[0] for r in rows[1:]] == ["2", "4"]


@pytest.mark.parametrize("decay", ["1", "0", "-0.5"])
def test_an_ema_decay_outside_0_1_is_refused_before_anything_is_made(image_folder, tmp_path, decay):
    with pytest.raises(SystemExit, match=re.escape(f"--ema is a decay between 0 and 1, e.g. 0.999 (got {float(decay)})")):
        Trainer(_args(image_folder, tmp_path / "out", "--ema", decay))
    assert not (tmp_path / "out").exists()


def test_a_run_without_an_average_resumes_with_one_from_its_weights(image_folder, tmp_path, capsys):
    Trainer(_args(image_folder, tmp_path, "--steps", "2", "--save-every", "100")).run()
    resumed = Trainer(_args(image_folder, tmp_path, "--steps", "3", "--resume", "--ema", "0.9"))
    assert "holds no moving average; --ema starts from its weights at step 2" in capsys.readouterr().err
    own = resumed.model.state_dict()
    assert all(torch.equal(v, own[k]) for k, v in resumed.ema.module.state_dict().items())


def test_the_shared_training_photos_warn_at_384_but_not_at_256(capsys):
    # 9.0 % of them are under 256 pixels, 74 % under 384: every header is read, not a sample that could
    # tip 9 % over the 10 % line (a stride sample of 360 of them had found 11.4 %)
    from mlic.train.loop import _warn_about_small_images
    from tests.conftest import SHARED, need_shared

    files = CropDataset([need_shared(SHARED / "data" / "train")], patch=256).files
    assert count_smaller_than(files, 256) == (97, 1080)
    _warn_about_small_images(files, 256)
    assert "warning" not in capsys.readouterr().err
    _warn_about_small_images(files, 384)
    assert "warning: 799 of 1080 training images have a short side under the 384-pixel patch" in capsys.readouterr().err
