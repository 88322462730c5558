"""Build a model without drawing initial weights that a weight file is about to overwrite.

Loading `mlicpp-small` took 0.40–0.49 s of a fresh `mlic` command on a 2-core CPU; about half of that
was work thrown away or due elsewhere (`benchmarks/model_load.py` measures it):

* Drawing the random initial weights of 215 convolutions (about 0.1–0.15 s), all replaced by
  ``load_state_dict``. PyTorch's ``torch.nn.utils.skip_init`` goes through the meta device, whose first
  use in a process costs seconds here, so :func:`skip_parameter_init` instead swaps the
  ``torch.nn.init`` functions, for the duration of the construction, for wrappers that do nothing in
  the constructing thread and call the real function in every other thread: a model built
  concurrently elsewhere in the process is initialised as usual. Only ``torch.nn.init`` calls are
  skipped, so buffers made with plain tensor ops (masks, indices) are built as always; the caller must
  load a complete state dict afterwards (``strict=True``), which fails loudly if a parameter were left
  uninitialised.
* A full garbage collection (about 0.1 s) that falls due during the load or the first image a fresh process codes,
  scanning the ~180,000 objects ``import torch`` leaves: not a construction cost, and not one a library
  should decide for its caller; the `mlic` command, a short-lived process, freezes those objects once
  imported (``gc.freeze()`` in cli.py), and an application can do the same.
"""
from __future__ import annotations

import contextlib
import functools
import threading

from torch.nn import init

_lock = threading.Lock()
_state = threading.local()


def _init_functions() -> list[str]:
    return [n for n in dir(init) if n.endswith("_") and not n.startswith("_") and callable(getattr(init, n))]


def _skippable(real):
    @functools.wraps(real)
    def wrapper(tensor, *args, **kwargs):
        if getattr(_state, "skip", False):
            return tensor
        return real(tensor, *args, **kwargs)

    return wrapper


@contextlib.contextmanager
def skip_parameter_init():
    """Within this block, ``torch.nn.init`` functions called from this thread leave tensors as they are."""
    if getattr(_state, "skip", False):  # nested: the outer block already swapped them
        yield
        return
    with _lock:  # one construction at a time swaps the functions; other threads see the real ones
        saved = {n: getattr(init, n) for n in _init_functions()}
        for n, real in saved.items():
            setattr(init, n, _skippable(real))
        _state.skip = True
        try:
            yield
        finally:
            _state.skip = False
            for n, real in saved.items():
                setattr(init, n, real)
