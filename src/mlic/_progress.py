"""Progress bars that stay readable when stderr is a file.

tqdm redraws its bar in place with carriage returns, ten times a second. On a terminal that is what
you want; redirected to a file (``nohup mlic train … 2> train.log``, a batch job, CI) it becomes one
line that grows by megabytes over a long run and shows nothing useful to ``tail``. When the stream is
not a terminal, :func:`progress_bar` therefore redraws at most every ``file_interval_s`` seconds and writes
each redraw as its own line.
"""
from __future__ import annotations

import sys

from tqdm import tqdm

FILE_INTERVAL_S = 30.0


class _OneLinePerRedraw:
    """A text stream for tqdm that turns each in-place redraw into a line of its own."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").rstrip()  # tqdm pads with spaces to erase the previous draw
        if line:
            self._stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or the stream is closed
        return False


def progress_bar(iterable=None, *, file=None, file_interval_s: float = FILE_INTERVAL_S, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)`` on ``file`` (default stderr), line-per-update when that is not a terminal."""
    stream = sys.stderr if file is None else file
    if not kwargs.get("disable") and not _is_terminal(stream):
        kwargs.setdefault("mininterval", file_interval_s)
        # tqdm's monitor thread also forces a redraw after maxinterval (10 s) without one: keep it to the same pace.
        kwargs.setdefault("maxinterval", file_interval_s)
        kwargs.setdefault("ncols", 120)
        kwargs["dynamic_ncols"] = False  # there is no screen to measure
        stream = _OneLinePerRedraw(stream)
    return tqdm(iterable, file=stream, **kwargs)
