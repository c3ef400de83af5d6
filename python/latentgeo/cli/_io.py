"""Shared pieces of the command line: errors, input loading, JSON and atomic output files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .._files import AtomicFile
from .._readers import read_array
from .._validate import as_float_matrix
from ..neighbors import METRICS
from ..neighbors._mapped import check_mapped

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
        float32 if stored as float32 or float16, float64 otherwise. A float32/float64 ``.npy``
        file is returned memory-mapped (read-only; the kNN search reads it block by block).
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
        arr, name, key = read_array(p, key)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    info = {"path": str(path), "key": key, "shape": list(arr.shape), "dtype": str(arr.dtype)}
    try:
        if isinstance(arr, np.memmap) and arr.dtype in (np.float32, np.float64):
            X = check_mapped(arr, name)  # a .npy file stays memory-mapped, read block by block
        else:
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


class _AtomicOutput(AtomicFile):
    """A ``--out`` ``.npy`` file written atomically (see :class:`latentgeo._files.AtomicFile`):
    checked before the work starts, whole or absent after it."""

    def __init__(self, path: str):
        try:
            super().__init__(npy_path(path))
        except (ValueError, OSError) as exc:
            raise CLIError(str(exc)) from None
        self.path = str(self.path)  # what the commands print and put in their JSON

    def commit(self, arr: np.ndarray) -> None:
        super().commit(lambda fh: np.save(fh, arr))


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
