"""Geodesic centre scoring (GeoSumm) and extractive selection on kNN graphs.

GeoSumm (Basu Roy Chowdhury, Monath, Dubey, Ahmed, Chaturvedi, "Unsupervised Opinion
Summarization Using Approximate Geodesics", arXiv 2209.07496, Findings of EMNLP 2023) scores each
text t by ``1 / d(t, c)``, where ``c`` is a "centre" (e.g. the mean representation) and ``d`` is
an approximate geodesic: shortest-path length on a distance-weighted kNN graph (Isomap steps 1-2).
The centre is not a data point; it is inserted as a virtual node joined to its k nearest points,
which is Isomap's out-of-sample rule ``d(c, j) = min_n [||c - n|| + D(n, j)]`` over the k nearest
neighbours n of c, D being the graph geodesic.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

from .._validate import (
    as_float_matrix,
    check_choice,
    check_int,
    check_n_threads,
)
from ..neighbors._components import COMPONENT_POLICIES, _handle_components
from ..neighbors._gate import as_graph
from ..neighbors._graph import _apply_weight, _check_metric, _check_weight, _graph_from_knn
from ..neighbors._knn import _knn
from ._dijkstra import geodesic


def _scores_from_distances(dist: np.ndarray) -> np.ndarray:
    """1 / d, with inf where d == 0 and 0 where d == inf."""
    with np.errstate(divide="ignore"):
        return np.divide(1.0, dist)


def geodesic_scores(
    X,
    centres,
    k: int = 10,
    *,
    metric: str = "euclidean",
    graph=None,
    weight="distance",
    policy: str = "inf",
    n_threads: Optional[int] = None,
    return_distances: bool = False,
):
    """GeoSumm geodesic scores ``1 / d(c, j)`` of every point j for each centre c.

    Each centre is inserted as an extra node of the kNN graph of `X`, joined by edges going
    from the centre to its `k` nearest points of `X` (exact :func:`latentgeo.knn`, weighted like
    the graph). One Dijkstra pass per centre (:func:`latentgeo.geodesic`, centres in parallel)
    then gives Isomap's out-of-sample distance

        d(c, j) = min over the k nearest neighbours n of c of [w(c, n) + D(n, j)],

    D being the geodesic on the graph of `X`. Centres have no incoming edges, so no path passes
    through another centre. See GeoSumm, arXiv 2209.07496, and the module docstring.

    Parameters
    ----------
    X : array_like, shape (n, d)
        The points (e.g. sentence representations).
    centres : array_like, shape (c, d) or (d,)
        Centre vectors; they need not be points of `X`.
    k : int
        Neighbours per point in the graph (``graph=None``) and of each centre;
        ``1 <= k <= n - 1``.
    metric : {"euclidean", "sqeuclidean", "cosine"}
        Distance for the graph (``graph=None``) and the centre edges.
    graph : scipy.sparse matrix, shape (n, n), optional
        A graph over the points of `X` to use instead of ``latentgeo.knn_graph(X, k,
        metric=metric, weight=weight)``. It is treated as undirected (union of both directions,
        the smaller weight kept), as :func:`latentgeo.geodesic` does by default.
    weight : {"distance", "unit"} or float
        Edge weights as in :func:`latentgeo.knn_graph`; applied to the centre edges, and to the
        graph when it is built here.
    policy : {"inf", "raise", "connect", "largest"}
        What to do when the graph of `X` is disconnected; see :func:`handle_components`.
        With ``"largest"``, centres are joined to their `k` nearest points of the largest
        component only, and the other points get distance ``inf`` (score 0).
    n_threads : int, optional
        Threads (default: all cores). Results do not depend on it.
    return_distances : bool
        Also return the geodesic distances.

    Returns
    -------
    scores : ndarray of float64, shape (c, n), or (n,) for a 1-D `centres`
        ``1 / d(c, j)``: ``inf`` where the distance is 0 (a centre on a data point, or joined to
        it by zero-weight edges), 0 where j is unreachable.
    distances : ndarray of float64, same shape, only if `return_distances`
        d(c, j); ``inf`` when unreachable.

    Raises
    ------
    ValueError
        ``k >= n``, a feature-count mismatch between `X` and `centres`, a graph of the wrong
        size, an unknown policy or metric, or ``policy="raise"`` on a disconnected graph.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> latentgeo.geodesic_scores(X, [0.25], k=1, return_distances=True)[1].tolist()
    [0.25, 1.25, 2.25, 3.25]
    """
    X = as_float_matrix(X, "X")
    C = np.asarray(centres)
    single = C.ndim == 1
    C = as_float_matrix(C[None, :] if single else C, "centres")
    scores, dist = _geodesic_scores(X, C, k, metric, graph, weight, policy, n_threads)
    if single:
        scores, dist = scores[0], dist[0]
    return (scores, dist) if return_distances else scores


def _geodesic_scores(X, C, k, metric, graph, weight, policy, n_threads):
    """``(scores, distances)``, both (c, n), of :func:`geodesic_scores` for checked matrices `X`
    (n, d) and `C` (c, d); the other arguments are checked here."""
    policy = check_choice(policy, "policy", COMPONENT_POLICIES)
    metric = _check_metric(metric)
    power = _check_weight(weight)
    n_threads = check_n_threads(n_threads)
    n, d = X.shape
    if C.shape[1] != d:
        raise ValueError(
            f"centres have {C.shape[1]} features but X has {d}; they must have the same dimension"
        )
    k = check_int(k, "k", low=1)
    if k >= n:
        raise ValueError(f"k={k} must be smaller than the number of points n={n}")

    if graph is None:
        g = _graph_from_knn(_knn(X, k, metric, n_threads=n_threads), "union", power)
    else:
        g = as_graph(graph, symmetrize="union")
        if g.shape[0] != n:
            raise ValueError(f"graph has {g.shape[0]} nodes but X has {n} points; they must match")
    g, info = _handle_components(g, policy, X, metric, power, n_threads)
    kept = info.get("kept")
    Xk = X if kept is None else X[kept]
    nk = Xk.shape[0]
    if k > nk:
        raise ValueError(
            f"k={k} exceeds the {nk} points of the largest component kept by policy='largest'"
        )
    c = C.shape[0]
    res = _knn(Xk, k, metric, C.astype(Xk.dtype, copy=False), n_threads=n_threads)
    cd = np.asarray(res.distances, dtype=np.float64).ravel()
    if metric == "cosine":
        cd = np.maximum(cd, 0.0)  # rounding can make 1 - cos slightly negative
    cw = _apply_weight(cd, power)
    # Augmented graph: rows 0..nk-1 are the graph, row nk + r holds centre r's out-edges only.
    indptr = np.concatenate(
        [np.asarray(g.indptr, dtype=np.int64), g.nnz + k * np.arange(1, c + 1, dtype=np.int64)]
    )
    indices = np.concatenate([np.asarray(g.indices, dtype=np.int64), res.indices.ravel()])
    data = np.concatenate([g.data, cw])
    aug = sp.csr_matrix((data, indices, indptr), shape=(nk + c, nk + c))
    sources = np.arange(nk, nk + c, dtype=np.int64)
    dk = geodesic(aug, sources, directed=True, dtype=np.float64, n_threads=n_threads)[:, :nk]
    if kept is None:
        dist = np.ascontiguousarray(dk)
    else:
        dist = np.full((c, n), np.inf)
        dist[:, kept] = dk
    return _scores_from_distances(dist), dist


def summarize(
    X,
    m: int,
    *,
    centre="mean",
    k: int = 10,
    metric: str = "cosine",
    max_similarity: Optional[float] = None,
    graph=None,
    weight="distance",
    policy: str = "inf",
    n_threads: Optional[int] = None,
) -> np.ndarray:
    """Indices of the `m` points geodesically closest to a centre (GeoSumm-style extraction).

    Points are ranked by :func:`geodesic_scores` (highest first, ties by lower index) and taken
    greedily. With `max_similarity`, a point whose cosine similarity to an already selected
    point exceeds it is skipped (SemAE/GeoSumm's redundancy filter), and the next one is tried.
    Unreachable points (score 0) are never selected.

    Parameters
    ----------
    X : array_like, shape (n, d)
        The points.
    m : int
        How many to select, ``1 <= m <= n``.
    centre : "mean" or array_like, shape (d,) or (1, d)
        The centre; ``"mean"`` is the mean of `X`.
    k, metric, graph, weight, policy, n_threads
        As in :func:`geodesic_scores` (here `metric` defaults to ``"cosine"``).
    max_similarity : float, optional
        Skip candidates with cosine similarity ``> max_similarity`` to a selected point. A zero
        vector has similarity 0 to everything.

    Returns
    -------
    ndarray of int64
        Selected indices in selection order (best first). Fewer than `m` when the redundancy
        filter or unreachable points leave too few candidates.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> X = np.arange(6.0)[:, None]
    >>> latentgeo.summarize(X, 2, centre=[2.4], k=2, metric="euclidean").tolist()
    [2, 3]
    """
    X = as_float_matrix(X, "X")
    n = X.shape[0]
    m = check_int(m, "m", low=1)
    if m > n:
        raise ValueError(f"m={m} exceeds the number of points n={n}")
    if isinstance(centre, str):
        check_choice(centre, "centre", ("mean",))
        c = X.astype(np.float64).mean(axis=0)
    else:
        c = np.asarray(centre)
        if c.ndim == 2 and c.shape[0] == 1:
            c = c[0]
        if c.ndim != 1:
            raise ValueError(f"centre must be 'mean' or one vector of shape (d,), got {c.shape}")
    if max_similarity is not None:
        max_similarity = float(max_similarity)
        if np.isnan(max_similarity):
            raise ValueError("max_similarity must be a number, got NaN")
    C = as_float_matrix(c[None, :], "centre")
    scores = _geodesic_scores(X, C, k, metric, graph, weight, policy, n_threads)[0][0]
    order = np.lexsort((np.arange(n), -scores))
    order = order[scores[order] > 0]
    if max_similarity is None:
        return order[:m].astype(np.int64)
    Xf = X.astype(np.float64)
    norms = np.linalg.norm(Xf, axis=1)
    U = np.divide(Xf, norms[:, None], out=np.zeros_like(Xf), where=norms[:, None] > 0)
    chosen = []
    for i in order:
        if chosen and float(np.max(U[chosen] @ U[i])) > max_similarity:
            continue
        chosen.append(int(i))
        if len(chosen) == m:
            break
    return np.array(chosen, dtype=np.int64)
