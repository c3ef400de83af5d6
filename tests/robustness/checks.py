"""Result checks of the fuzz harness, run in the child next to the call (``runner.py``).

Each check gets ``(result, args, kwargs, case, **params)`` and returns None when the result is
right, else a short description of what is wrong. References are numpy/scipy computations on
the *moderate* version of the input (the fuzzed input divided by a power of two), so they are
exact for every scale.
"""

import numpy as np
from support.adversarial import brute_knn

CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def _tol(dtype):
    return 5e-6 if np.dtype(dtype) == np.float32 else 1e-11


def _scaled_ok(got, want, dtype, atol=0.0):
    """got ~ want where want is representable in dtype (normal range); None or a message.
    `dtype` is the working precision (that of the input), whatever the output's dtype."""
    fi = np.finfo(dtype)
    want = np.asarray(want, np.float64)
    got = np.asarray(got, np.float64)
    if np.isnan(got).any():
        return "NaN in the result"
    big = np.abs(want) > fi.max
    normal = (np.abs(want) >= fi.tiny) & ~big
    if big.any() and np.isfinite(got[big]).any():
        return "an overflowing value came back finite"
    if big.any():
        return "values beyond %s max returned as inf instead of an error" % np.dtype(dtype)
    err = np.abs(got - want)[normal]
    lim = (_tol(dtype) * np.abs(want) + atol)[normal]
    if (err > lim).any():
        k = int(np.argmax(err - lim))
        return "value %r != reference %r" % (got[normal][k], want[normal][k])
    sub = ~normal & (np.abs(want) >= fi.smallest_subnormal)
    if sub.any() and (got[sub] == 0).any():
        return "subnormal distances flushed to 0"
    return None


@check
def knn_ref(res, args, kwargs, case, moderate, scale, k, metric="euclidean"):
    X = np.asarray(moderate, np.float64)
    n = X.shape[0]
    ridx, rdist, D = brute_knn(X, k, metric)
    idx, dist = np.asarray(res.indices), np.asarray(res.distances)
    if idx.shape != (n, k) or dist.shape != (n, k):
        return "shape %s/%s, expected %s" % (idx.shape, dist.shape, (n, k))
    if idx.dtype != np.int64:
        return "indices dtype %s" % idx.dtype
    if ((idx < 0) | (idx >= n)).any() or (idx == np.arange(n)[:, None]).any():
        return "index out of range or self"
    f = {"euclidean": scale, "sqeuclidean": scale**2, "cosine": 1.0, "inner_product": scale**2}
    out_dtype = dist.dtype
    if metric in ("euclidean", "sqeuclidean") and not np.array_equal(idx, ridx):
        row = int(np.nonzero((idx != ridx).any(1))[0][0])
        return "row %d: neighbours %s, reference %s" % (row, idx[row].tolist(), ridx[row].tolist())
    mine = np.take_along_axis(D, idx, 1) * (-1 if metric == "inner_product" else 1)
    atol = 1e-6 if metric == "cosine" else 0.0
    if not np.allclose(np.sort(mine, 1) if metric != "inner_product" else mine, rdist, atol=1e-9):
        return "not the k nearest (reference distances %s, got neighbours at %s)" % (
            rdist[0].tolist(),
            mine[0].tolist(),
        )
    return _scaled_ok(dist, rdist * f[metric], out_dtype, atol)


def _ref_nk(moderate, k):
    ridx, _, _ = brute_knn(moderate, k)
    return np.bincount(ridx.ravel(), minlength=len(moderate))


@check
def kocc_ref(res, args, kwargs, case, moderate, k):
    nk = np.asarray(res)
    ref = _ref_nk(moderate, k)
    return None if np.array_equal(nk, ref) else "k-occurrence %s != %s" % (nk, ref)


@check
def hub_ref(res, args, kwargs, case, moderate, k):
    bad = kocc_ref(res.k_occurrence, args, kwargs, case, moderate, k)
    if bad:
        return bad
    if not np.isfinite(res.robinhood) or not np.isfinite(res.gini):
        return "non-finite scores"
    return None


@check
def graph_ref(G, args, kwargs, case, moderate, scale, k):
    X = np.asarray(moderate, np.float64)
    n = len(X)
    ridx, rdist, D = brute_knn(X, k)
    if G.shape != (n, n):
        return "shape %s" % (G.shape,)
    A = G.toarray().astype(np.float64)
    S = (G != 0).toarray() | (abs(G) != abs(G)).toarray()
    C = G.tocoo()
    if np.isnan(C.data).any():
        return "NaN weights"
    for i in range(n):
        need = np.nonzero(D[i] < rdist[i, -1])[0]
        stored = set(G.indices[G.indptr[i] : G.indptr[i + 1]].tolist())
        if not set(need.tolist()) <= stored:
            return "row %d misses neighbours %s" % (i, sorted(set(need.tolist()) - stored))
    del S
    work = np.float32 if np.asarray(moderate).dtype == np.float32 else np.float64
    return _scaled_ok(A[C.row, C.col], D[C.row, C.col] * scale, work)


@check
def geo_ref(res, args, kwargs, case, dense, sources=None, directed=False, dtype="float32"):
    from scipy.sparse.csgraph import dijkstra

    D = res[0] if isinstance(res, tuple) else res
    ref = dijkstra(np.asarray(dense, np.float64), directed=directed, indices=sources)
    ref = np.atleast_2d(ref)
    D = np.atleast_2d(np.asarray(D))
    if D.shape != ref.shape:
        return "shape %s, expected %s" % (D.shape, ref.shape)
    if np.isnan(D).any():
        return "NaN distance"
    inf = np.isinf(ref)
    too_big = np.isfinite(ref) & (np.abs(ref) > np.finfo(D.dtype).max)  # cannot be in D's dtype
    if not ((np.isinf(D) == inf) | too_big).all():
        return "reachability differs from scipy"
    fin = ~inf
    return _scaled_ok(D[fin], ref[fin], D.dtype)


@check
def blocks_ref(res, args, kwargs, case, dense, directed=False):
    D = np.concatenate([b[1] for b in res], 0) if res else np.zeros((0, len(dense)))
    return geo_ref(D, args, kwargs, case, dense, directed=directed)


@check
def reduce_ref(res, args, kwargs, case, dense, directed=False):
    from scipy.sparse.csgraph import dijkstra

    ref = dijkstra(np.asarray(dense, np.float64), directed=directed)
    ref = np.where(np.isinf(ref), np.inf, ref)
    want = ref.min(1)
    got = np.asarray(res)
    if got.shape != want.shape:
        return "shape %s, expected %s" % (got.shape, want.shape)
    if not np.allclose(got, want, rtol=1e-12, equal_nan=True):
        return "min %s != scipy %s" % (got.tolist(), want.tolist())
    return None


@check
def nbrs_ref(res, args, kwargs, case, dense, k):
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    idx, dist = res
    # The graph itself when it is sparse (scipy reads it as we do); `dense` otherwise.
    graph = args[0] if sp.issparse(args[0]) else np.asarray(dense, np.float64)
    ref = dijkstra(graph, directed=False)
    n = len(ref)
    idx, dist = np.asarray(idx), np.asarray(dist)
    if idx.shape != (n, k):
        return "shape %s, expected %s" % (idx.shape, (n, k))
    for i in range(n):
        r = ref[i].copy()
        r[i] = np.inf
        want = np.sort(r)[:k]
        ok = idx[i] >= 0
        if not np.allclose(dist[i][ok], ref[i][idx[i][ok]], rtol=1e-6):
            return "row %d: distances do not belong to the indices" % i
        if not np.allclose(dist[i], want, rtol=1e-6):
            return "row %d: %s != %s" % (i, dist[i].tolist(), want.tolist())
    return None


@check
def cc_ref(res, args, kwargs, case, dense, directed=False):
    from scipy.sparse.csgraph import connected_components

    m, labels = res
    rm, rl = connected_components(np.asarray(dense), directed=directed, connection="weak")
    if m != rm:
        return "%d components, scipy %d" % (m, rm)
    pairs = {(a, b) for a, b in zip(np.asarray(labels).tolist(), rl.tolist())}
    return None if len(pairs) == rm else "labels are not scipy's partition"


@check
def knn_valid(res, args, kwargs, case, n, k):
    idx, dist = np.asarray(res.indices), np.asarray(res.distances)
    if idx.shape != (n, k):
        return "shape %s, expected %s" % (idx.shape, (n, k))
    if ((idx < 0) | (idx >= n)).any():
        return "index out of range"
    if np.isnan(dist).any():
        return "NaN distances"
    return None


@check
def no_nan(res, args, kwargs, case, shape=None):
    vals = res if isinstance(res, (tuple, list)) else [res]
    for v in vals:
        a = np.asarray(getattr(v, "x", v))
        if a.dtype.kind in "fc" and np.isnan(a).any():
            return "NaN in the result"
    first = np.asarray(getattr(vals[0], "x", vals[0])) if vals else None
    if shape is not None and first is not None and first.shape != tuple(shape):
        return "shape %s, expected %s" % (first.shape, tuple(shape))
    return None


@check
def finite(res, args, kwargs, case, shape=None):
    bad = no_nan(res, args, kwargs, case, shape)
    if bad:
        return bad
    vals = res if isinstance(res, (tuple, list)) else [res]
    for v in vals:
        a = np.asarray(getattr(v, "x", v))
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            return "inf in the result"
    return None


@check
def unarg_ref(rep, args, kwargs, case, moderate, planted):
    import latentgeo

    if not rep.verify():
        return "verify() rejects its own report"
    ref = latentgeo.unargmaxable(np.asarray(moderate, np.float64))
    got, want = set(np.asarray(rep.unargmaxable).tolist()), set(ref.unargmaxable.tolist())
    if got != want:
        return "unargmaxable %s, but %s for the same W at scale 1" % (sorted(got), sorted(want))
    if not set(planted) <= got:
        return "planted unargmaxable classes %s not found" % planted
    return None


def _exact_acc(f, y, sigma):
    from scipy import integrate, stats

    d = (f[y] - np.delete(f, y)) / sigma

    def g(u):
        return stats.norm.pdf(u) * np.prod(stats.norm.cdf(d + u))

    lo = -40.0
    hi = 40.0
    return integrate.quad(g, lo, hi, points=sorted(set((-d).clip(lo, hi).tolist())), limit=200)[0]


@check
def exact_ref(res, args, kwargs, case, logits, labels, sigma):
    A, grad = res
    A = np.asarray(A)
    if not np.isfinite(np.asarray(grad)).all():
        return "non-finite gradient"
    for i in range(len(labels)):
        want = _exact_acc(np.asarray(logits[i], np.float64), labels[i], sigma)
        if abs(float(A[i]) - want) > 1e-5:
            return "A = %r, quadrature %r (logits %s, label %d, sigma %g)" % (
                float(A[i]),
                want,
                list(logits[i]),
                labels[i],
                sigma,
            )
    return None


@check
def gumbel_ref(res, args, kwargs, case, logits, labels, scale):
    f = np.asarray(logits, np.float64) / scale
    p = np.exp(f - f.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want = p[np.arange(len(labels)), labels]
    got = np.asarray(res, np.float64)
    return None if np.allclose(got, want, rtol=1e-5, atol=1e-7) else "%s != %s" % (got, want)


@check
def zlpr_ref(res, args, kwargs, case, logits, targets):
    s = np.asarray(logits, np.float64)
    t = np.asarray(targets, np.float64)
    z = np.zeros((len(s), 1))
    neg = np.logaddexp.reduce(np.concatenate([z, np.where(t == 0, s, -np.inf)], 1), 1)
    pos = np.logaddexp.reduce(np.concatenate([z, np.where(t == 1, -s, -np.inf)], 1), 1)
    want = (neg + pos).mean()
    got = float(np.asarray(res))
    return None if np.isclose(got, want, rtol=1e-5, atol=1e-6) else "%r != %r" % (got, want)


@check
def weights_ref(res, args, kwargs, case, array):
    W = res[0]
    if not np.array_equal(np.asarray(W, np.float64), np.asarray(array, np.float64)):
        return "tensor differs from the file's"
    return None


@check
def norm_trunc_ref(res, args, kwargs, case, moderate, scale, n_keep):
    X = np.asarray(moderate, np.float64)
    nrm = np.linalg.norm(X, axis=1)
    order = np.argsort(nrm, kind="stable")
    got = np.asarray(res)
    if got.shape != (n_keep,) or got.dtype.kind not in "iu":
        return "shape %s dtype %s, expected (%d,) row indices" % (got.shape, got.dtype, n_keep)
    # rows at equal norms may come in any order: compare the norms
    if not np.allclose(np.sort(nrm[got]), nrm[order[:n_keep]]):
        return "not the %d smallest-norm rows" % n_keep
    return None


@check
def hubs_ref(res, args, kwargs, case, moderate, scale, k, threshold):
    ref = _ref_nk(moderate, k)
    keep = np.nonzero(ref >= threshold)[0]
    got = np.asarray(res.draw_index)
    if not np.array_equal(np.sort(got), keep):
        return "kept rows %s, reference %s" % (got.tolist(), keep.tolist())
    X = np.asarray(moderate, np.float64) * scale
    if not np.array_equal(np.asarray(res.latents, np.float64), X[got]):
        return "latents are not the kept rows"
    return None


@check
def gmm_ref(res, args, kwargs, case, weights, means, var, x):
    from scipy import stats

    p = sum(
        w * stats.multivariate_normal(m, v * np.eye(len(m))).pdf(x)
        for w, m, v in zip(weights, means, var)
    )
    want = np.log(p)
    got = np.asarray(res)
    ok = np.allclose(got, want, rtol=1e-8, atol=1e-10)
    return None if ok else "log_prob %s != scipy %s" % (got, want)


@check
def ll_ref(res, args, kwargs, case, weights, means, var, x):
    return gmm_ref(res.log_prob, args, kwargs, case, weights, means, var, x) and (
        None
        if np.allclose(res.log_prob, gmm_ref_value(weights, means, var, x), atol=5e-3)
        else "likelihood off by more than 5e-3"
    )


def gmm_ref_value(weights, means, var, x):
    from scipy import stats

    return np.log(
        sum(
            w * stats.multivariate_normal(m, v * np.eye(len(m))).pdf(x)
            for w, m, v in zip(weights, means, var)
        )
    )


@check
def grid_ref(res, args, kwargs, case, steps, discrete=False):
    g = np.asarray(res)
    m = steps if discrete else steps + 1
    if g.shape != (m,):
        return "shape %s, expected %s" % (g.shape, (m,))
    if not np.isfinite(g).all() or not (np.diff(g) < 0).all():
        return "grid not finite and strictly decreasing: %s" % g
    return None
