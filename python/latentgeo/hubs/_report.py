"""The one-call hubness report (:func:`hubness`, :class:`HubnessReport`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from .._json import plain
from .._validate import (
    check_choice,
    check_int,
    check_n_threads,
)
from ..neighbors._approx import ApproxInfo, check_method
from ..neighbors._knn import METRICS, _is_knn_like, _knn, as_data, as_knn, check_k
from ._reduction import REDUCTIONS, reduce_hubness
from ._scores import (
    _as_counts,
    _check_hub_size,
    _counts,
    _hub_indices,
    antihub_occurrence,
    atkinson,
    gini,
    groupie_ratio,
    hub_occurrence,
    robinhood,
    skewness,
)


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
    approx : ApproxInfo or None
        For an approximate kNN (``method="approximate"``): its backend and estimated recall
        (``approx.recall`` +- ``approx.recall_stderr``), which bounds how far the scores can be
        trusted; None for exact and precomputed neighbours.
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
    approx: Optional[ApproxInfo] = None

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
        """Plain-Python form for JSON: arrays become lists, NaN scores become None; ``approx``
        only for an approximate kNN."""
        out = {name: plain(getattr(self, name)) for name in self.__dataclass_fields__}
        del out["approx"]
        if self.approx is not None:
            out["approx"] = self.approx.to_dict()
        return out

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
        if self.approx is not None:
            a = self.approx
            lines.append(
                f"  approximate kNN      {a.backend}, recall@{self.k} {_fmt(a.recall)} "
                f"+- {_fmt(a.recall_stderr)} ({a.n_checked} rows checked exactly)"
            )
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
    method: str = "exact",
    method_options: Optional[dict] = None,
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
    method : {"exact", "approximate"}
        kNN method for vectors (see :func:`latentgeo.knn`). The approximate one is for a
        million points and more; its estimated recall is reported in ``approx``. Missed
        neighbours inflate the skewness and the antihub count (see the README).
    method_options : dict, optional
        Options of ``method="approximate"`` (see :func:`latentgeo.knn`).

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
    k = check_int(k, "k", low=1)
    if reduction is not None:
        reduction = check_choice(reduction, "reduction", REDUCTIONS)
    hub_size = _check_hub_size(hub_size)
    n_threads = check_n_threads(n_threads)
    method, options = check_method(method, method_options)
    if reduction_params is not None and reduction is None:
        raise ValueError("reduction_params were given without a reduction")
    if n_candidates is not None:
        if reduction is None:
            raise ValueError("n_candidates only applies with a reduction")
        n_candidates = check_int(n_candidates, "n_candidates", low=k)

    if _is_knn_like(X_or_knn):
        if method != "exact":
            raise ValueError(
                "method='approximate' only applies to vectors, not precomputed neighbours"
            )
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
        X = as_data(X_or_knn, "X")
        n = X.shape[0]
        check_k(k, n, exclude=True)
        metric = check_choice(metric, "metric", METRICS)
        if reduction is None:
            res = _knn(
                X,
                k,
                metric,
                n_threads=n_threads,
                progress=progress,
                method=method,
                options=options,
            )
        else:
            if n_candidates is None:
                n_candidates = max(k, min(max(3 * k, k + 10), n - 1))
            elif n_candidates > n - 1:
                raise ValueError(f"n_candidates={n_candidates} must be smaller than n={n}")
            candidates = _knn(
                X,
                n_candidates,
                metric,
                n_threads=n_threads,
                progress=progress,
                method=method,
                options=options,
            )

    if reduction is not None:
        res = reduce_hubness(candidates, reduction, k=k, X=X, **(reduction_params or {}))
        n_candidates = candidates.k
        base_metric = candidates.metric
        reduction = res.metric.split("(", 1)[0]
    else:
        base_metric = res.metric
    report = HubnessReport.from_k_occurrence(
        _counts(res),
        k,
        metric=base_metric,
        reduction=reduction,
        n_candidates=n_candidates,
        hub_size=hub_size,
    )
    approx = res.approx if reduction is None else candidates.approx
    return report if approx is None else replace(report, approx=approx)
