"""k-occurrence and the hubness report on Dask: N_k is a sum of per-block counts, and the report
is computed once, from the summed N_k, by the single-process code."""

from __future__ import annotations

from typing import Optional

import dask
import dask.array as da
import numpy as np

from .. import _core
from .._validate import check_choice, check_int
from ..hubs import REDUCTIONS, HubnessReport
from ..hubs import hubness as _hubness
from ..hubs import reduce_hubness as _reduce_hubness
from ..hubs._reduction import _ALIASES, _method_params
from ..hubs._scores import _check_hub_size
from ..neighbors import KNNResult
from ..neighbors._knn import check_k
from ._inputs import aligned
from ._knn import DEFAULT_SPLIT_EVERY, LazyKNN, knn


def k_occurrence(
    knn_or_X,
    k: Optional[int] = None,
    *,
    metric: str = "euclidean",
    block_rows: Optional[int] = None,
    split_every: Optional[int] = None,
    n_threads: Optional[int] = None,
) -> da.Array:
    """:func:`latentgeo.k_occurrence` on Dask: ``N_k`` as a lazy int64 array of shape (n,).

    Parameters
    ----------
    knn_or_X : LazyKNN or the inputs of :func:`latentgeo.scale.knn`
        A lazy kNN (its first `k` columns are counted) or vectors, whose exact self-join kNN is
        computed (each point excluded from its own list).
    k : int, optional
        Neighbours per list; required for vectors.
    metric, block_rows, split_every, n_threads
        As in :func:`latentgeo.scale.knn`.

    Returns
    -------
    dask.array.Array of int64, shape (n,)
        One chunk: the sum of one ``bincount`` per query block (tree-reduced), equal to
        ``latentgeo.k_occurrence`` on the same data.

    Examples
    --------
    >>> import numpy as np, dask.array as da, latentgeo.scale
    >>> star = da.from_array(np.vstack([np.zeros(4), np.eye(4)]), chunks=(2, 4))
    >>> latentgeo.scale.k_occurrence(star, 1).compute(scheduler="synchronous").tolist()
    [4, 1, 0, 0, 0]
    """
    lazy = _as_lazy(knn_or_X, k, metric, block_rows, split_every, n_threads)
    if not lazy.self_join:
        raise ValueError(
            "k_occurrence counts a self-join; this LazyKNN was computed for separate queries"
        )
    return _counts(lazy, DEFAULT_SPLIT_EVERY if split_every is None else split_every)


def _as_lazy(knn_or_X, k, metric, block_rows, split_every, n_threads) -> LazyKNN:
    if isinstance(knn_or_X, LazyKNN):
        if k is None:
            return knn_or_X
        k = check_int(k, "k", low=1, high=knn_or_X.k)
        lazy = knn_or_X
        return LazyKNN(
            lazy.indices[:, :k], lazy.distances[:, :k], lazy.metric, lazy.n_index, lazy.self_join
        )
    if k is None:
        raise ValueError("k is required when passing vectors")
    return knn(
        knn_or_X,
        k,
        metric=metric,
        block_rows=block_rows,
        split_every=split_every,
        n_threads=n_threads,
    )


def _counts(lazy: LazyKNN, split: int) -> da.Array:
    n = lazy.n_index
    count = dask.delayed(_block_counts, pure=True)
    add = dask.delayed(_add, pure=True)
    parts = [count(b, n) for b in lazy.indices.to_delayed().ravel()]
    while len(parts) > 1:
        parts = [
            add(parts[i : i + split]) if len(parts[i : i + split]) > 1 else parts[i]
            for i in range(0, len(parts), split)
        ]
    return da.from_delayed(parts[0], shape=(n,), dtype=np.int64)


def _block_counts(indices: np.ndarray, n: int) -> np.ndarray:
    return _core.k_occurrence(aligned(indices, np.int64), n_index=n)


def _add(parts) -> np.ndarray:
    out = parts[0].copy()
    for p in parts[1:]:
        out += p
    return out


def hubness(
    X_or_knn,
    k: int = 10,
    *,
    X=None,
    metric: str = "euclidean",
    hub_size: float = 2.0,
    reduction: Optional[str] = None,
    reduction_params: Optional[dict] = None,
    n_candidates: Optional[int] = None,
    block_rows: Optional[int] = None,
    split_every: Optional[int] = None,
    n_threads: Optional[int] = None,
):
    """:func:`latentgeo.hubness` of vectors on Dask, as a delayed :class:`HubnessReport`.

    Parameters
    ----------
    X_or_knn : LazyKNN or the inputs of :func:`latentgeo.scale.knn`, shape (n, d)
        The vectors (a self-join, each point excluded from its own list), or a self-join
        :class:`LazyKNN` already built (its first `k` columns are scored; with a reduction,
        its first `n_candidates` columns, default all, are re-ranked).
    X : inputs of :func:`latentgeo.scale.knn`, optional
        The vectors of a `LazyKNN`, for the ``"dissim"`` reduction.
    k, metric, hub_size, reduction, reduction_params, n_candidates
        As in :func:`latentgeo.hubness`. Without a reduction, N_k is summed from per-block counts
        and only that vector reaches the final task; a reduction needs every candidate list of
        every point, so the final task gathers the ``n x n_candidates`` table (and, for
        ``"dissim"``, the vectors) as the single-process call holds them.
    block_rows, split_every, n_threads
        As in :func:`latentgeo.scale.knn`.

    Returns
    -------
    dask.delayed.Delayed
        ``.compute()`` gives the report ``latentgeo.hubness`` returns (equal field by field).

    Examples
    --------
    >>> import numpy as np, dask.array as da, latentgeo.scale
    >>> star = da.from_array(np.vstack([np.zeros(4), np.eye(4)]), chunks=(2, 4))
    >>> report = latentgeo.scale.hubness(star, k=1).compute(scheduler="synchronous")
    >>> report.k_occurrence.tolist(), round(report.robinhood, 3)
    ([4, 1, 0, 0, 0], 0.6)
    """
    k = check_int(k, "k", low=1)
    hub_size = _check_hub_size(hub_size)
    if reduction is not None:
        reduction = check_choice(reduction, "reduction", REDUCTIONS)
    if reduction_params is not None and reduction is None:
        raise ValueError("reduction_params were given without a reduction")
    if n_candidates is not None:
        if reduction is None:
            raise ValueError("n_candidates only applies with a reduction")
        n_candidates = check_int(n_candidates, "n_candidates", low=k)
    split = DEFAULT_SPLIT_EVERY if split_every is None else split_every
    if isinstance(X_or_knn, LazyKNN):
        lazy = _stored(X_or_knn, k)
        if reduction is None:
            lazy = _as_lazy(lazy, k, metric, block_rows, split_every, n_threads)
        else:
            lazy, X = _candidates(lazy, n_candidates, k, X, block_rows)
    else:
        if X is not None:
            raise ValueError("X= is only for a LazyKNN; vectors were passed already")
        Xd = _vectors(X_or_knn, None, block_rows)
        n = Xd.shape[0]
        check_k(k, n, exclude=True)
        if reduction is not None:
            if n_candidates is None:
                n_candidates = max(k, min(max(3 * k, k + 10), n - 1))
            elif n_candidates > n - 1:
                raise ValueError(f"n_candidates={n_candidates} must be smaller than n={n}")
        lazy = knn(Xd, k if reduction is None else n_candidates, metric=metric,
                   split_every=split_every, n_threads=n_threads)  # fmt: skip
        X = Xd
    if reduction is None:
        return dask.delayed(HubnessReport.from_k_occurrence, pure=True)(
            _counts(lazy, split), k, metric=lazy.metric, reduction=None, n_candidates=None,
            hub_size=hub_size,
        )  # fmt: skip
    if reduction == "dissim" and X is None:
        raise ValueError("the 'dissim' reduction needs the vectors: pass X=")
    vectors = X if reduction == "dissim" else None
    return dask.delayed(_reduced_report, pure=True)(
        lazy.indices, lazy.distances, lazy.metric, lazy.n_index, k, hub_size, reduction,
        reduction_params, vectors,
    )  # fmt: skip


def _stored(lazy: LazyKNN, k: int, name: str = "k") -> LazyKNN:
    """A self-join LazyKNN with at least `k` columns (ValueError naming `name` otherwise)."""
    if not lazy.self_join:
        raise ValueError(
            "hubness needs a self-join; this LazyKNN was computed for separate queries"
        )
    if k > lazy.k:
        raise ValueError(f"{name}={k} exceeds the {lazy.k} neighbours stored per row")
    return lazy


def _candidates(lazy: LazyKNN, n_candidates, least: int, X, block_rows):
    """The first `n_candidates` columns (default all, at least `least`) of a self-join
    LazyKNN, and its vectors `X` as row-chunked dask rows (None when not given)."""
    lazy = _stored(lazy, least if n_candidates is None else n_candidates, "n_candidates")
    if n_candidates is not None:
        lazy = _as_lazy(lazy, n_candidates, None, None, None, None)
    return lazy, None if X is None else _vectors(X, lazy, block_rows)


def _vectors(X, lazy: Optional[LazyKNN], block_rows) -> da.Array:
    """`X` as row-chunked dask vectors (as many rows as `lazy` has points, when given)."""
    from ._inputs import as_rows

    Xd = as_rows(X, "X", block_rows=block_rows)
    if lazy is not None and Xd.shape[0] != lazy.n_index:
        raise ValueError(f"X has {Xd.shape[0]} rows but the kNN indexes {lazy.n_index} points")
    return Xd


def _reduced_report(idx, dist, metric, n, k, hub_size, reduction, params, vectors):
    cand = KNNResult(aligned(idx), aligned(dist), metric, n, True)
    return _hubness(
        cand,
        k,
        hub_size=hub_size,
        reduction=reduction,
        reduction_params=params,
        X=vectors,
    )


def reduce_hubness(
    knn_or_X,
    method: str,
    *,
    k: Optional[int] = None,
    X=None,
    metric: str = "euclidean",
    n_candidates: Optional[int] = None,
    block_rows: Optional[int] = None,
    split_every: Optional[int] = None,
    n_threads: Optional[int] = None,
    **method_params,
):
    """:func:`latentgeo.reduce_hubness` of vectors on Dask, as a delayed :class:`KNNResult`.

    Parameters
    ----------
    knn_or_X : LazyKNN or the inputs of :func:`latentgeo.scale.knn`, shape (n, d)
        A self-join :class:`LazyKNN` (its first `n_candidates` columns, default all, are
        re-ranked), or the vectors, whose exact self-join kNN (`n_candidates` per point,
        default ``max(3k, k + 10)`` capped at ``n - 1``) is computed on Dask.
    X : inputs of :func:`latentgeo.scale.knn`, optional
        The vectors of a `LazyKNN`, for ``"dissim"``.
    method, k, metric, n_candidates, **method_params
        As in :func:`latentgeo.reduce_hubness`. The re-ranking needs every point's candidate
        list, so its task gathers the ``n x n_candidates`` table (and, for ``"dissim"``, the
        vectors), as the single-process call holds them.
    block_rows, split_every, n_threads
        As in :func:`latentgeo.scale.knn`.

    Returns
    -------
    dask.delayed.Delayed
        ``.compute()`` gives the :class:`latentgeo.KNNResult` of ``latentgeo.reduce_hubness``.
    """
    method = check_choice(method, "method", REDUCTIONS)
    _method_params(_ALIASES.get(method, method), method_params)  # unknown parameters: now
    if k is not None:
        k = check_int(k, "k", low=1)
    if isinstance(knn_or_X, LazyKNN):
        lazy, X = _candidates(knn_or_X, n_candidates, 1, X, block_rows)
    else:
        if X is not None:
            raise ValueError("X= is only for a LazyKNN; vectors were passed already")
        X = _vectors(knn_or_X, None, block_rows)
        n = X.shape[0]
        if n_candidates is None:
            if k is None:
                raise ValueError("k or n_candidates is required when passing vectors")
            n_candidates = max(k, min(max(3 * k, k + 10), n - 1))
        lazy = knn(X, n_candidates, metric=metric, split_every=split_every, n_threads=n_threads)
    if method == "dissim" and X is None:
        raise ValueError("the 'dissim' reduction needs the vectors: pass X=")
    vectors = X if method == "dissim" else None
    return dask.delayed(_reduced, pure=True)(
        lazy.indices, lazy.distances, lazy.metric, lazy.n_index, method, k, method_params, vectors
    )


def _reduced(idx, dist, metric, n, method, k, params, vectors):
    cand = KNNResult(aligned(idx), aligned(dist), metric, n, True)
    return _reduce_hubness(cand, method, k=k, X=vectors, **params)
