"""Files decode whatever the thread count and in another process (the symbol path is thread-independent)."""
import subprocess
import sys

import numpy as np
import pytest

# The shipped model on the bundled sample: before the symbol path was pinned to one thread, this very
# file, encoded with 1 thread, failed its slice checksum when decoded with 2.
SCRIPT = r"""
import sys, torch, numpy as np, mlic
from importlib import resources
mode, threads, weights, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
torch.set_num_threads(threads)
sample = str(resources.files("mlic") / "samples" / "flower.png")
if mode == "enc":
    open(path, "wb").write(mlic.encode_image(sample, 3.3))
else:
    np.save(path + f".{threads}.npy", np.asarray(mlic.decode_image(path)))
"""


@pytest.fixture(scope="module")
def weights():
    return "default"


def _run(*args):
    subprocess.run([sys.executable, "-c", SCRIPT, *map(str, args)], check=True, capture_output=True, timeout=600)


def test_thread_count_and_process_do_not_change_the_bitstream_or_decoding(tmp_path, weights):
    a, b = tmp_path / "a.mlic", tmp_path / "b.mlic"
    _run("enc", 1, weights, a)
    _run("enc", 2, weights, b)
    assert a.read_bytes() == b.read_bytes(), "the bitstream depends on the encoder's thread count"
    _run("dec", 1, weights, a)
    _run("dec", 2, weights, a)  # would raise DesyncError if the symbol path depended on threads
    one, two = np.load(f"{a}.1.npy").astype(int), np.load(f"{a}.2.npy").astype(int)
    # Latents are identical; g_s runs multi-threaded, so a rare pixel may differ by one level.
    assert np.abs(one - two).max() <= 1
    assert (one != two).mean() < 1e-3


def test_symbol_path_on_cuda_runs_without_tf32():
    """TF32 would move σ far beyond what index reconciliation tolerates; the flags are restored after.
    (Only sets backend flags, so it runs without a GPU.)"""
    import torch

    from mlic.models.mlicpp import symbol_path_numerics

    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    with symbol_path_numerics(torch.device("cuda")):
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before
