"""Neighbourhood graphs: kNN, mutual kNN and radius graphs, user graphs, connected components.

Every graph is a square ``scipy.sparse.csr_matrix`` of float64 edge weights with sorted column
indices and no duplicate entries. A stored entry is an edge, whatever its value: edges between
duplicate points have weight 0 and are kept as explicit zeros (never pass such a graph through
``eliminate_zeros`` or convert it to a dense array, where 0 means "no edge").
"""

from __future__ import annotations

import numbers
from typing import Optional

import numpy as np
import scipy.sparse as sp

from .._validate import (
    as_float_matrix,
    check_choice,
    check_int,
    check_real,
)
from ._approx import check_method
from ._gate import _symmetrize, _to_csr
from ._knn import METRICS, KNNResult, _is_knn_like, as_knn

_MODES = ("knn", "mutual", "radius")


_SYMMETRIZE = ("union", "mutual", "none")


_WEIGHTS = ("distance", "unit")


# Entries of one block of the O(n^2) radius computation (32 MiB of float64).
_RADIUS_BLOCK = 1 << 22


def knn_graph(
    X_or_knn,
    k: Optional[int] = 10,
    *,
    metric: str = "euclidean",
    mode: str = "knn",
    symmetrize: Optional[str] = None,
    weight="distance",
    radius: Optional[float] = None,
    n_threads: Optional[int] = None,
    method: str = "exact",
    method_options: Optional[dict] = None,
) -> sp.csr_matrix:
    """Neighbourhood graph of a point set, weighted by distance (Isomap step 1).

    Parameters
    ----------
    X_or_knn : array_like, KNNResult, tuple or scipy.sparse matrix
        Either vectors of shape (n, d), whose exact kNN is computed with :func:`latentgeo.knn`,
        or precomputed neighbours in any form :func:`latentgeo.as_knn` accepts: a
        :class:`~latentgeo.KNNResult` of a self-join, a tuple ``(indices, distances)`` of
        shape (n, k), or a scipy.sparse (n, n) kNN graph (its diagonal is dropped). Precomputed
        neighbour lists must not contain the point itself (drop the self column, e.g. the first
        column of scikit-learn's ``kneighbors(X)``) nor repeat a neighbour, and their distances
        must be non-negative. ``mode="radius"`` needs vectors.
    k : int or None
        Neighbours per point, ``1 <= k <= n - 1``. With precomputed neighbours the first `k`
        stored ones are used (an error if fewer are stored) and ``None`` uses all of them.
        Ignored for ``mode="radius"``.
    metric : {"euclidean", "sqeuclidean", "cosine"}
        Distance between vectors (ignored for precomputed neighbours). ``cosine`` is
        ``1 - cos``, which is not a metric (no triangle inequality), so path lengths over it are
        not geodesics of a metric space; a zero vector has distance 1 to everything.
        ``sqeuclidean`` gives the same graph as ``euclidean`` with ``weight=2``.
        ``"inner_product"`` is rejected: similarities are not distances.
    mode : {"knn", "mutual", "radius"}
        ``"knn"``: each point to its `k` nearest (self excluded by index, so duplicates of a
        point are neighbours at distance 0; ties are broken by the lower index).
        ``"mutual"``: the mutual kNN graph, i.e. ``mode="knn"`` with ``symmetrize="mutual"``
        (combining it with another `symmetrize` is an error).
        ``"radius"``: every pair at distance ``<= radius`` (self excluded by index), computed
        exactly by an O(n^2) blocked scan (numpy, float64): candidates from a matrix product
        with a rounding-error margin, then distances recomputed directly from the coordinates.
        Distances are symmetric, so the graph is too for every `symmetrize`.
    symmetrize : {"union", "mutual", "none"}, optional
        ``"union"``: edge i-j if either point is among the other's neighbours (the pattern of
        ``max(G, G.T)``); ``"mutual"``: only if each is among the other's (the pattern of
        ``min(G, G.T)``); ``"none"``: the directed graph, row i listing i's neighbours. A
        symmetrised edge takes the smaller of its two directed weights (they are equal for
        distances computed here; precomputed ones may differ). Default ``"union"``
        (``"mutual"`` for ``mode="mutual"``).
    weight : {"distance", "unit"} or float
        Edge weight: the distance, 1 for every edge (hop counts), or ``distance ** p`` for a
        float ``p > 0`` (Fermat distances favour dense regions for ``p > 1``).
    radius : float, optional
        Distance threshold (inclusive) for ``mode="radius"``, in the units of `metric`
        (squared for ``sqeuclidean``); only allowed with that mode.
    n_threads : int, optional
        Threads for the kNN search (default: all cores). The radius scan uses numpy.
    method, method_options
        Exact or approximate kNN of vectors, see :func:`latentgeo.knn` (``mode="radius"`` is
        always exact; precomputed neighbours take neither).

    Returns
    -------
    scipy.sparse.csr_matrix
        (n, n) float64 weights, sorted indices, no duplicates, no self-loops; zero-weight edges
        (duplicate points) are stored explicitly. Symmetric unless ``symmetrize="none"``.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> X = np.array([[0.0], [1.0], [3.0]])
    >>> latentgeo.knn_graph(X, 1).toarray()
    array([[0., 1., 0.],
           [1., 0., 2.],
           [0., 2., 0.]])
    """
    mode = check_choice(mode, "mode", _MODES)
    metric = _check_metric(metric)
    how = _check_symmetrize(symmetrize, mode)
    power = _check_weight(weight)
    method, _ = check_method(method, method_options)
    if method != "exact" and (mode == "radius" or _is_knn_like(X_or_knn)):
        raise ValueError(
            "method='approximate' only applies to a kNN search of vectors, not to "
            + ("mode='radius'" if mode == "radius" else "precomputed neighbours")
        )
    if mode == "radius":
        if radius is None:
            raise ValueError("mode='radius' needs a radius")
        radius = _check_radius(radius)
        if isinstance(X_or_knn, (KNNResult, tuple)) or sp.issparse(X_or_knn):
            raise TypeError(
                "mode='radius' needs the vectors themselves (an (n, d) array), not precomputed "
                "neighbours"
            )
        n, rows, cols, dist = _radius_edges(as_float_matrix(X_or_knn, "X"), radius, metric)
    else:
        if radius is not None:
            raise ValueError(f"radius is only used with mode='radius', not mode={mode!r}")
        if isinstance(X_or_knn, (KNNResult, tuple)) or sp.issparse(X_or_knn):
            res = as_knn(X_or_knn)
            if k is not None:
                k = check_int(k, "k", low=1)
                if k > res.k:
                    raise ValueError(
                        f"k={k} exceeds the {res.k} neighbours stored per point in the "
                        "precomputed input; pass a smaller k, or k=None to use them all"
                    )
                res = res.head(k)
        else:
            res = as_knn(
                X_or_knn,
                k,
                metric=metric,
                n_threads=n_threads,
                method=method,
                method_options=method_options,
            )
        return _graph_from_knn(res, how, power)
    key, w = _symmetrize(rows * n + cols, dist, n, how)
    return _to_csr(key, _apply_weight(w, power), n)


def _graph_from_knn(res: KNNResult, how: str, power: Optional[float]) -> sp.csr_matrix:
    """The kNN graph of a checked :class:`KNNResult`, symmetrised by `how`, weighted by
    ``distance ** power`` (unit weights for None)."""
    n, rows, cols, dist = _knn_edges(res)
    key, w = _symmetrize(rows * n + cols, dist, n, how)
    return _to_csr(key, _apply_weight(w, power), n)


def _check_metric(metric) -> str:
    metric = check_choice(metric, "metric", METRICS)
    if metric == "inner_product":
        raise ValueError(
            "metric='inner_product' gives similarities, not distances, and cannot weight a "
            "graph; use 'cosine' (1 - cos) or 'euclidean' (on normalised vectors if need be)"
        )
    return metric


def _check_symmetrize(symmetrize, mode: str) -> str:
    if symmetrize is None:
        return "mutual" if mode == "mutual" else "union"
    symmetrize = check_choice(symmetrize, "symmetrize", _SYMMETRIZE)
    if mode == "mutual" and symmetrize != "mutual":
        raise ValueError(
            f"mode='mutual' is the kNN graph with symmetrize='mutual' and cannot be combined "
            f"with symmetrize={symmetrize!r}; use mode='knn', symmetrize={symmetrize!r}"
        )
    return symmetrize


def _check_weight(weight) -> Optional[float]:
    """None for unit weights, else the exponent p of distance ** p."""
    if isinstance(weight, str):
        weight = check_choice(weight, "weight", _WEIGHTS)
        return None if weight == "unit" else 1.0
    if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, numbers.Real):
        raise TypeError(
            f"weight must be 'distance', 'unit' or a float exponent p > 0, got {weight!r}"
        )
    return check_real(weight, "the weight exponent p", low=0, low_open=True)


def _check_radius(radius) -> float:
    return check_real(radius, "radius", low=0)


def _apply_weight(w: np.ndarray, power: Optional[float]) -> np.ndarray:
    if power is None:
        return np.ones_like(w)
    if power == 1.0:
        return w
    return w**power


def _knn_edges(res: KNNResult):
    """Directed edge lists (n, rows, cols, distances) of a self-join kNN result, validated."""
    if res.metric == "inner_product":
        raise ValueError(
            "the kNN result was computed with metric='inner_product' (similarities, not "
            "distances) and cannot weight a graph"
        )
    if not res.self_join or res.n_index != res.n_queries:
        raise ValueError(
            f"a kNN graph needs the neighbours of n points among the same n points, got "
            f"{res.n_queries} query rows over {res.n_index} indexed points"
        )
    idx = np.asarray(res.indices, dtype=np.int64)
    n, k = idx.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = idx.ravel()
    selfs = cols == rows
    if selfs.any():
        i = int(rows[np.argmax(selfs)])
        raise ValueError(
            f"point {i} is listed among its own neighbours; a kNN graph excludes self (drop the "
            "self column, e.g. the first column of scikit-learn's kneighbors(X))"
        )
    if k > 1:
        srt = np.sort(idx, axis=1)
        rep = srt[:, 1:] == srt[:, :-1]
        if rep.any():
            r, c = np.argwhere(rep)[0]
            raise ValueError(f"row {r} lists neighbour {srt[r, c]} more than once")
    dist = np.asarray(res.distances, dtype=np.float64).ravel()
    neg = dist < 0
    if neg.any():
        i = int(np.argmax(neg))
        raise ValueError(
            f"negative distance {float(dist[i])!r} from point {rows[i]} to {cols[i]}; graph "
            "weights must be non-negative"
        )
    return n, rows, cols, dist


def _radius_edges(X: np.ndarray, radius: float, metric: str):
    """Directed edge lists of all pairs i != j with distance <= radius (exact, O(n^2))."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, d = X.shape
    eps = np.finfo(np.float64).eps
    # Rounding-error margin of the matrix-product screen (|fl(x.y) - x.y| <= d eps |x||y|).
    slack = (2 * d + 16) * eps
    sqn = np.einsum("ij,ij->i", X, X)
    norms = np.sqrt(sqn)
    if metric == "cosine":
        U = np.divide(X, norms[:, None], out=np.zeros_like(X), where=norms[:, None] > 0)
    else:
        r2 = radius * radius if metric == "euclidean" else radius
        r2 *= 1 + 8 * eps
    bs = max(1, _RADIUS_BLOCK // max(n, 1))
    rows, cols, dists = [], [], []
    for start in range(0, n, bs):
        stop = min(n, start + bs)
        if metric == "cosine":
            cand = 1.0 - U[start:stop] @ U.T <= radius + slack
        else:
            scale = sqn[start:stop, None] + sqn[None, :]
            sq = scale - 2.0 * (X[start:stop] @ X.T)
            cand = sq <= r2 + slack * scale
        cand[np.arange(stop - start), np.arange(start, stop)] = False
        bi, bj = np.nonzero(cand)
        bi += start
        dist = _pair_distances(X, norms, bi, bj, metric)
        keep = dist <= radius
        rows.append(bi[keep])
        cols.append(bj[keep])
        dists.append(dist[keep])
    if not rows:
        empty = np.empty(0, dtype=np.int64)
        return n, empty, empty, np.empty(0, dtype=np.float64)
    cat = np.concatenate
    return n, cat(rows).astype(np.int64), cat(cols).astype(np.int64), cat(dists)


def _pair_distances(X, norms, bi, bj, metric) -> np.ndarray:
    """Distances of the pairs (bi[t], bj[t]) computed directly from the coordinates."""
    out = np.empty(bi.size, dtype=np.float64)
    step = max(1, (1 << 20) // X.shape[1])
    for s in range(0, bi.size, step):
        a, b = X[bi[s : s + step]], X[bj[s : s + step]]
        if metric == "cosine":
            den = norms[bi[s : s + step]] * norms[bj[s : s + step]]
            dot = np.einsum("ij,ij->i", a, b)
            cos = np.divide(dot, den, out=np.zeros_like(dot), where=den > 0)
            out[s : s + step] = np.clip(1.0 - cos, 0.0, 2.0)
        else:
            diff = a - b
            sq = np.einsum("ij,ij->i", diff, diff)
            out[s : s + step] = np.sqrt(sq) if metric == "euclidean" else sq
    return out
