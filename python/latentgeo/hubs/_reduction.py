"""Hubness reduction: re-rank each point's stored kNN candidates by a secondary dissimilarity.

Every method here works like scikit-hubness' reducers: only the stored candidates of each point
are re-ranked, and the per-point statistics (means, scales, centroids) come from each point's own
stored candidate list, never from all n points. So both the candidate count and the method's
own neighbourhood size matter; both are explicit parameters.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.special import ndtr

from .._validate import (
    as_float_matrix,
    check_choice,
    check_int,
    check_n_threads,
    magnitude_exponent,
    row_exponents,
)
from ..neighbors._knn import KNNResult, _is_knn_like, as_knn, knn

REDUCTIONS = ("mp", "mp_gaussian", "mp_empiric", "ls", "nicdm", "csls", "dissim")


_ALIASES = {"mp": "mp_gaussian"}


_PARAMS = {
    "mp_gaussian": {},
    "mp_empiric": {},
    "ls": {"ls_k": 5},
    "nicdm": {"nicdm_k": 5},
    "csls": {"csls_k": 10},
    "dissim": {"dissim_k": 5},
}


# Elements per temporary block in the chunked methods (about 2 MB of float64 each).
_BLOCK = 1 << 18


def reduce_hubness(
    knn_or_X,
    method: str,
    *,
    k: Optional[int] = None,
    X=None,
    metric: str = "euclidean",
    n_candidates: Optional[int] = None,
    n_threads: Optional[int] = None,
    **method_params,
) -> KNNResult:
    r"""Re-rank a self-join kNN by a hubness-reducing dissimilarity.

    Notation: ``d_xy`` is the stored distance from x to its candidate y, ``L_x`` the stored
    candidates of x (self excluded), ``c = |L_x|``, and ``n`` the number of points. Statistics of
    y come from y's own candidate list, so the input must be a self-join.

    Methods
    -------
    ``"mp"`` / ``"mp_gaussian"`` -- Mutual Proximity with Gaussians (Schnitzer et al., JMLR
        2012): ``MP(x, y) = 1 - SF(d_xy; mu_x, s_x) * SF(d_xy; mu_y, s_y)``, where SF is the normal
        survival function and ``mu_x``, ``s_x`` are the mean and (ddof=0) standard deviation of
        the c stored distances of x. Computed as ``F_x + F_y * SF_x`` (F = 1 - SF) so that close
        pairs keep full precision. A point with ``s = 0`` gets a step at ``mu`` (SF = 1, 1/2, 0
        below, at, above it).
    ``"mp_empiric"`` -- empiric Mutual Proximity:
        ``MP(x, y) = 1 - #{j != x, y : d_xj > d_xy and d_yj > d_xy} / n``.
        A distance that is not stored is replaced by its lower bound, the largest stored distance
        of that row (``d_xj >= max_l d_xl`` for ``j`` not in ``L_x`` when the lists are exact
        kNN), and the count runs over all n points. It is therefore exact whenever
        ``d_xy < max d_x.`` and ``d_xy < max d_y.``, and otherwise (x lies outside y's candidate
        radius) an upper bound of the exact value. scikit-hubness instead counts only j in
        ``L_x | L_y`` (also divided by n), which makes pairs with overlapping lists look further
        apart; assumes symmetric distances, like it.
    ``"ls"`` -- Local Scaling (Schnitzer et al. 2012), ``ls_k`` = 5:
        ``LS(x, y) = 1 - exp(-d_xy**2 / (sigma_x * sigma_y))``, ``sigma_x`` = distance from x to
        its ``ls_k``-th stored neighbour.
    ``"nicdm"`` -- non-iterative contextual dissimilarity measure (Jegou et al.), ``nicdm_k`` = 5:
        ``NICDM(x, y) = d_xy / sqrt(mu_x * mu_y)``, ``mu_x`` = mean distance from x to its
        ``nicdm_k`` nearest stored neighbours.
    ``"csls"`` -- cross-domain similarity local scaling within one space (Conneau et al., ICLR
        2018), ``csls_k`` = 10: ``CSLS(x, y) = 2 d_xy - r_x - r_y``, ``r_x`` = mean distance from
        x to its ``csls_k`` nearest stored neighbours. For cosine distances this is
        ``-(2 cos_xy - r'_x - r'_y)`` with ``r'`` the mean cosine similarity, i.e. MUSE's CSLS
        negated; with ``metric="inner_product"`` the same holds for dot products (``d = -s``).
    ``"dissim"`` -- DisSimLocal (Hara et al., AAAI 2016), ``dissim_k`` = 5, needs the vectors:
        ``D(x, y) = ||x - y||^2 - ||x - c_x||^2 - ||y - c_y||^2``, ``c_x`` = centroid of the
        ``dissim_k`` nearest stored neighbours of x. Squared distances are computed from `X`
        (rows L2-normalised first when the candidates are cosine). D can be negative; unlike
        scikit-hubness we do not shift it by a global constant (that does not change ranks).

    Parameters
    ----------
    knn_or_X : KNNResult, tuple, scipy.sparse matrix or array_like
        A precomputed self-join kNN (see :func:`latentgeo.as_knn`; its distances must be
        dissimilarities, ascending, except for ``metric="inner_product"`` results with
        ``"csls"``), or vectors of shape (n, d) whose exact candidates are computed.
    method : str
        One of :data:`REDUCTIONS`.
    k : int, optional
        Keep the first `k` re-ranked neighbours (default: all candidates). Required for vectors
        unless `n_candidates` is given.
    X : array_like, shape (n, d), optional
        Vectors of the points, with a precomputed kNN, for ``"dissim"``.
    metric : str
        Metric for vectors (see :func:`latentgeo.knn`); ignored for a precomputed kNN.
    n_candidates : int, optional
        Candidates per point to re-rank: for vectors the exact n_candidates nearest neighbours
        (default ``max(3k, k + 10)`` capped at ``n - 1``); for a precomputed kNN its first
        n_candidates columns (default: all).
    n_threads : int, optional
        Threads for the kNN search (default: all cores).
    **method_params
        ``ls_k``, ``nicdm_k``, ``csls_k`` or ``dissim_k`` for the method that uses it; each must
        not exceed the candidate count.

    Returns
    -------
    KNNResult
        Same rows; each row's candidates sorted by the reduced dissimilarity ascending, ties by
        the original distance, then by the lower index, truncated to `k`. ``distances`` are the
        reduced dissimilarities (float64) and ``metric`` reads e.g. ``"mp_gaussian(euclidean)"``.

    Raises
    ------
    ValueError
        For an unknown method, a kNN that is not a self-join (or lists a point as its own
        neighbour, or repeats one), ``"dissim"`` without vectors, a method parameter larger than
        the candidate count, or negative distances for ``"ls"``/``"nicdm"``.
    TypeError
        For a parameter that the method does not take.
    """
    method = check_choice(method, "method", REDUCTIONS)
    name = _ALIASES.get(method, method)
    params = _method_params(name, method_params)
    if k is not None:
        k = check_int(k, "k", low=1)

    if _is_knn_like(knn_or_X):
        if n_candidates is not None:
            n_candidates = check_int(n_candidates, "n_candidates", low=1)
        cand = as_knn(knn_or_X, n_candidates)
        if X is not None:
            X = as_float_matrix(X, "X")
            if X.shape[0] != cand.n_index:
                raise ValueError(
                    f"X has {X.shape[0]} rows but the kNN indexes {cand.n_index} points"
                )
    else:
        if X is not None:
            raise ValueError("X= is only for a precomputed kNN; vectors were passed already")
        X = as_float_matrix(knn_or_X, "X")
        n = X.shape[0]
        if n_candidates is None:
            if k is None:
                raise ValueError("k or n_candidates is required when passing vectors")
            n_candidates = max(k, min(max(3 * k, k + 10), n - 1))
        cand = knn(X, n_candidates, metric=metric, n_threads=check_n_threads(n_threads))

    if k is not None and k > cand.k:
        raise ValueError(f"k={k} exceeds the {cand.k} candidates per point")
    _check_self_join(cand)
    d, idx = _sorted_dissimilarities(cand, name)
    for key, value in params.items():
        params[key] = check_int(value, key, low=1)
        if params[key] > cand.k:
            raise ValueError(
                f"{key}={params[key]} exceeds the {cand.k} stored candidates per point; pass a "
                f"smaller {key} or more candidates"
            )

    if name == "dissim":
        if X is None:
            raise ValueError(
                "method 'dissim' (DisSimLocal) needs the vectors: pass X= with a precomputed kNN"
            )
        red = _dissim(_dissim_vectors(X, cand.metric), idx, params["dissim_k"])
    elif name == "mp_gaussian":
        red = _mp_gaussian(d, idx)
    elif name == "mp_empiric":
        red = _mp_empiric(d, idx)
    elif name == "ls":
        red = _local_scaling(_nonnegative(d, name), idx, params["ls_k"])
    elif name == "nicdm":
        red = _nicdm(_nonnegative(d, name), idx, params["nicdm_k"])
    else:
        red = _csls(d, idx, params["csls_k"])

    order = np.lexsort((idx, d, red), axis=1)
    if k is not None:
        order = order[:, :k]
    return KNNResult(
        np.ascontiguousarray(np.take_along_axis(idx, order, axis=1)),
        np.ascontiguousarray(np.take_along_axis(red, order, axis=1)),
        f"{name}({cand.metric})",
        cand.n_index,
        True,
    )


def _method_params(name: str, given: dict) -> dict:
    allowed = _PARAMS[name]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "no parameters"
        raise TypeError(f"method {name!r} got unexpected parameter(s) {unknown}; it takes {takes}")
    return {**allowed, **given}


def _check_self_join(cand: KNNResult) -> None:
    if not cand.self_join or cand.n_index != cand.n_queries:
        raise ValueError(
            "hubness reduction needs a self-join kNN (the neighbours of every indexed point, "
            f"n_queries == n_index); got {cand.n_queries} query rows over {cand.n_index} points"
        )
    idx = cand.indices
    own = idx == np.arange(cand.n_queries)[:, None]
    if own.any():
        row = int(np.argmax(own.any(axis=1)))
        raise ValueError(f"row {row} lists point {row} as its own neighbour; remove self first")
    srt = np.sort(idx, axis=1)
    rep = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
    if rep.any():
        raise ValueError(f"row {int(np.argmax(rep))} lists the same neighbour more than once")


def _sorted_dissimilarities(cand: KNNResult, name: str):
    """float64 dissimilarities and indices, each row sorted by (dissimilarity, index)."""
    d = cand.distances.astype(np.float64)
    if cand.metric == "inner_product":
        if name not in ("csls", "dissim"):
            raise ValueError(
                f"method {name!r} needs distances, but metric 'inner_product' gives similarities; "
                "use metric 'cosine' or 'euclidean', or method 'csls'"
            )
        d = -d
    order = np.lexsort((cand.indices, d), axis=1)
    return np.take_along_axis(d, order, axis=1), np.take_along_axis(cand.indices, order, axis=1)


def _nonnegative(d: np.ndarray, name: str) -> np.ndarray:
    if d.size and d.min() < 0:
        raise ValueError(f"method {name!r} needs non-negative distances; found {d.min():g}")
    return d


def _row_blocks(n: int, per_row: int):
    step = max(1, _BLOCK // max(1, per_row))
    for lo in range(0, n, step):
        yield lo, min(n, lo + step)


def _std_scores(d: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """(d - mu) / sd, with a step (-inf, 0, +inf) where sd == 0."""
    diff = d - mu
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / sd
    flat = np.broadcast_to(sd == 0, z.shape)
    z[flat] = np.sign(diff[flat]) * np.inf
    z[np.isnan(z)] = 0.0
    return z


def _mp_gaussian(d: np.ndarray, idx: np.ndarray) -> np.ndarray:
    mu, sd = d.mean(axis=1), d.std(axis=1)
    zx = _std_scores(d, mu[:, None], sd[:, None])
    zy = _std_scores(d, mu[idx], sd[idx])
    # 1 - SF_x SF_y == F_x + F_y SF_x, free of cancellation when both F are small.
    return ndtr(zx) + ndtr(zy) * ndtr(-zx)


def _mp_empiric(d: np.ndarray, idx: np.ndarray) -> np.ndarray:
    n, c = idx.shape
    dmax = d[:, -1]
    # Each row's candidates sorted by index, for membership look-ups with searchsorted.
    by_index = np.argsort(idx, axis=1, kind="stable")
    idx_s = np.take_along_axis(idx, by_index, axis=1)
    d_s = np.take_along_axis(d, by_index, axis=1)
    out = np.empty_like(d)
    for lo, hi in _row_blocks(n, c * c):
        m = hi - lo
        ix, dx = idx[lo:hi], d[lo:hi]  # (m, c): candidate y = ix[:, a] at distance dx[:, a]
        dxy = dx[:, :, None]  # (m, c, 1)
        ly, dly = idx_s[ix], d_s[ix]  # (m, c, c): y's own list (by index) and its distances
        pair = np.arange(m * c, dtype=np.int64).reshape(m, c, 1)

        # j in L_x: d_yj if j is in L_y, else the lower bound max d_y.
        keys_y = (pair * n + ly).ravel()
        query = (pair * n + ix[:, None, :]).ravel()
        pos = np.minimum(np.searchsorted(keys_y, query), keys_y.size - 1)
        found = (keys_y[pos] == query).reshape(m, c, c)
        dyj = np.where(found, dly.ravel()[pos].reshape(m, c, c), dmax[ix][:, :, None])
        not_y = ix[:, None, :] != ix[:, :, None]
        in_x = ((dx[:, None, :] > dxy) & (dyj > dxy) & not_y).sum(axis=2)

        # j in L_y but not in L_x (j != x): d_xj is bounded below by max d_x.
        row = np.arange(m, dtype=np.int64)[:, None]
        keys_x = (row * n + idx_s[lo:hi]).ravel()
        query = ((row * n)[:, :, None] + ly).ravel()
        pos = np.minimum(np.searchsorted(keys_x, query), keys_x.size - 1)
        y_only = (keys_x[pos] != query).reshape(m, c, c)
        y_only &= ly != np.arange(lo, hi)[:, None, None]
        n_y_only = y_only.sum(axis=2)
        y_only_far = (y_only & (dly > dxy)).sum(axis=2)

        # j outside L_x | L_y | {x, y}: both distances bounded below by the row maxima.
        a = dmax[lo:hi, None] > dx
        b = dmax[ix] > dx
        n_outside = n - 2 - (c - 1) - n_y_only
        count = in_x + a * y_only_far + (a & b) * n_outside
        out[lo:hi] = 1.0 - count / n
    return out


def _local_scaling(d: np.ndarray, idx: np.ndarray, ls_k: int) -> np.ndarray:
    sigma = d[:, ls_k - 1]
    with np.errstate(divide="ignore", invalid="ignore"):  # two O(1) ratios: no under/overflow
        q = (d / sigma[:, None]) * (d / sigma[idx])
    q[d == 0] = 0.0  # also where the scale is 0: identical points stay at 0
    return -np.expm1(-q)


def _nicdm(d: np.ndarray, idx: np.ndarray, nicdm_k: int) -> np.ndarray:
    mu = d[:, :nicdm_k].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = d / np.sqrt(mu)[:, None] / np.sqrt(mu[idx])  # no product to under/overflow
    out[d == 0] = 0.0
    return out


def _csls(d: np.ndarray, idx: np.ndarray, csls_k: int) -> np.ndarray:
    r = d[:, :csls_k].mean(axis=1)
    return 2.0 * d - r[:, None] - r[idx]


def _dissim_vectors(X: np.ndarray, metric: str) -> np.ndarray:
    V = X.astype(np.float64)
    if metric == "cosine":  # each row first rescaled exactly, so its norm cannot overflow
        V = np.ldexp(V, -row_exponents(V)[:, None])
        norms = np.linalg.norm(V, axis=1, keepdims=True)
        V = V / np.where(norms > 0, norms, 1.0)
    elif metric == "inner_product":
        raise ValueError("method 'dissim' needs Euclidean geometry, not metric 'inner_product'")
    return V


def _dissim(V: np.ndarray, idx: np.ndarray, dissim_k: int) -> np.ndarray:
    e = magnitude_exponent(V)  # work on V 2**-e (exact), so no square overflows or underflows
    out = _dissim_scaled(np.ldexp(V, -e) if e else V, idx, dissim_k)
    if e:
        with np.errstate(over="ignore"):
            out = np.ldexp(out, 2 * e)
        if not np.isfinite(out).all():
            raise ValueError(
                f"the DisSimLocal dissimilarities of these vectors (magnitude about 2**{e}) "
                "overflow float64; rescale the data"
            )
    return out


def _dissim_scaled(V: np.ndarray, idx: np.ndarray, dissim_k: int) -> np.ndarray:
    n, c = idx.shape
    dim = V.shape[1]
    to_centroid = np.empty(n)
    for lo, hi in _row_blocks(n, dissim_k * dim):
        centroid = V[idx[lo:hi, :dissim_k]].mean(axis=1)
        to_centroid[lo:hi] = ((V[lo:hi] - centroid) ** 2).sum(axis=1)
    out = np.empty((n, c))
    for lo, hi in _row_blocks(n, c * dim):
        sq = ((V[lo:hi, None, :] - V[idx[lo:hi]]) ** 2).sum(axis=2)
        out[lo:hi] = sq - to_centroid[lo:hi, None] - to_centroid[idx[lo:hi]]
    return out
