"""Atomic output: write to a temporary file in the target folder, then rename over the target.

An error or Ctrl-C at any moment leaves either no output or the previous file untouched.
"""
from __future__ import annotations

import os
import tempfile

from .errors import MlicError


class OutputExistsError(MlicError, FileExistsError):
    """The output exists and overwriting was not asked for."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes, force: bool = False) -> None:
    path = os.fspath(path)
    if os.path.isdir(path):
        raise OutputExistsError(f"{path} is a directory")
    if os.path.exists(path) and not force:
        raise OutputExistsError(f"{path} exists (use --force to overwrite)")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
