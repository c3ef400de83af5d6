"""Memory-mapped input: ``.npy`` paths and ``np.memmap`` arrays are read block by block (never
copied whole into memory); see :func:`latentgeo.knn`."""

from __future__ import annotations

import mmap
import os
from typing import Iterator, Optional, Tuple

import numpy as np

from .._validate import check_finite_rows, check_matrix_shape

#: Bytes of one block of rows that the exact search holds in memory (a few are live at once).
BLOCK_BYTES = 1 << 24
#: Bytes read from a memory map between two releases of its pages.
READ_BYTES = 1 << 22


def block_rows(d: int, dtype) -> int:
    """Rows per block of the exact search for `d` features of `dtype` (at least 256)."""
    return _rows(d, dtype, BLOCK_BYTES)


def _rows(d: int, dtype, nbytes: int) -> int:
    return max(256, nbytes // (max(d, 1) * np.dtype(dtype).itemsize))


def mapped_source(obj, name: str = "X") -> Optional[np.memmap]:
    """`obj` as a memory map when it is one or names a ``.npy`` file (opened read-only), else
    None (an in-memory array, read as before)."""
    if isinstance(obj, np.memmap):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        if not str(path).endswith(".npy"):
            raise ValueError(f"{name} is a path ({path!r}); only .npy files can be read")
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        if not isinstance(arr, np.memmap):  # pragma: no cover - np.load maps every .npy array
            raise ValueError(f"{path!r} could not be memory-mapped")
        return arr
    return None


def check_mapped(A: np.memmap, name: str = "X") -> np.memmap:
    """The checks of :func:`latentgeo._validate.as_float_matrix` on a memory map, one block of
    rows at a time (the pages read are released again): `A` itself, or an error."""
    check_matrix_shape(A, name)
    for s, e in blocks(A.shape[0], _rows(A.shape[1], A.dtype, READ_BYTES)):
        check_finite_rows(np.asarray(A[s:e]), name, s)
        release(A)
    return A


def mapped_max_abs(A) -> float:
    """Largest magnitude in `A`, read block by block."""
    m = 0.0
    for s, e in blocks(A.shape[0], _rows(A.shape[1], A.dtype, READ_BYTES)):
        b = np.asarray(A[s:e])
        if b.size:
            m = max(m, float(b.max()), -float(b.min()))
        release(A)
    return m


def blocks(n: int, rows: int) -> Iterator[Tuple[int, int]]:
    for s in range(0, n, rows):
        yield s, min(n, s + rows)


def release(A) -> None:
    """Drop the resident pages of a read-only memory map (they stay in the page cache and are
    read back on the next access), so scanning a large file does not grow the resident set."""
    mm = getattr(A, "_mmap", None)
    if mm is None or getattr(A, "mode", None) not in ("r", "readonly"):
        return
    advise = getattr(mm, "madvise", None)
    flag = getattr(mmap, "MADV_DONTNEED", None)
    if advise is not None and flag is not None:
        try:
            advise(flag)
        except (OSError, ValueError):  # pragma: no cover - best effort only
            pass


def load_block(A, s: int, e: int, dtype, prepare) -> np.ndarray:
    """Rows s:e of `A` as a C-contiguous array of `dtype`, through `prepare` (the rescaling the
    exact path applies); a memory map is copied into memory a few MB at a time, releasing its
    pages after each."""
    if not isinstance(A, np.memmap):
        return prepare(np.ascontiguousarray(A[s:e], dtype=dtype))
    out = np.empty((e - s, A.shape[1]), dtype=dtype)
    for a, b in blocks(e - s, _rows(A.shape[1], A.dtype, READ_BYTES)):
        out[a:b] = A[s + a : s + b]
        release(A)
    return prepare(out)
