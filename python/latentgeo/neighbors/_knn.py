"""Exact k-nearest neighbours (Rust core) and the kNN input gate (`as_knn`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp

from .. import _core
from .._progress import Progress
from .._validate import (
    as_float_matrix_max_abs,
    check_choice,
    check_int,
    check_n_threads,
    exponent,
    float_dtype,
    magnitude_exponent,
    row_exponents,
)
from ._approx import _CHUNK_ROWS, ApproxInfo, _same, approx_search, check_method
from ._exact import knn_blocked, report
from ._gate import _check_structure
from ._mapped import block_rows, check_mapped, mapped_max_abs, mapped_source

#: Precomputed neighbour indices must be below this (2**40 points: terabytes of counters).
MAX_INDEX = 2**40

METRICS = ("euclidean", "sqeuclidean", "cosine", "inner_product")


@dataclass(frozen=True, eq=False)
class KNNResult:
    """Neighbours of each query row, nearest first.

    Attributes
    ----------
    indices : ndarray of int64, shape (n_queries, k)
        Row indices into the indexed data.
    distances : ndarray of float32 or float64, shape (n_queries, k)
        Distances, ascending; for ``metric="inner_product"`` these are similarities, descending.
    metric : str
        The metric that produced them (``"precomputed"`` for user-supplied tables).
    n_index : int
        Number of indexed points (the range of `indices`).
    self_join : bool
        True when the queries are the indexed points themselves (each excluded from its own list).
    approx : ApproxInfo or None
        For ``method="approximate"``: the backend, its parameters and the estimated recall
        (``approx.recall``, ``approx.recall_stderr``); None for exact and precomputed results.
    """

    indices: np.ndarray
    distances: np.ndarray
    metric: str
    n_index: int
    self_join: bool
    approx: Optional[ApproxInfo] = None

    @property
    def k(self) -> int:
        """Neighbours per row."""
        return int(self.indices.shape[1])

    @property
    def n_queries(self) -> int:
        """Number of query rows."""
        return int(self.indices.shape[0])

    def head(self, k: int) -> "KNNResult":
        """The first `k` neighbours of every row."""
        k = check_int(k, "k", low=1, high=self.k)
        return KNNResult(
            np.ascontiguousarray(self.indices[:, :k]),
            np.ascontiguousarray(self.distances[:, :k]),
            self.metric,
            self.n_index,
            self.self_join,
            self.approx,
        )

    def to_sparse(self) -> sp.csr_matrix:
        """The kNN graph as a (n_queries, n_index) CSR matrix; zero distances stay stored."""
        m, k = self.indices.shape
        indptr = np.arange(0, m * k + 1, k, dtype=np.int64)
        return sp.csr_matrix(
            (self.distances.ravel().copy(), self.indices.ravel().copy(), indptr),
            shape=(m, self.n_index),
        )

    def to_dict(self) -> dict:
        """Plain-Python form (lists), e.g. for JSON; ``approx`` only for approximate results."""
        out = {
            "indices": self.indices.tolist(),
            "distances": self.distances.tolist(),
            "metric": self.metric,
            "n_index": self.n_index,
            "self_join": self.self_join,
        }
        if self.approx is not None:
            out["approx"] = self.approx.to_dict()
        return out


def knn(
    X,
    k: int,
    *,
    metric: str = "euclidean",
    query=None,
    exclude_self: bool = True,
    n_threads: Optional[int] = None,
    progress: bool = False,
    method: str = "exact",
    method_options: Optional[dict] = None,
) -> KNNResult:
    """k-nearest neighbours: exact by brute force (blocked GEMM + bounded top-k), or approximate.

    Parameters
    ----------
    X : array_like, numpy.memmap or path of a .npy file, shape (n, d)
        The indexed points. float32 input is computed and returned in float32; other real input
        in float64. A memory map (e.g. ``np.load(path, mmap_mode="r")``) or a ``.npy`` path is
        read block by block and never copied whole into memory; the exact search then runs
        one kernel call per pair of blocks (same result, up to twice the arithmetic of the
        in-memory self-join).
    k : int
        Neighbours per query; ``1 <= k <= n - 1`` for a self-join that excludes self, else
        ``k <= n``.
    metric : {"euclidean", "sqeuclidean", "cosine", "inner_product"}
        ``cosine`` is ``1 - cos`` (a zero vector has cosine 0 to everything);
        ``inner_product`` ranks by the largest dot product and returns similarities, descending.
    query : array_like, numpy.memmap or .npy path, shape (m, d), optional
        Points whose neighbours to find among `X`. Default: `X` itself (a self-join).
    exclude_self : bool
        In a self-join, leave each point out of its own list. Exclusion is by index, so
        duplicates of a point are still found (at distance 0).
    n_threads : int, optional
        Threads to use (default: all cores). Exact results do not depend on it.
    progress : bool
        Show a progress bar on stderr. Ctrl-C interrupts the search (KeyboardInterrupt).
    method : {"exact", "approximate"}
        ``"approximate"``: candidates from an HNSW graph (the optional usearch package,
        ``pip install 'latentgeo[ann]'``) over int8-quantised vectors, then re-ranked exactly as
        below, and a recall estimate in ``result.approx``. Some true neighbours may be missed.
        On two cores at d = 384 it is faster than the exact search from about 10^5 points
        (``benches/README.md``). Reproducible for a fixed `seed` with ``n_threads=1``; with
        several threads the graph depends on the order in which threads insert points, so the
        candidates (and the recall) can vary slightly from run to run.
    method_options : dict, optional
        Only for ``"approximate"`` (an error otherwise): ``connectivity`` (HNSW M, default 16),
        ``expansion_add`` (efConstruction, default 128), ``expansion_search`` (ef, default
        ``max(128, 2 (k + 1))``, at least `candidates`), ``candidates`` (per query, taken from
        the graph and re-ranked exactly; default 2k with the int8 index, k with float32, plus
        one for self), ``index_dtype`` (``"int8"``, the default: rows centred and scaled to
        [-127, 127], a quarter of the memory and about 2x faster; or ``"float32"``),
        ``refine`` (rounds of NN-descent's local join over the found lists of a self-join:
        neighbours of neighbours and reverse neighbours, compared exactly; default 3, fewer
        when a round changes nothing, 0 skips it; it mends rows whose graph search ended in
        the wrong region, which otherwise inflate hubness scores; rows still lost after it,
        their k-th neighbour more than twice as far as their neighbours' k-th, at most 5 %
        of the rows, are searched again exactly and refined once more), ``recall_sample`` (rows
        checked exactly for the recall estimate, default 300; 0 skips the check) and ``seed``
        (of that sample, of the quantiser's sample and of the insertion order, default 0).

    Returns
    -------
    KNNResult
        ``indices`` (int64) and ``distances``, shape (m, k), nearest first. Ties are broken by
        the lower index. Distances are exact: candidates from the float32/float64 GEMM (or the
        HNSW graph) are re-ranked in float64, and the exact method proves with a rounding-error
        bound that no point was missed. A neighbour that the approximate and the exact method
        both find has the same distance in both.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    >>> latentgeo.knn(X, 1).indices.ravel().tolist()
    [1, 0, 1]
    """
    metric = check_choice(metric, "metric", METRICS)
    method, options = check_method(method, method_options)
    n_threads = check_n_threads(n_threads)
    X, top = _as_data_max_abs(X, "X")
    n = X.shape[0]
    self_join = query is None
    if self_join:
        dtype = float_dtype(X)
        exclude = bool(exclude_self)
    else:
        Q, top_q = _as_data_max_abs(query, "query")
        top = None if top is None or top_q is None else max(top, top_q)
        if Q.shape[1] != X.shape[1]:
            raise ValueError(
                f"query has {Q.shape[1]} features but X has {X.shape[1]}; they must match"
            )
        dtype = float_dtype(X, Q)
        if not isinstance(Q, np.memmap):
            Q = Q.astype(dtype, copy=False)
        exclude = False
    if not isinstance(X, np.memmap):
        X = X.astype(dtype, copy=False)
    k = check_k(k, n, exclude)

    qarg = None if self_join else Q
    return _knn(
        X, k, metric, qarg, exclude, n_threads, progress, method=method, options=options, top=top
    )


def as_data(X, name: str = "X"):
    """Vectors for a kNN search: a checked memory map (for ``np.memmap`` input and ``.npy``
    paths, read block by block later) or :func:`as_float_matrix` of `X`."""
    return _as_data_max_abs(X, name)[0]


def _as_data_max_abs(X, name: str):
    """:func:`as_data` of `X` and, for an in-memory array, its ``max |x|`` from the same pass
    (None for a memory map)."""
    M = mapped_source(X, name)
    return as_float_matrix_max_abs(X, name) if M is None else (check_mapped(M, name), None)


def check_k(k, n: int, exclude: bool) -> int:
    """`k` as an int in [1, n] (in [1, n - 1] when each point is excluded from its own list)."""
    k = check_int(k, "k", low=1)
    if exclude and k > n - 1:
        raise ValueError(
            f"k={k} must be smaller than the number of points n={n} (each point is "
            "excluded from its own neighbours)"
        )
    if k > n:
        raise ValueError(f"k={k} must not exceed the number of indexed points n={n}")
    return k


def _knn(
    X,
    k,
    metric,
    qarg=None,
    exclude=True,
    n_threads=None,
    progress=False,
    *,
    method="exact",
    options=None,
    index=None,
    top=None,
) -> KNNResult:
    """:func:`knn` on checked input: `X` (and `qarg`, the query or None for a self-join) finite,
    C-contiguous, of one float dtype, or memory maps checked by :func:`as_data`; 1 <= k <= the
    points available; `exclude` only applies to a self-join; `options` complete (see
    :func:`._approx.check_method`) for ``method="approximate"``, which searches `index` (an
    :class:`._approx.HnswIndex` of `X`) when given; `top`, when known, ``max |x|`` over `X` and
    `qarg` (saves a pass over them)."""
    exclude = exclude and qarg is None
    mapped = isinstance(X, np.memmap) or isinstance(qarg, np.memmap)
    if method != "exact" or mapped:
        return _knn_blocks(X, k, metric, qarg, exclude, n_threads, progress, method, options, index)
    if metric == "cosine":  # invariant to each row's scale: rescale the rows one by one
        X, qarg = _rescale_rows(X), None if qarg is None else _rescale_rows(qarg)
        e = 0
    else:
        e = _rescale(X, qarg, top)
    if e:  # exact power-of-two rescaling: the same neighbours, distances scaled back below
        X = np.ldexp(X, -e)
        qarg = None if qarg is None else np.ldexp(qarg, -e)
    with Progress(1, "knn", enabled=bool(progress)) as bar:
        idx, dist = _core.knn(
            X,
            k=k,
            metric=metric,
            query=qarg,
            self_offset=0 if exclude else None,
            n_threads=n_threads,
            progress=bar,
        )
    if e:
        dist = _scale_back(dist, metric, e)
    return KNNResult(idx, dist, metric, X.shape[0], qarg is None)


def _knn_blocks(
    X, k, metric, Q, exclude, n_threads, progress, method, options, index=None
) -> KNNResult:
    """The search over blocks of rows: memory maps (exact) or the approximate method; the
    rescaling of the exact path is applied to each block as it is read."""
    dtype = float_dtype(X) if Q is None else float_dtype(X, Q)  # float64 for integer input
    e = 0
    if metric == "cosine":
        prepare = _rescale_rows
    else:
        big = max(mapped_max_abs(A) for A in (X, Q) if A is not None)
        e = math.frexp(big)[1] if big > 0 else 0
        e = e if abs(e) > _SAFE_EXPONENT[dtype] else 0
        prepare = (lambda A: np.ldexp(A, -e)) if e else _same
    rows = block_rows(X.shape[1], dtype)
    src = X if Q is None else Q
    if method == "exact":
        nb = -(-X.shape[0] // rows)
        total = nb * (nb + 1) // 2 if Q is None else nb * -(-src.shape[0] // rows)
    else:
        total = -(-X.shape[0] // _CHUNK_ROWS) + -(-src.shape[0] // _CHUNK_ROWS)
    with Progress(total, "knn", enabled=bool(progress)) as bar:
        if method == "exact":
            idx, keys = knn_blocked(
                X,
                k,
                metric,
                Q,
                exclude,
                dtype=dtype,
                prepare=prepare,
                block_rows=rows,
                n_threads=n_threads,
                bar=bar,
            )
            approx = None
        else:
            idx, keys, approx = approx_search(
                X,
                k,
                metric,
                Q,
                exclude,
                dtype=dtype,
                prepare=prepare,
                options=options,
                n_threads=n_threads,
                bar=bar,
                index=index,
            )
    dist = report(keys, metric, dtype)
    if e:
        dist = _scale_back(dist, metric, e)
    return KNNResult(idx, dist, metric, X.shape[0], Q is None, approx)


# Rows whose largest magnitude lies within 2**+-SAFE (by dtype) are searched as they are; others
# are first rescaled by a power of two, so that squared norms can neither overflow nor underflow.
_SAFE_EXPONENT = {np.dtype(np.float32): 40, np.dtype(np.float64): 400}


def _rescale(X, Q, top=None) -> int:
    """The exponent e to rescale by (0 when the magnitudes are safe as they are); `top` is
    ``max |x|`` over `X` and `Q` when known."""
    e = magnitude_exponent(X, Q) if top is None else exponent(top)
    return e if abs(e) > _SAFE_EXPONENT[X.dtype] else 0


def _rescale_rows(X: np.ndarray) -> np.ndarray:
    """`X` with every row whose largest magnitude is outside 2**+-SAFE rescaled by a power of two
    to [0.5, 1) (exact; `X` itself when no row needs it)."""
    e = row_exponents(X)
    e[np.abs(e) <= _SAFE_EXPONENT[X.dtype]] = 0
    if not e.any():
        return X
    return np.ldexp(X, -e[:, None].astype(np.int32))


def _scale_back(dist: np.ndarray, metric: str, e: int) -> np.ndarray:
    """Distances of the data from those of the data rescaled by 2**-e; ValueError when they do
    not fit in the data's float type."""
    power = {"euclidean": 1, "sqeuclidean": 2, "cosine": 0, "inner_product": 2}[metric]
    with np.errstate(over="ignore"):
        out = np.ldexp(dist, power * e)
    if not np.isfinite(out).all():
        raise ValueError(
            f"the {metric} distances of these vectors (magnitude about 2**{e}) overflow "
            f"{dist.dtype}; pass float64 data or rescale it"
        )
    return out


def as_knn(
    obj,
    k: Optional[int] = None,
    *,
    metric: str = "euclidean",
    n_threads=None,
    method: str = "exact",
    method_options: Optional[dict] = None,
) -> KNNResult:
    """Turn what a user holds into a :class:`KNNResult`.

    Parameters
    ----------
    obj : KNNResult, tuple, scipy.sparse matrix or array_like
        - a :class:`KNNResult` (its first `k` columns are used);
        - a tuple ``(indices, distances)`` of equal (m, k) shapes (a precomputed self-join over
          m points unless the indices say otherwise);
        - a scipy.sparse (m, n) kNN graph with at least `k` stored entries per row (explicit zeros
          count); entries on the diagonal of a square graph are treated as self and dropped;
        - otherwise vectors (an array, a memory map or a ``.npy`` path), whose kNN is computed
          with `metric`, `method` and `method_options` (see :func:`knn`).
    k : int, optional
        Neighbours per row (default: all that `obj` holds; required for vectors).
    """
    if method != "exact" and _is_knn_like(obj):
        check_method(method, method_options)
        raise ValueError("method='approximate' only applies to vectors, not precomputed neighbours")
    if isinstance(obj, KNNResult):
        return obj if k is None or k == obj.k else obj.head(k)
    if isinstance(obj, tuple) and len(obj) == 2:
        return _from_arrays(obj[0], obj[1], k)
    if sp.issparse(obj):
        return _from_sparse(obj, k)
    if k is None:
        raise ValueError("k is required when passing vectors")
    return knn(
        obj, k, metric=metric, n_threads=n_threads, method=method, method_options=method_options
    )


def _from_arrays(indices, distances, k) -> KNNResult:
    idx = np.asarray(indices)
    dist = np.asarray(distances)
    if idx.ndim != 2 or dist.shape != idx.shape:
        raise ValueError(
            f"indices and distances must be 2-D arrays of the same shape, got {idx.shape} and "
            f"{dist.shape}"
        )
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got dtype {idx.dtype}")
    if dist.dtype.kind not in "iuf":
        raise TypeError(f"distances must be real numbers, got dtype {dist.dtype}")
    dist = np.ascontiguousarray(dist, dtype=float_dtype(dist) if dist.dtype.kind == "f" else None)
    if dist.dtype.kind != "f":
        dist = dist.astype(np.float64)
    if not np.isfinite(dist).all():
        raise ValueError("distances contain NaN or infinite values")
    if idx.size and idx.min() < 0:
        raise ValueError("indices must be non-negative")
    if idx.size and int(idx.max()) >= MAX_INDEX:
        raise ValueError(
            f"indices must be below 2**40, got {int(idx.max())}: an index names a point of the "
            "indexed set, and counting occurrences over that many points is not possible"
        )
    m = idx.shape[0]
    n_index = max(m, int(idx.max()) + 1 if idx.size else 0)
    res = KNNResult(
        np.ascontiguousarray(idx, dtype=np.int64), dist, "precomputed", n_index, n_index == m
    )
    if k is not None:
        res = res.head(k)
    return res


def _from_sparse(graph, k) -> KNNResult:
    if graph.dtype.kind not in "iuf":
        raise TypeError(f"the graph must hold real numbers, got dtype {graph.dtype}")
    _check_structure(graph)  # before any conversion: scipy's can crash on a malformed matrix
    if graph.shape[1] >= MAX_INDEX:
        raise ValueError(f"the graph has {graph.shape[1]} columns; at most 2**40 are supported")
    g = sp.csr_matrix(graph, copy=True)
    m, n = g.shape
    square = m == n
    if square:
        rows = np.repeat(np.arange(m), np.diff(g.indptr))
        keep = g.indices != rows
        g = sp.csr_matrix((g.data[keep], g.indices[keep], _indptr(rows[keep], m)), shape=(m, n))
    counts = np.diff(g.indptr)
    kk = int(counts.min()) if m else 0
    if k is None:
        if m and kk == 0:
            raise ValueError(f"row {int(np.argmin(counts))} of the graph stores no neighbours")
        k = kk
    k = check_int(k, "k", low=1)
    if counts.min() < k:
        bad = int(np.argmin(counts))
        raise ValueError(
            f"row {bad} of the graph stores {counts[bad]} neighbours, fewer than k={k}"
        )
    data = g.data.astype(np.float64) if g.data.dtype.kind != "f" else g.data
    if not np.isfinite(data).all():
        raise ValueError("the graph contains NaN or infinite weights")
    idx = np.empty((m, k), dtype=np.int64)
    dist = np.empty((m, k), dtype=data.dtype)
    for i in range(m):
        lo, hi = g.indptr[i], g.indptr[i + 1]
        cols, vals = g.indices[lo:hi], data[lo:hi]
        order = np.lexsort((cols, vals))[:k]
        idx[i], dist[i] = cols[order], vals[order]
    return KNNResult(idx, dist, "precomputed", n, square)


def _indptr(rows: np.ndarray, m: int) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=m))])


def _is_knn_like(obj) -> bool:
    """True for the precomputed kNN forms accepted by `as_knn` (not vectors)."""
    is_pair = isinstance(obj, tuple) and len(obj) == 2
    return isinstance(obj, KNNResult) or is_pair or sp.issparse(obj)
