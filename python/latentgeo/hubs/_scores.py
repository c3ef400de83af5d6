"""Hubness: k-occurrence, the scores computed from it, and a one-call report.

N_k(x), the k-occurrence of an indexed point x, is the number of query rows whose k-NN list
contains x. In a self-join every point is left out of its own list (by index, so duplicates still
count), hence ``sum(N_k) == n * k`` and the mean of N_k is k. The scores follow the definitions
of scikit-hubness (``skhubness.analysis.Hubness``) without its self-counting defect.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .. import _core
from .._validate import (
    check_int,
    check_real,
)
from ..neighbors._knn import KNNResult, as_knn


def _check_no_self(res: KNNResult) -> None:
    """Refuse a self-join table that lists points as their own neighbours (they would count)."""
    if not res.self_join:
        return
    own = res.indices == np.arange(res.n_queries)[:, None]
    if own.any():
        row = int(np.argmax(own.any(axis=1)))
        raise ValueError(
            f"row {row} of the neighbour table lists point {row} as its own neighbour; in a "
            "self-join each point must be left out of its own list (drop that column, or compute "
            "k+1 neighbours and remove self by index). If the queries are a different set that "
            "merely has as many points as the index, pass KNNResult(..., self_join=False)."
        )


def _counts(res: KNNResult) -> np.ndarray:
    _check_no_self(res)
    idx = np.ascontiguousarray(res.indices, dtype=np.int64)
    return _core.k_occurrence(idx, n_index=res.n_index)


def k_occurrence(
    knn_or_X,
    k: Optional[int] = None,
    *,
    metric: str = "euclidean",
    n_threads=None,
    method: str = "exact",
    method_options: Optional[dict] = None,
):
    """Count how often each indexed point occurs in the k-NN lists of the queries.

    Parameters
    ----------
    knn_or_X : KNNResult, tuple, scipy.sparse matrix or array_like
        A precomputed kNN (a :class:`KNNResult`, an ``(indices, distances)`` tuple or a sparse kNN
        graph; see :func:`latentgeo.as_knn`) or vectors of shape (n, d), whose exact self-join
        kNN is computed.
    k : int, optional
        Neighbours per list. Required for vectors; for a precomputed kNN the first `k` columns
        are used (default: all of them).
    metric : str
        Metric for vectors (see :func:`latentgeo.knn`); ignored for a precomputed kNN.
    n_threads : int, optional
        Threads for the kNN search (default: all cores).
    method, method_options
        Exact or approximate kNN of vectors (see :func:`latentgeo.knn`).

    Returns
    -------
    ndarray of int64, shape (n_index,)
        ``N_k[x] = #{query rows q : x in kNN(q)}``. Its sum is ``n_queries * k``.

    Raises
    ------
    ValueError
        If a self-join table lists a point as its own neighbour (that is the self-counting bug of
        scikit-hubness' vector input, which reports ``1 + N_{k-1}``).

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> star = np.vstack([np.zeros(4), np.eye(4)])
    >>> latentgeo.k_occurrence(star, 1).tolist()
    [4, 1, 0, 0, 0]
    """
    res = as_knn(
        knn_or_X,
        k,
        metric=metric,
        n_threads=n_threads,
        method=method,
        method_options=method_options,
    )
    return _counts(res)


def _as_counts(nk) -> np.ndarray:
    arr = np.asarray(nk)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"k-occurrences must be real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"k-occurrences must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("k-occurrences are empty")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("k-occurrences contain NaN or infinite values")
    if arr.min() < 0:
        raise ValueError("k-occurrences must be non-negative")
    return arr


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den != 0 else math.nan


def skewness(nk, unbiased: bool = False) -> float:
    """Skewness of the k-occurrence distribution, the classic hubness score.

    ``g1 = m3 / m2**1.5`` with the biased central moments ``m_r = mean((N - mean(N))**r)``: the
    convention of ``scipy.stats.skew`` and scikit-hubness' ``k_skewness``. With
    ``unbiased=True``, the adjusted Fisher-Pearson coefficient
    ``G1 = g1 * sqrt(n (n - 1)) / (n - 2)`` (``scipy.stats.skew(bias=False)``).

    Parameters
    ----------
    nk : array_like, shape (n,)
        k-occurrences.
    unbiased : bool
        Return G1 instead of g1.

    Returns
    -------
    float
        NaN when all N_k are equal (e.g. k = n - 1), where skewness is undefined; with
        ``unbiased=True`` also NaN for n < 3.
    """
    x = _as_counts(nk)
    n = x.size
    dev = x - x.mean()
    m2 = float(np.mean(dev**2))
    if m2 == 0:
        return math.nan
    g1 = float(np.mean(dev**3)) / m2**1.5
    if not unbiased:
        return g1
    if n < 3:
        return math.nan
    return g1 * math.sqrt(n * (n - 1)) / (n - 2)


def robinhood(nk) -> float:
    """Robin Hood (Hoover) index of the k-occurrences.

    ``H = (1/2) * sum_i |N_i - mean(N)| / sum_i N_i``: the share of all neighbour slots that would
    have to move for every point to occur equally often. 0 = no hubness, towards 1 = extreme.
    NaN when ``sum(N) == 0``.
    """
    x = _as_counts(nk)
    return _ratio(0.5 * np.abs(x - x.mean()).sum(), x.sum())


def gini(nk) -> float:
    """Gini index of the k-occurrences, by the O(n log n) sorted formula.

    With N sorted ascending, ``G = sum_{i=1..n} (2i - n - 1) N_(i) / (n * sum(N))``, which equals
    the double sum ``sum_i sum_j |N_i - N_j| / (2 n sum(N))`` used by scikit-hubness in O(n^2).
    NaN when ``sum(N) == 0``.
    """
    x = np.sort(_as_counts(nk))
    n = x.size
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    return _ratio(float(weights @ x), n * x.sum())


def atkinson(nk, eps: float = 0.5) -> float:
    """Atkinson index of the k-occurrences.

    ``A = 1 - M_{1-eps}(N) / mean(N)`` with the power mean
    ``M_p(N) = mean(N**p)**(1/p)``; for ``eps = 1`` the geometric mean ``exp(mean(log N))``.
    Any ``N_i = 0`` makes ``M_p = 0`` (so ``A = 1``) for ``eps >= 1``. NaN when ``mean(N) == 0``.

    Parameters
    ----------
    nk : array_like, shape (n,)
        k-occurrences.
    eps : float
        Inequality aversion, ``eps >= 0`` (scikit-hubness uses 0.5).
    """
    x = _as_counts(nk)
    eps = check_real(eps, "eps", low=0)
    mean = x.mean()
    if mean == 0:
        return math.nan
    p = 1.0 - float(eps)
    if p <= 0 and (x == 0).any():
        power_mean = 0.0
    elif p == 0:
        power_mean = float(np.exp(np.mean(np.log(x))))
    else:
        power_mean = float(np.mean(x**p) ** (1.0 / p))
    return 1.0 - power_mean / mean


def _check_hub_size(hub_size) -> float:
    return check_real(hub_size, "hub_size", low=0, low_open=True)


def hub_occurrence(nk, k: int, hub_size: float = 2.0) -> float:
    """Share of all neighbour slots taken by hubs.

    Hubs are the points with ``N_i >= hub_size * k``. scikit-hubness' docstring says ``>`` but its
    code uses ``>=``; we follow the code. The score is ``sum_{hubs} N_i / sum_i N_i``, which equals
    scikit-hubness' ``sum_{hubs} N_i / (k * n_queries)`` because ``sum(N) = n_queries * k``.
    NaN when ``sum(N) == 0``.
    """
    x = _as_counts(nk)
    k = check_int(k, "k", low=1)
    threshold = _check_hub_size(hub_size) * k
    return _ratio(x[x >= threshold].sum(), x.sum())


def antihub_occurrence(nk) -> float:
    """Fraction of indexed points that are antihubs: ``#{i : N_i = 0} / n``."""
    x = _as_counts(nk)
    return float(np.count_nonzero(x == 0) / x.size)


def groupie_ratio(nk) -> float:
    """Share of all neighbour slots taken by the largest hub: ``max(N) / sum(N)``.

    Equal to scikit-hubness' ``max(N) / (n_queries * k)``. NaN when ``sum(N) == 0``.
    """
    x = _as_counts(nk)
    return _ratio(x.max(), x.sum())


def _hub_indices(nk: np.ndarray, k: int, hub_size: float) -> np.ndarray:
    """Indices with ``N >= hub_size * k``, by N descending, then index ascending."""
    idx = np.flatnonzero(nk >= hub_size * k)
    return idx[np.lexsort((idx, -nk[idx]))].astype(np.int64)
