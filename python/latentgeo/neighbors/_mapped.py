"""Memory-mapped input: ``.npy`` paths and ``np.memmap`` arrays are read block by block (never
copied whole into memory); see :func:`latentgeo.knn`."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from .._validate import check_finite_rows, check_matrix_shape, float_dtype
from ._exact import blocks, release

#: Bytes of one block of rows read from a memory map (a few such blocks are live at once).
BLOCK_BYTES = 1 << 25


def block_rows(d: int, dtype) -> int:
    """Rows per block of `d` features of `dtype` (at least 256)."""
    return max(256, BLOCK_BYTES // (max(d, 1) * np.dtype(dtype).itemsize))


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
    dtype = float_dtype(A) if A.dtype.kind == "f" else np.dtype(np.float64)
    for s, e in blocks(A.shape[0], block_rows(A.shape[1], dtype)):
        check_finite_rows(np.asarray(A[s:e]), name, s)
        release(A)
    return A


def mapped_max_abs(A) -> float:
    """Largest magnitude in `A`, read block by block."""
    m = 0.0
    for s, e in blocks(A.shape[0], block_rows(A.shape[1], A.dtype)):
        b = np.asarray(A[s:e])
        if b.size:
            m = max(m, float(b.max()), -float(b.min()))
        release(A)
    return m
