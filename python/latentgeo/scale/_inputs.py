"""Row-chunked inputs: dask arrays, ``.npy`` paths and memmaps that the workers open themselves,
and small in-memory arrays; plus the one way big objects (a weight matrix, a graph) enter a graph.

Nothing big may be captured inside a task graph: the graph travels through the scheduler, and a
numpy array inside it is pickled into every message that carries it (dask's "Sending large
graph" warning). Files are therefore referenced by path and opened on the worker, and objects
that every task needs are either scattered once to all workers (with a distributed client) or
stored once as a single graph key.
"""

from __future__ import annotations

import math
import mmap
import os
from typing import List, Optional, Tuple

import dask
import dask.array as da
import numpy as np

from .._validate import check_int

#: In-memory numpy arrays up to this size are accepted as inputs (they are stored in the task
#: graph); larger ones must be passed as a dask array, a ``.npy`` path or a memmap.
MAX_INLINE_BYTES = 64 * 2**20

#: Default bytes per row block of a file or in-memory input.
DEFAULT_BLOCK_BYTES = 32 * 2**20


class _FileRows:
    """A read-only 2-D array in a file, opened (memory-mapped) by whoever indexes it.

    It pickles as its path, dtype, shape and offset only, so a graph that holds it stays small
    whatever the size of the file.
    """

    def __init__(self, path: str, dtype, shape: Tuple[int, int], offset: int, order: str):
        self.path = path
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(s) for s in shape)
        self.ndim = len(self.shape)
        self.offset = int(offset)
        self.order = order

    def _open(self) -> np.ndarray:
        return np.memmap(
            self.path,
            dtype=self.dtype,
            mode="r",
            offset=self.offset,
            shape=self.shape,
            order=self.order,
        )

    def __getitem__(self, key):
        return np.array(self._open()[key])

    def __repr__(self) -> str:
        return f"_FileRows({self.path!r}, {self.dtype}, shape={self.shape})"


def _npy_rows(path) -> _FileRows:
    """A :class:`_FileRows` over the array of a ``.npy`` file (its header read here)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            offset = f.tell()
    except OSError as exc:
        raise ValueError(f"cannot open {path!r}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path!r} is not a .npy file: {exc}") from None
    if dtype.hasobject:
        raise TypeError(f"{path!r} holds Python objects; a numeric array is needed")
    return _FileRows(os.path.abspath(path), dtype, shape, offset, "F" if fortran else "C")


def _memmap_rows(X: np.memmap, name: str) -> _FileRows:
    """A :class:`_FileRows` over the whole mapping of a memmap (not a view of a part of it)."""
    if X.filename is None or not isinstance(X.base, mmap.mmap):
        raise ValueError(
            f"{name} is a view into a numpy.memmap; pass the memmap as opened (np.load(path, "
            "mmap_mode='r') or np.memmap(...)), or the path of the .npy file"
        )
    order = "C" if X.flags.c_contiguous else "F"
    return _FileRows(X.filename, X.dtype, X.shape, X.offset, order)


def aligned(a, dtype=None) -> np.ndarray:
    """`a` as a C-contiguous, aligned array (of `dtype`). Arrays that arrive over the network
    can be views of a byte buffer at any offset, which the Rust kernels refuse."""
    return np.require(a, dtype=dtype, requirements=["C", "A"])


def _check_dtype(dtype, name: str) -> None:
    if np.dtype(dtype).kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")


def _default_rows(d: int, itemsize: int) -> int:
    return max(1, DEFAULT_BLOCK_BYTES // max(1, d * itemsize))


def as_rows(X, name: str = "X", *, block_rows: Optional[int] = None) -> da.Array:
    """`X` as a 2-D dask array chunked by rows only, with known chunk sizes.

    A dask array whose feature axis is split is rechunked to one feature chunk (`block_rows`
    does not apply to it: its row chunks are kept). A ``str``/``PathLike`` names a ``.npy``
    file and a memmap its file: both are read by the workers, block by block. Other array_like
    input must fit in :data:`MAX_INLINE_BYTES` (it is stored in the graph).
    """
    if block_rows is not None:
        block_rows = check_int(block_rows, "block_rows", low=1)
    if isinstance(X, da.Array):
        _check_dtype(X.dtype, name)
        if X.ndim != 2:
            raise ValueError(
                f"{name} must be a 2-D array of shape (n_samples, n_features), got {X.ndim}-D "
                f"with shape {X.shape}"
            )
        if any(math.isnan(c) for c in X.chunks[0]) or any(math.isnan(c) for c in X.chunks[1]):
            raise ValueError(
                f"{name} has unknown (NaN) chunk sizes, e.g. after boolean indexing; call "
                f"{name}.compute_chunk_sizes() (or build it with known chunks) first"
            )
        if len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
        return X
    if isinstance(X, (str, os.PathLike)):
        src = _npy_rows(X)
    elif isinstance(X, np.memmap):
        src = _memmap_rows(X, name)
    else:
        arr = np.asarray(X)
        _check_dtype(arr.dtype, name)
        if arr.nbytes > MAX_INLINE_BYTES:
            raise ValueError(
                f"{name} is an in-memory array of {arr.nbytes / 2**20:.0f} MiB; it would be "
                f"copied into the task graph (the limit is {MAX_INLINE_BYTES // 2**20} MiB). "
                "Save it with numpy.save and pass the path, or pass a memmap or a dask array"
            )
        src = arr
    _check_dtype(src.dtype, name)
    if src.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), got {src.ndim}-D "
            f"with shape {src.shape}"
        )
    n, d = src.shape
    rows = block_rows or _default_rows(d, src.dtype.itemsize)
    chunks = (_row_chunks(n, rows), (d,))
    if isinstance(src, _FileRows):
        # The file's size and modification time are part of the key: a rewritten file is a new
        # input, never blocks a cluster still holds from before.
        stat = os.stat(src.path)
        token = dask.base.tokenize(
            src.path, stat.st_size, stat.st_mtime_ns, src.offset, src.shape, str(src.dtype),
            src.order,
        )  # fmt: skip
        return da.from_array(
            src, chunks=chunks, name=f"latentgeo-file-{token}", meta=np.empty((0, 0), src.dtype)
        )
    return da.from_array(src, chunks=chunks)


def _row_chunks(n: int, rows: int) -> Tuple[int, ...]:
    if n == 0:
        return (0,)
    full, rest = divmod(n, rows)
    return (rows,) * full + ((rest,) if rest else ())


def offsets(chunks: Tuple[int, ...]) -> List[int]:
    """Start of every chunk."""
    out, acc = [], 0
    for c in chunks:
        out.append(acc)
        acc += int(c)
    return out


def ranges(n: int, block: int) -> List[Tuple[int, int]]:
    """``[lo, hi)`` ranges of at most `block` covering ``range(n)``."""
    return [(lo, min(n, lo + block)) for lo in range(0, n, block)]


def shared(obj, name: str):
    """`obj` as something tasks can take as an argument that is shipped to each worker once.

    With a current ``distributed`` client (and no other scheduler configured): a future of `obj`
    broadcast to every worker, so the result must be computed on that client. Otherwise: a
    delayed object whose value is one key of the graph.
    """
    client = _current_client()
    if client is not None:
        # A list is scattered element by element: wrap, so that `obj` stays one object. Keys
        # are unique (hash=False): a content key could be released by an earlier call's graph
        # while this one still needs it.
        return client.scatter([obj], broadcast=True, hash=False)[0]
    return dask.delayed(obj, name=f"latentgeo-{name}-{dask.base.tokenize(obj)}", pure=True)


def _current_client():
    """The ``distributed`` client that will run the graph, if any."""
    configured = dask.config.get("scheduler", None)
    if isinstance(configured, str) and configured.lower() not in (
        "dask.distributed",
        "distributed",
    ):
        return None
    try:
        from distributed import Client

        return Client.current(allow_global=True)
    except (ImportError, ValueError):
        return None
