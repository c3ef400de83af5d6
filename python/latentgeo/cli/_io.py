"""Shared pieces of the command line: errors, input loading, JSON and atomic output files."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .._validate import as_float_matrix
from ..neighbors import METRICS

PROG = "latentgeo"


#: Inputs with at least this many rows get a progress bar (when stderr is a terminal).
PROGRESS_MIN_ROWS = 20_000


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise CLIError instead of printing usage and exiting."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


def load_matrix(path: str, key: Optional[str] = None) -> Tuple[np.ndarray, dict]:
    """Read a 2-D float matrix from a ``.npy`` or ``.npz`` file.

    Parameters
    ----------
    path : str
        The file.
    key : str, optional
        The array to read from an ``.npz`` file (needed when it holds more than one).

    Returns
    -------
    X : ndarray, shape (n, d)
        float32 if stored as float32 or float16, float64 otherwise.
    info : dict
        ``path``, ``key``, ``shape`` and the stored ``dtype``.

    Raises
    ------
    CLIError
        If the file is missing or unreadable, or does not hold a finite 2-D real array.
    """
    p = Path(path)
    if not p.exists():
        raise CLIError(f"no such file: {path}")
    if p.is_dir():
        raise CLIError(f"{path} is a directory, not a .npy or .npz file")
    try:
        loaded = np.load(p, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, BadZipFile, ...
        raise CLIError(f"cannot read {path} as a .npy or .npz file ({exc})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if key is None:
                if len(names) != 1:
                    raise CLIError(f"{path} holds the arrays {names}; choose one with --key")
                key = names[0]
            elif key not in names:
                raise CLIError(f"{path} has no array {key!r}; it holds {names}")
            try:
                arr = loaded[key]
            except ValueError as exc:
                raise CLIError(f"cannot read array {key!r} of {path} ({exc})") from None
        name = f"{path}[{key}]"
    else:
        if key is not None:
            raise CLIError("--key applies only to .npz files")
        arr, name = loaded, str(path)
    info = {"path": str(path), "key": key, "shape": list(arr.shape), "dtype": str(arr.dtype)}
    try:
        X = as_float_matrix(arr, name)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    return X, info


def _use_progress(args: argparse.Namespace, X: np.ndarray) -> bool:
    return not args.no_progress and X.shape[0] >= PROGRESS_MIN_ROWS and sys.stderr.isatty()


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


def _describe(info: dict) -> str:
    shape = " x ".join(str(s) for s in info["shape"])
    where = info["path"] if info.get("key") is None else f"{info['path']}[{info['key']}]"
    return f"{where}: {shape} {info['dtype']}"


def npy_path(path: str) -> str:
    """The file ``np.save(path, ...)`` writes: `path` with ``.npy`` appended if it lacks it."""
    out = str(Path(path))
    return out if out.endswith(".npy") else out + ".npy"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


class _AtomicOutput:
    """A ``.npy`` output written atomically: a temporary file in the destination's directory,
    created up front (so an unwritable destination fails before any work), moved into place
    with :func:`os.replace` on :meth:`commit` and removed if the command fails or is interrupted.
    """

    def __init__(self, path: str):
        out = npy_path(path)
        if Path(out).is_dir():
            raise CLIError(f"--out {out} is a directory")
        parent = Path(out).resolve().parent
        if not parent.is_dir():
            raise CLIError(f"cannot write {out}: no such directory {parent}")
        self.path = out
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{Path(out).name}.", suffix=".tmp", dir=parent)
        except OSError as exc:
            raise CLIError(f"cannot write {out} ({exc.strerror or exc})") from None
        os.close(fd)

    def __enter__(self) -> "_AtomicOutput":
        return self

    def commit(self, arr: np.ndarray) -> None:
        with open(self.tmp, "wb") as fh:
            np.save(fh, arr)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp's 0600 -> what np.save would give
        os.replace(self.tmp, self.path)
        self.tmp = None

    def __exit__(self, *exc) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass


def _add_input(p: argparse.ArgumentParser, optional: bool = False) -> None:
    if optional:
        p.add_argument("file", nargs="?", metavar="FILE", help=".npy or .npz file (optional)")
    else:
        p.add_argument("file", metavar="FILE", help=".npy or .npz file holding a 2-D array")
    p.add_argument("--key", metavar="NAME", help="array to read from an .npz file")


def _add_common(p: argparse.ArgumentParser, k: int) -> None:
    p.add_argument("--k", type=int, default=k, help=f"neighbours per point (default {k})")
    p.add_argument(
        "--metric", choices=METRICS, default="euclidean", help="distance (default euclidean)"
    )
    p.add_argument("--threads", type=int, metavar="N", help="threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
