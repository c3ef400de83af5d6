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
    X,
    k: int = 10,
    *,
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
    X : inputs of :func:`latentgeo.scale.knn`, shape (n, d)
        The vectors (a self-join, each point excluded from its own list).
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
    opts = dict(metric=metric, block_rows=block_rows, split_every=split_every, n_threads=n_threads)
    if reduction is None:
        lazy = knn(X, k, **opts)
        nk = _counts(lazy, DEFAULT_SPLIT_EVERY if split_every is None else split_every)
        return dask.delayed(HubnessReport.from_k_occurrence, pure=True)(
            nk, k, metric=lazy.metric, reduction=None, n_candidates=None, hub_size=hub_size
        )
    from ._inputs import as_rows

    Xd = as_rows(X, "X", block_rows=block_rows)
    n = Xd.shape[0]
    if k > n - 1:
        raise ValueError(
            f"k={k} must be smaller than the number of points n={n} (each point is excluded "
            "from its own neighbours)"
        )
    if n_candidates is None:
        n_candidates = max(k, min(max(3 * k, k + 10), n - 1))
    elif n_candidates > n - 1:
        raise ValueError(f"n_candidates={n_candidates} must be smaller than n={n}")
    opts["block_rows"] = None  # Xd is a dask array already
    lazy = knn(Xd, n_candidates, **opts)
    vectors = Xd if reduction == "dissim" else None
    return dask.delayed(_reduced_report, pure=True)(
        lazy.indices, lazy.distances, lazy.metric, n, k, hub_size, reduction,
        reduction_params, vectors,
    )  # fmt: skip


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
    X,
    method: str,
    *,
    k: Optional[int] = None,
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
    X : inputs of :func:`latentgeo.scale.knn`, shape (n, d)
        The vectors; their exact self-join kNN (`n_candidates` per point, default
        ``max(3k, k + 10)`` capped at ``n - 1``) is computed on Dask.
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
    from ._inputs import as_rows

    Xd = as_rows(X, "X", block_rows=block_rows)
    n = Xd.shape[0]
    if n_candidates is None:
        if k is None:
            raise ValueError("k or n_candidates is required when passing vectors")
        n_candidates = max(k, min(max(3 * k, k + 10), n - 1))
    lazy = knn(Xd, n_candidates, metric=metric, split_every=split_every, n_threads=n_threads)
    vectors = Xd if method == "dissim" else None
    return dask.delayed(_reduced, pure=True)(
        lazy.indices, lazy.distances, lazy.metric, n, method, k, method_params, vectors
    )


def _reduced(idx, dist, metric, n, method, k, params, vectors):
    cand = KNNResult(aligned(idx), aligned(dist), metric, n, True)
    return _reduce_hubness(cand, method, k=k, X=vectors, **params)
