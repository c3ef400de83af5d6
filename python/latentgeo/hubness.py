"""Hubness: k-occurrence, the scores computed from it, and a one-call report.

N_k(x), the k-occurrence of an indexed point x, is the number of query rows whose k-NN list
contains x. In a self-join every point is left out of its own list (by index, so duplicates still
count), hence ``sum(N_k) == n * k`` and the mean of N_k is k. The scores follow the definitions
of scikit-hubness (``skhubness.analysis.Hubness``) without its self-counting defect.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp

from . import _core
from ._validate import as_float_matrix, check_choice, check_int, check_n_threads
from .knn import KNNResult, as_knn, knn

__all__ = [
    "k_occurrence",
    "skewness",
    "robinhood",
    "gini",
    "atkinson",
    "hub_occurrence",
    "antihub_occurrence",
    "groupie_ratio",
    "hubness",
    "HubnessReport",
]


def _is_knn_like(obj) -> bool:
    """True for the precomputed kNN forms accepted by `as_knn` (not vectors)."""
    is_pair = isinstance(obj, tuple) and len(obj) == 2
    return isinstance(obj, KNNResult) or is_pair or sp.issparse(obj)


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
    return _core.k_occurrence(idx, res.n_index)


def k_occurrence(knn_or_X, k: Optional[int] = None, *, metric: str = "euclidean", n_threads=None):
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
    return _counts(as_knn(knn_or_X, k, metric=metric, n_threads=n_threads))


# ---------------------------------------------------------------------------------------------
# Scores: pure functions of the k-occurrence vector.


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
    if not isinstance(eps, numbers.Real) or not eps >= 0 or not math.isfinite(eps):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
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
    if not isinstance(hub_size, numbers.Real) or not hub_size > 0 or not math.isfinite(hub_size):
        raise ValueError(f"hub_size must be a finite number > 0, got {hub_size!r}")
    return float(hub_size)


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


# ---------------------------------------------------------------------------------------------
# The report.


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass(frozen=True, eq=False)
class HubnessReport:
    """Hubness of one kNN graph: the k-occurrences and every score computed from them.

    Attributes
    ----------
    k : int
        Neighbours per list.
    n : int
        Number of indexed points (the length of `k_occurrence`).
    metric : str
        Metric of the underlying kNN (``"precomputed"`` for user-supplied tables).
    reduction : str or None
        Hubness reduction applied before counting (see :func:`latentgeo.reduce_hubness`).
    n_candidates : int or None
        Candidates per point that the reduction re-ranked (None without reduction).
    k_occurrence : ndarray of int64, shape (n,)
        N_k of every indexed point.
    skewness, skewness_unbiased : float
        :func:`skewness` with biased moments (scipy.stats.skew, scikit-hubness) and adjusted.
    robinhood, gini, atkinson : float
        :func:`robinhood`, :func:`gini`, :func:`atkinson` (eps = 0.5).
    hub_occurrence, antihub_occurrence, groupie_ratio : float
        :func:`hub_occurrence`, :func:`antihub_occurrence`, :func:`groupie_ratio`.
    hubs : ndarray of int64
        Points with ``N_k >= hub_size * k``, by N_k descending, then index ascending.
    antihubs : ndarray of int64
        Points with ``N_k == 0``, ascending.
    hub_size : float
        The hub threshold factor.
    """

    k: int
    n: int
    metric: str
    reduction: Optional[str]
    n_candidates: Optional[int]
    k_occurrence: np.ndarray
    skewness: float
    skewness_unbiased: float
    robinhood: float
    gini: float
    atkinson: float
    hub_occurrence: float
    antihub_occurrence: float
    groupie_ratio: float
    hubs: np.ndarray
    antihubs: np.ndarray
    hub_size: float

    @classmethod
    def from_k_occurrence(
        cls,
        nk,
        k: int,
        *,
        metric: str = "precomputed",
        reduction: Optional[str] = None,
        n_candidates: Optional[int] = None,
        hub_size: float = 2.0,
    ) -> "HubnessReport":
        """Compute every score from a k-occurrence vector."""
        nk = np.asarray(nk)
        _as_counts(nk)
        if nk.dtype.kind not in "iu":
            raise TypeError(f"k-occurrences must be integers here, got dtype {nk.dtype}")
        nk = nk.astype(np.int64)
        k = check_int(k, "k", low=1)
        hub_size = _check_hub_size(hub_size)
        return cls(
            k=k,
            n=int(nk.size),
            metric=metric,
            reduction=reduction,
            n_candidates=n_candidates,
            k_occurrence=nk,
            skewness=skewness(nk),
            skewness_unbiased=skewness(nk, unbiased=True),
            robinhood=robinhood(nk),
            gini=gini(nk),
            atkinson=atkinson(nk),
            hub_occurrence=hub_occurrence(nk, k, hub_size),
            antihub_occurrence=antihub_occurrence(nk),
            groupie_ratio=groupie_ratio(nk),
            hubs=_hub_indices(nk, k, hub_size),
            antihubs=np.flatnonzero(nk == 0).astype(np.int64),
            hub_size=hub_size,
        )

    def to_dict(self) -> dict:
        """Plain-Python form for JSON: arrays become lists, NaN scores become None."""
        return {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}

    def summary(self) -> str:
        """A short human-readable multi-line description."""
        red = "none" if self.reduction is None else f"{self.reduction} ({self.n_candidates} cand.)"
        nk = self.k_occurrence
        top = int(self.hubs[0]) if self.hubs.size else int(np.argmax(nk))
        lines = [
            f"hubness: n={self.n}, k={self.k}, metric={self.metric}, reduction={red}",
            f"  skewness of N_k      {_fmt(self.skewness)} "
            f"(unbiased {_fmt(self.skewness_unbiased)})",
            f"  Robin Hood index     {_fmt(self.robinhood)}",
            f"  Gini index           {_fmt(self.gini)}",
            f"  Atkinson (eps=0.5)   {_fmt(self.atkinson)}",
            f"  hubs (N_k >= {self.hub_size * self.k:g})    {self.hubs.size} points "
            f"({100 * self.hubs.size / self.n:.1f} %), "
            f"{100 * _nan0(self.hub_occurrence):.1f} % of neighbour slots",
            f"  antihubs (N_k = 0)   {self.antihubs.size} points "
            f"({100 * self.antihub_occurrence:.1f} %)",
            f"  largest N_k          {int(nk[top])} (point {top}; groupie ratio "
            f"{_fmt(self.groupie_ratio)})",
        ]
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.4f}"


def _nan0(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def hubness(
    X_or_knn,
    k: int = 10,
    *,
    metric: str = "euclidean",
    hub_size: float = 2.0,
    reduction: Optional[str] = None,
    reduction_params: Optional[dict] = None,
    n_candidates: Optional[int] = None,
    X=None,
    n_threads: Optional[int] = None,
    progress: bool = False,
) -> HubnessReport:
    """Measure hubness: k-occurrences and every score, optionally after hubness reduction.

    Parameters
    ----------
    X_or_knn : array_like or KNNResult, tuple, scipy.sparse matrix
        Vectors of shape (n, d), whose exact self-join kNN is computed (self excluded by index),
        or a precomputed kNN accepted by :func:`latentgeo.as_knn`.
    k : int
        Neighbours per list, ``1 <= k <= n - 1`` (for a precomputed kNN at most the stored
        neighbours per row).
    metric : str
        Metric for vectors (see :func:`latentgeo.knn`); ignored for a precomputed kNN.
    hub_size : float
        Hubs are the points with ``N_k >= hub_size * k``.
    reduction : str, optional
        A method of :func:`latentgeo.reduce_hubness` (``"mp"``, ``"mp_empiric"``, ``"ls"``,
        ``"nicdm"``, ``"csls"``, ``"dissim"``). The candidates are re-ranked by the reduced
        dissimilarity and the first `k` are scored.
    reduction_params : dict, optional
        Keyword parameters of the reduction method (e.g. ``{"ls_k": 7}``).
    n_candidates : int, optional
        Candidates per point that the reduction re-ranks. For vectors the exact
        ``n_candidates`` nearest neighbours are computed, default ``max(3k, k + 10)`` capped at
        ``n - 1``; for a precomputed kNN the default is every stored column.
    X : array_like, optional
        Vectors of the indexed points, for a reduction that needs them (``"dissim"``) when
        `X_or_knn` is a precomputed kNN.
    n_threads : int, optional
        Threads for the kNN search (default: all cores).
    progress : bool
        Show a progress bar for the kNN search.

    Returns
    -------
    HubnessReport

    Raises
    ------
    ValueError
        For k outside its range, NaN or non-2-D vectors, an unknown reduction, `n_candidates` or
        `reduction_params` without a reduction, or a reduction that needs vectors without `X`.
    TypeError
        For a non-integer k or a parameter the reduction does not take.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> star = np.vstack([np.zeros(4), np.eye(4)])
    >>> report = latentgeo.hubness(star, k=1)
    >>> report.k_occurrence.tolist(), round(report.robinhood, 3)
    ([4, 1, 0, 0, 0], 0.6)
    """
    from .reduction import REDUCTIONS, reduce_hubness

    k = check_int(k, "k", low=1)
    if reduction is not None:
        reduction = check_choice(reduction, "reduction", REDUCTIONS)
    hub_size = _check_hub_size(hub_size)
    n_threads = check_n_threads(n_threads)
    if reduction_params is not None and reduction is None:
        raise ValueError("reduction_params were given without a reduction")
    if n_candidates is not None:
        if reduction is None:
            raise ValueError("n_candidates only applies with a reduction")
        n_candidates = check_int(n_candidates, "n_candidates", low=k)

    if _is_knn_like(X_or_knn):
        stored = as_knn(X_or_knn)
        if k > stored.k:
            raise ValueError(f"k={k} exceeds the {stored.k} neighbours stored per row")
        if reduction is None:
            res = stored.head(k)
        else:
            candidates = stored if n_candidates is None else as_knn(stored, n_candidates)
    else:
        if X is not None:
            raise ValueError("X= is only for a precomputed kNN; vectors were passed already")
        X = as_float_matrix(X_or_knn, "X")
        n = X.shape[0]
        if k > n - 1:
            raise ValueError(
                f"k={k} must be smaller than the number of points n={n} (each point is "
                "excluded from its own neighbours)"
            )
        if reduction is None:
            res = knn(X, k, metric=metric, n_threads=n_threads, progress=progress)
        else:
            if n_candidates is None:
                n_candidates = max(k, min(max(3 * k, k + 10), n - 1))
            elif n_candidates > n - 1:
                raise ValueError(f"n_candidates={n_candidates} must be smaller than n={n}")
            candidates = knn(X, n_candidates, metric=metric, n_threads=n_threads, progress=progress)

    if reduction is not None:
        res = reduce_hubness(candidates, reduction, k=k, X=X, **(reduction_params or {}))
        n_candidates = candidates.k
        base_metric = candidates.metric
        reduction = res.metric.split("(", 1)[0]
    else:
        base_metric = res.metric
    return HubnessReport.from_k_occurrence(
        _counts(res),
        k,
        metric=base_metric,
        reduction=reduction,
        n_candidates=n_candidates,
        hub_size=hub_size,
    )
