"""Killing mlic encode/decode leaves no output, the previous output untouched or the complete new one, and no temp files."""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    low = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(low).resize((1536, 1536), Image.BICUBIC).save(d / "big.png")
    return d / "big.png"


@pytest.fixture(scope="module")
def complete(big):
    """The bytes an uninterrupted `mlic encode` writes (encoding is deterministic on one machine)."""
    out = big.with_suffix(".mlic")
    subprocess.run([sys.executable, "-m", "mlic", "encode", str(big), "-o", str(out)], check=True, capture_output=True)
    return out.read_bytes()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("delay", [0.2, 1.5, 3.0])
def test_interrupted_encode_leaves_previous_output(tmp_path, big, complete, sig, delay):
    out = tmp_path / "out.mlic"
    out.write_bytes(b"previous output")
    proc = subprocess.Popen([sys.executable, "-m", "mlic", "encode", str(big), "-o", str(out), "--force"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # finished before the signal: then the output is complete
        assert out.read_bytes() == complete
    else:
        assert proc.returncode in (130, -sig), err
        # The signal may also land after the atomic rename, the output then being complete: never partial.
        assert out.read_bytes() in (b"previous output", complete)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mlic"], "temporary files left behind"


def test_interrupt_disguised_as_an_error_stops_the_batch(tmp_path, monkeypatch, capsys):
    """A signal that lands in torch's C++ code can surface as an unrelated ValueError (seen while a model
    loaded); it must still end the command as an interrupt (130), not count as one bad input and go on."""
    import os

    from mlic import cli, codec

    calls = []

    def encode_image(*args, **kwargs):
        calls.append(args)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(10)
        except KeyboardInterrupt:  # what torch turned it into
            raise ValueError("could not determine the shape of object type 'torch.storage.UntypedStorage'") from None
        raise AssertionError("SIGINT was not delivered")

    monkeypatch.setattr(codec, "encode_image", encode_image)
    inputs = []
    for name in ("a", "b"):
        Image.new("RGB", (16, 16)).save(tmp_path / f"{name}.png")
        inputs.append(str(tmp_path / f"{name}.png"))
    assert cli.main(["encode", *inputs]) == 130
    assert "mlic: interrupted" in capsys.readouterr().err
    assert len(calls) == 1, "the batch went on after the interrupt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]
