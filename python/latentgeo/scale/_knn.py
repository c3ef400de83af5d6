"""Exact kNN on Dask: one task per (query block, data block), merged by a tree reduction.

Why the result is bit-identical to :func:`latentgeo.knn` for every chunking:

- The single-process search ranks every (query row, data row) pair by an exact float64 value
  computed from those two (rescaled) rows only, keeps the top k under the order (value, index),
  and reports ``T(f(value))`` (``sqrt`` for the Euclidean distance, clamping for cosine, negation
  for the inner product). Each task asks the Rust kernel for exactly these values
  (``_core.knn(..., keys=True)``), so top-k lists of disjoint data blocks merge by (value,
  index) into the same top k, and ``f`` and the rounding to the data's dtype are applied once,
  at the end, as the kernel does. Merging the reported values instead would not be exact: a
  float32 distance or a clamped cosine can tie where the ranking values differ.
- The power-of-two rescaling that keeps squared norms from overflowing depends on the largest
  magnitude of all the data, so it is computed first, as its own reduction, and every task
  rescales its blocks by the same exponent (cosine rescales row by row, which is local).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import dask
import dask.array as da
import numpy as np

from .. import _core
from .._validate import check_choice, check_finite_rows, check_int, check_n_threads, float_dtype
from ..neighbors._exact import report, select
from ..neighbors._knn import (
    _SAFE_EXPONENT,
    METRICS,
    KNNResult,
    _rescale_rows,
    _scale_back,
    check_k,
)
from ._inputs import aligned, as_rows, offsets
from ._threads import task_threads

#: Candidate lists merged per task of the tree reduction (dask's ``split_every``).
DEFAULT_SPLIT_EVERY = 8


@dataclass(frozen=True)
class LazyKNN:
    """The lazy result of :func:`latentgeo.scale.knn`.

    Attributes
    ----------
    indices : dask.array.Array of int64, shape (n_queries, k)
        Row-chunked like the queries.
    distances : dask.array.Array of float32 or float64, shape (n_queries, k)
        Chunked like `indices`; computed by the same tasks.
    metric : str
    n_index : int
    self_join : bool
        As in :class:`latentgeo.KNNResult`. ``idx, dist = lazy`` unpacks the two arrays.
    """

    indices: da.Array
    distances: da.Array
    metric: str
    n_index: int
    self_join: bool

    @property
    def k(self) -> int:
        """Neighbours per row."""
        return int(self.indices.shape[1])

    def __iter__(self):
        return iter((self.indices, self.distances))

    def compute(self, **kwargs) -> KNNResult:
        """Compute both arrays in one pass (keywords go to :func:`dask.compute`)."""
        idx, dist = dask.compute(self.indices, self.distances, **kwargs)
        # Aligned: arrays received from workers may sit at any offset of a byte buffer.
        return KNNResult(aligned(idx), aligned(dist), self.metric, self.n_index, self.self_join)

    def persist(self, **kwargs) -> "LazyKNN":
        """Both arrays persisted (in the cluster's memory with a distributed client)."""
        idx, dist = dask.persist(self.indices, self.distances, **kwargs)
        return LazyKNN(idx, dist, self.metric, self.n_index, self.self_join)


def knn(
    X,
    k: int,
    *,
    metric: str = "euclidean",
    query=None,
    exclude_self: bool = True,
    block_rows: Optional[int] = None,
    split_every: Optional[int] = None,
    n_threads: Optional[int] = None,
) -> LazyKNN:
    """Exact k-nearest neighbours on Dask, bit-identical to :func:`latentgeo.knn`.

    Parameters
    ----------
    X : dask.array.Array, str, PathLike, numpy.memmap or array_like, shape (n, d)
        The indexed points, chunked by rows: a dask array (a feature axis split over several
        chunks is rechunked to one chunk; unknown chunk sizes raise ValueError), the path of a
        ``.npy`` file or a memmap (each worker opens the file and reads its own rows), or a
        small in-memory array (at most :data:`latentgeo.scale.MAX_INLINE_BYTES`).
    k : int
        Neighbours per query, as in :func:`latentgeo.knn` (a chunk may hold fewer than k rows).
    metric : {"euclidean", "sqeuclidean", "cosine", "inner_product"}
    query : same kinds as `X`, optional
        Points whose neighbours to find among `X` (default: a self-join of `X`).
    exclude_self : bool
        In a self-join, leave each point out of its own list (by index).
    block_rows : int, optional
        Rows per block for file and in-memory input (default: about 32 MiB per block). A dask
        array keeps its own chunks.
    split_every : int, optional
        Candidate lists merged per reduction task (default 8).
    n_threads : int, optional
        Rust threads per task (default: the worker's thread count under ``distributed``, all
        cores with the synchronous scheduler). Results do not depend on it.

    Returns
    -------
    LazyKNN
        ``indices`` and ``distances`` as row-chunked dask arrays; ``.compute()`` gives the
        :class:`latentgeo.KNNResult` that ``latentgeo.knn`` returns, bit for bit.

    Notes
    -----
    Tasks: one per pair (query block, data block), each holding both blocks and a
    ``rows x min(k, data rows)`` candidate list with float64 ranking values, then
    ``ceil(log_{split_every}(data blocks))`` levels of merges per query block. A self-join
    has one task per unordered pair of blocks, which ranks the pair's tiles both ways (the
    GEMM work of the symmetric single-process self-join). Input values are checked (finite) by
    the first pass, which also finds the rescaling exponent.

    Examples
    --------
    >>> import numpy as np, dask.array as da, latentgeo, latentgeo.scale
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [7.0, 0.0]])
    >>> lazy = latentgeo.scale.knn(da.from_array(X, chunks=(2, 2)), 1)
    >>> res = lazy.compute(scheduler="synchronous")
    >>> res.indices.ravel().tolist(), np.array_equal(res.distances, latentgeo.knn(X, 1).distances)
    ([1, 0, 1, 2], True)
    """
    metric = check_choice(metric, "metric", METRICS)
    n_threads = check_n_threads(n_threads)
    split = DEFAULT_SPLIT_EVERY if split_every is None else check_int(split_every, "split_every")
    if split < 2:
        raise ValueError(f"split_every must be at least 2, got {split}")
    Xd = as_rows(X, "X", block_rows=block_rows)
    n, d = Xd.shape
    if n == 0:
        raise ValueError(f"X is empty: it has shape {Xd.shape}")
    if d == 0:
        raise ValueError(f"X has no features: it has shape {Xd.shape}")
    self_join = query is None
    if self_join:
        Qd, dtype, exclude = Xd, _dtype(Xd), bool(exclude_self)
    else:
        Qd = as_rows(query, "query", block_rows=block_rows)
        if Qd.shape[0] == 0:
            raise ValueError(f"query is empty: it has shape {Qd.shape}")
        if Qd.shape[1] != d:
            raise ValueError(f"query has {Qd.shape[1]} features but X has {d}; they must match")
        dtype, exclude = _dtype(Xd, Qd), False
    k = check_k(k, n, exclude)
    return _lazy_knn(Xd, None if self_join else Qd, k, metric, exclude, dtype, split, n_threads)


def _dtype(*arrays) -> np.dtype:
    """The dtype :func:`latentgeo.knn` computes in (float32 only if every input is float)."""
    if all(a.dtype.kind == "f" for a in arrays):
        return float_dtype(*arrays)
    return np.dtype(np.float64)


def _lazy_knn(Xd, Qd, k, metric, exclude, dtype, split, n_threads) -> LazyKNN:
    """The graph of :func:`knn` on checked, row-chunked dask arrays (`Qd` None: self-join)."""
    n = Xd.shape[0]
    xblocks = list(Xd.to_delayed().ravel())
    xchunks, xoff = Xd.chunks[0], offsets(Xd.chunks[0])
    if Qd is None:
        qblocks, qchunks, qoff = xblocks, xchunks, xoff
    else:
        qblocks = list(Qd.to_delayed().ravel())
        qchunks, qoff = Qd.chunks[0], offsets(Qd.chunks[0])
    check = dask.delayed(_check_block, pure=True)
    maxima = [check(b, o, dtype, "X") for b, o in zip(xblocks, xoff)]
    if Qd is not None:
        maxima += [check(b, o, dtype, "query") for b, o in zip(qblocks, qoff)]
    exponent = dask.delayed(_exponent, pure=True)(maxima, dtype, metric)

    parts = _candidates(xblocks, xchunks, xoff, qblocks, qchunks, Qd is None, k, metric,
                        exclude, dtype, exponent, n_threads)  # fmt: skip
    merge = dask.delayed(_merge, pure=True, nout=2)
    finish = dask.delayed(_finish, pure=True, nout=2)
    idx_parts, dist_parts = [], []
    for qs, lists in zip(qchunks, parts):
        if qs == 0:
            idx_parts.append(da.zeros((0, k), dtype=np.int64))
            dist_parts.append(da.zeros((0, k), dtype=dtype))
            continue
        while len(lists) > 1:
            lists = [
                merge(lists[i : i + split], k) if len(lists[i : i + split]) > 1 else lists[i]
                for i in range(0, len(lists), split)
            ]
        out = finish(lists[0], metric, dtype, exponent)
        idx_parts.append(da.from_delayed(out[0], shape=(qs, k), dtype=np.int64))
        dist_parts.append(da.from_delayed(out[1], shape=(qs, k), dtype=dtype))
    indices = da.concatenate(idx_parts, axis=0)
    distances = da.concatenate(dist_parts, axis=0)
    return LazyKNN(indices, distances, metric, n, Qd is None)


def _candidates(xblocks, xchunks, xoff, qblocks, qchunks, self_join, k, metric, exclude, dtype,
                e, n_threads) -> list:  # fmt: skip
    """Per query block, the delayed candidate lists of its rows, one per data block.

    A self-join ranks each off-diagonal block pair both ways from one task (one GEMM, as the
    single-process self-join does with its tiles); diagonal blocks search themselves.
    """
    pair = dask.delayed(_pair, pure=True, nout=2)
    parts: list = [[] for _ in qchunks]
    if not self_join:
        for qb, qs, lists in zip(qblocks, qchunks, parts):
            for xb, x0, xs in zip(xblocks, xoff, xchunks):
                if qs and xs:
                    lists.append(pair(xb, qb, x0, min(k, xs), metric, False, dtype, e, n_threads))
        return parts
    both = dask.delayed(_both_ways, pure=True, nout=2)
    for i, (bi, oi, si) in enumerate(zip(xblocks, xoff, xchunks)):
        kd = min(k, si - 1 if exclude else si)
        if kd > 0:
            parts[i].append(pair(bi, None, oi, kd, metric, exclude, dtype, e, n_threads))
        for j in range(i + 1, len(xblocks)):
            bj, oj, sj = xblocks[j], xoff[j], xchunks[j]
            if si and sj:
                to_i, to_j = both(bi, bj, oi, oj, (min(k, sj), min(k, si)), metric, dtype, e,
                                  n_threads)  # fmt: skip
                parts[i].append(to_i)
                parts[j].append(to_j)
    return parts


def _check_block(block, offset: int, dtype, name: str) -> float:
    """The largest magnitude of a block cast to `dtype`; ValueError for NaN or inf."""
    b = np.asarray(block).astype(dtype, copy=False)
    check_finite_rows(b, name, offset)
    if b.size == 0:
        return 0.0
    return max(float(b.max()), -float(b.min()))


def _exponent(maxima, dtype, metric: str) -> int:
    """The power-of-two rescaling exponent :func:`latentgeo.knn` uses (0 when none)."""
    if metric == "cosine":  # rescaled row by row instead
        return 0
    m = max(maxima, default=0.0)
    e = math.frexp(m)[1] if m > 0 else 0
    return e if abs(e) > _SAFE_EXPONENT[np.dtype(dtype)] else 0


def _prepare(block, dtype, metric: str, e: int) -> np.ndarray:
    b = aligned(block, dtype)
    if metric == "cosine":
        return np.ascontiguousarray(_rescale_rows(b))
    return np.ldexp(b, -e) if e else b


def _pair(xblock, qblock, x0, kb, metric, exclude, dtype, e, n_threads):
    """Top-`kb` candidates of a query block in one data block: (global indices, exact float64
    ranking values), both ``rows x kb``. `qblock` None: the diagonal block of a self-join."""
    xb = _prepare(xblock, dtype, metric, e)
    qb = None if qblock is None else _prepare(qblock, dtype, metric, e)
    idx, keys = _core.knn(
        xb,
        k=kb,
        metric=metric,
        query=qb,
        self_offset=0 if (qb is None and exclude) else None,
        n_threads=task_threads(n_threads),
        keys=True,
    )
    idx += x0
    return idx, keys


def _both_ways(ablock, bblock, a0, b0, ks, metric, dtype, e, n_threads):
    """Candidates of the rows of block a among block b and of block b among block a, from
    one pass over their tiles: two (global indices, float64 ranking values) pairs."""
    a = _prepare(ablock, dtype, metric, e)
    b = _prepare(bblock, dtype, metric, e)
    ia, ka, ib, kb = _core.knn_pair(
        a, b, k_a=ks[0], k_b=ks[1], metric=metric, n_threads=task_threads(n_threads)
    )
    return (ia + b0, ka), (ib + a0, kb)


def _merge(parts, k: int):
    """The first `k` candidates of each row of several lists by (value, index)."""
    idx = np.concatenate([p[0] for p in parts], axis=1)
    keys = np.concatenate([p[1] for p in parts], axis=1)
    return select(idx, keys, k)


def _finish(part, metric: str, dtype, e: int):
    """The reported distances of the merged candidates, as the kernel reports them."""
    idx, keys = part
    dist = report(keys, metric, dtype)
    if e:
        dist = _scale_back(dist, metric, e)
    return np.ascontiguousarray(idx), np.ascontiguousarray(dist)
