"""Files written atomically: every output of latentgeo (CLI ``--out``, ``Whitening.save``) appears
whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


class AtomicFile:
    """A file written atomically.

    A temporary file is created in the destination's directory up front, so an unwritable
    destination fails before any work; :meth:`commit` fills it, flushes it to disk and moves it
    into place with :func:`os.replace`; if the ``with`` block is left without a commit (an error,
    Ctrl-C), the temporary file is removed and the destination is untouched.

    Raises ValueError naming the path when the destination is a directory or its directory does
    not exist, and OSError when the temporary file cannot be created.
    """

    def __init__(self, path):
        self.path = Path(os.fspath(path))
        if self.path.is_dir():
            raise ValueError(f"cannot write {self.path}: it is a directory")
        parent = self.path.resolve().parent
        if not parent.is_dir():
            raise ValueError(f"cannot write {self.path}: no such directory {parent}")
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=parent)
        except OSError as exc:
            raise OSError(f"cannot write {self.path} ({exc.strerror or exc})") from None
        os.close(fd)
        self.tmp = tmp

    def __enter__(self) -> "AtomicFile":
        return self

    def commit(self, write: Callable[[BinaryIO], None]) -> Path:
        """Write the file with ``write(binary_file)`` and move it into place; returns the path."""
        with open(self.tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp's 0600 -> what a plain open() would give
        os.replace(self.tmp, self.path)
        self.tmp = None
        return self.path

    def __exit__(self, *exc) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None
