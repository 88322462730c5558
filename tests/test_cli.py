"""The command line: outputs, refusals, exit codes, stdin/stdout."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mlic.cli import main
from mlic.models.registry import TINY_CONFIG, save_weights

from .helpers import tiny_model


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    save_weights(tiny_model(TINY_CONFIG, scale_latents=10.0), path, "tiny-cli")
    return str(path)


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40 + i, 50, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def test_encode_decode_info(tmp_path, images, weights, capsys):
    src = images[0]
    assert main(["encode", str(src), "--model", weights, "-q", "2.5"]) == 0
    mlic_file = src.with_suffix(".mlic")
    assert mlic_file.exists()
    out = tmp_path / "out.png"
    assert main(["decode", str(mlic_file), "--model", weights, "-o", str(out)]) == 0
    assert Image.open(out).size == (50, 40)
    assert main(["info", str(mlic_file)]) == 0
    text = capsys.readouterr().out
    assert "50×40" in text and "TILE" in text and "bpp" in text
    assert "records:" in text and "chunks:" not in text  # format 3.0 has no chunks
    # never overwrite without --force, and the existing file stays as it was
    before = out.read_bytes()
    assert main(["decode", str(mlic_file), "--model", weights, "-o", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["decode", str(mlic_file), "--model", weights, "-o", str(out), "--force"]) == 0


def test_tile_limit_on_the_command_line(tmp_path, images, weights, capsys):
    src = images[0]
    assert main(["encode", str(src), "--model", weights, "-q", "2", "-o", str(tmp_path / "a.mlic")]) == 0
    out = tmp_path / "a.png"
    assert main(["decode", str(tmp_path / "a.mlic"), "--model", weights, "-o", str(out), "--max-tile-pixels", "100"]) == 1
    assert "per tile" in capsys.readouterr().err
    assert not out.exists()


def test_batch_continues_after_failures(tmp_path, images, weights, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    outdir = tmp_path / "out"
    code = main(["encode", str(images[0]), str(bad), str(images[1]), "--model", weights, "-o", str(outdir)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("mlic: error:") == 1 and "broken.png" in err
    assert sorted(p.name for p in outdir.iterdir()) == ["img0.mlic", "img1.mlic"]  # no partial file for the failure


def test_failure_leaves_no_partial_output(tmp_path, weights):
    bad = tmp_path / "bad.mlic"
    bad.write_bytes(b"\x89MLIC\r\n\x1a" + b"\x01\x00" + b"\xff" * 40)
    assert main(["decode", str(bad), "--model", weights]) == 1
    assert list(tmp_path.iterdir()) == [bad]


def test_stdin_stdout_and_exit_codes(images, weights):
    raw = images[0].read_bytes()
    enc = subprocess.run([sys.executable, "-m", "mlic", "encode", "-", "--model", weights], input=raw, capture_output=True, check=True)
    assert enc.stdout[:5] == b"\x89MLIC"
    dec = subprocess.run([sys.executable, "-m", "mlic", "decode", "-", "-o", "-", "--model", weights], input=enc.stdout, capture_output=True, check=True)
    assert dec.stdout[:4] == b"\x89PNG"
    bad = subprocess.run([sys.executable, "-m", "mlic", "decode", "-", "-o", "-"], input=b"junk", capture_output=True)
    assert bad.returncode == 1 and bad.stderr.decode().startswith("mlic: error:") and "Traceback" not in bad.stderr.decode()
    assert len(bad.stderr.decode().strip().splitlines()) == 1


def test_readme_main_command_demo(capsys):
    """The README's first command: encode and decode the bundled sample with the shipped model."""
    assert main(["demo", "-q", "2"]) == 0
    out = capsys.readouterr().out
    assert "bpp" in out and "PSNR" in out and "mlicpp-small" in out


def test_only_the_console_script_freezes_the_collector(monkeypatch):
    # The `mlic` process freezes the objects of its imports (a full collection of them costs ~0.1 s
    # on the first image); a program that calls main() keeps its collector as it was.
    import gc

    from mlic import cli

    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setitem(cli.COMMANDS, "demo", lambda args: 0)
    monkeypatch.setitem(cli.COMMANDS, "models", lambda args: 0)
    assert cli.main(["demo"]) == 0 and frozen == []
    assert cli.main(["models"], short_lived=True) == 0 and frozen == []  # loads no model
    assert cli.main(["demo"], short_lived=True) == 0 and frozen == [True]


def test_refine(tmp_path, images, weights, capsys):
    src = images[0]
    plain, refined = tmp_path / "plain.mlic", tmp_path / "refined.mlic"
    assert main(["encode", str(src), "--model", weights, "-q", "3", "-o", str(plain)]) == 0
    assert main(["encode", str(src), "--model", weights, "-q", "3", "--refine", "3", "-o", str(refined)]) == 0
    assert refined.read_bytes() != plain.read_bytes()
    out = tmp_path / "refined.png"
    assert main(["decode", str(refined), "--model", weights, "-o", str(out)]) == 0
    assert Image.open(out).size == (50, 40)
    capsys.readouterr()
    bad = tmp_path / "bad.mlic"
    assert main(["encode", str(src), "--model", weights, "--refine", "-2", "-o", str(bad)]) != 0
    assert "--refine" in capsys.readouterr().err
    assert not bad.exists()


def test_eval_prints_a_bd_table_only_when_there_is_something_to_compare(tmp_path, images, capsys):
    data = tmp_path / "data"
    data.mkdir()
    images[0].rename(data / images[0].name)
    assert main(["eval", str(data), "-o", str(tmp_path / "one"), "--codecs", "jpeg", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "BD-rate" not in out and "results in" in out  # one codec: no empty table header
    assert main(["eval", str(data), "-o", str(tmp_path / "two"), "--codecs", "jpeg,webp", "--workers", "1"]) == 0
    assert "BD-rate" in capsys.readouterr().out
