"""Neighbourhood graphs against dense numpy constructions, scikit-learn and known answers."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csgraph

import latentgeo
from latentgeo import as_graph, connected_components, knn, knn_graph

# ---------------------------------------------------------------------------------------------
# helpers


def check_canonical(G, n):
    """CSR float64 (n, n) with strictly increasing column indices in every row."""
    assert isinstance(G, sp.csr_matrix)
    assert G.shape == (n, n)
    assert G.dtype == np.float64
    assert G.indptr[0] == 0 and G.indptr[-1] == G.indices.size == G.data.size
    for i in range(n):
        row = G.indices[G.indptr[i] : G.indptr[i + 1]]
        assert np.all(np.diff(row) > 0), f"row {i} unsorted or duplicated: {row}"
    assert G.has_sorted_indices


def dense(G):
    """(mask, weights) of a graph: mask marks stored entries, weights are inf elsewhere."""
    n = G.shape[0]
    coo = G.tocoo()
    M = np.zeros((n, n), dtype=bool)
    W = np.full((n, n), np.inf)
    M[coo.row, coo.col] = True
    W[coo.row, coo.col] = coo.data
    assert M.sum() == G.nnz
    return M, W


def assert_graph_equal(G, M, W):
    gm, gw = dense(G)
    np.testing.assert_array_equal(gm, M)
    np.testing.assert_array_equal(gw[M], W[M])


def assert_symmetric(G):
    T = G.T.tocsr()
    T.sort_indices()
    np.testing.assert_array_equal(G.indptr, T.indptr)
    np.testing.assert_array_equal(G.indices, T.indices)
    np.testing.assert_array_equal(G.data, T.data)


def pairwise(X, metric):
    X = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        nrm = np.linalg.norm(X, axis=1)
        den = np.outer(nrm, nrm)
        dot = X @ X.T
        cos = np.divide(dot, den, out=np.zeros_like(dot), where=den > 0)
        return np.clip(1.0 - cos, 0.0, 2.0)
    sq = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    return np.sqrt(sq) if metric == "euclidean" else sq


@st.composite
def knn_tables(draw, max_n=12):
    """A precomputed self-join kNN table (indices, distances), with zeros and asymmetry."""
    n = draw(st.integers(2, max_n))
    k = draw(st.integers(1, n - 1))
    idx = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        idx[i] = draw(st.permutations(others))[:k]
    vals = st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0])
    dist = np.array(draw(st.lists(vals, min_size=n * k, max_size=n * k))).reshape(n, k)
    return idx, np.sort(dist, axis=1)


@st.composite
def grid_points(draw, max_n=14, d=2):
    """Small-integer points: many duplicates (zero distances) and ties."""
    n = draw(st.integers(2, max_n))
    flat = draw(st.lists(st.integers(-2, 2), min_size=n * d, max_size=n * d))
    return np.array(flat, dtype=np.float64).reshape(n, d)


# ---------------------------------------------------------------------------------------------
# kNN graphs


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("k", [1, 4, 15])
def test_directed_matches_sklearn(metric, k):
    from sklearn.neighbors import kneighbors_graph

    rng = np.random.default_rng(k)
    X = rng.normal(size=(150, 6))
    G = knn_graph(X, k, metric=metric, symmetrize="none")
    check_canonical(G, 150)
    ref = kneighbors_graph(X, k, mode="distance", metric=metric, include_self=False)
    ref = ref.tocsr()
    ref.sort_indices()
    assert np.all(np.diff(G.indptr) == k)
    np.testing.assert_array_equal(G.indptr, ref.indptr)
    np.testing.assert_array_equal(G.indices, ref.indices)
    np.testing.assert_allclose(G.data, ref.data, rtol=1e-7, atol=1e-9)


def test_union_is_max_and_mutual_is_min_of_dense():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    Gd = knn_graph(X, 5, symmetrize="none").toarray()  # continuous data: no zero weights
    assert np.all(Gd.sum(1) > 0)
    union = knn_graph(X, 5).toarray()
    mutual = knn_graph(X, 5, symmetrize="mutual").toarray()
    np.testing.assert_array_equal(union, np.maximum(Gd, Gd.T))
    mn = np.minimum(Gd, Gd.T)
    np.testing.assert_array_equal(mutual != 0, mn != 0)
    np.testing.assert_array_equal(mutual[mn != 0], Gd[mn != 0])
    assert 0 < (mutual != 0).sum() < (Gd != 0).sum() < (union != 0).sum()
    np.testing.assert_array_equal(knn_graph(X, 5, mode="mutual").toarray(), mutual)


@settings(max_examples=150, deadline=None)
@given(knn_tables())
def test_symmetrize_precomputed_table_matches_dense(table):
    idx, dist = table
    n = idx.shape[0]
    M = np.zeros((n, n), dtype=bool)
    W = np.full((n, n), np.inf)
    rows = np.repeat(np.arange(n), idx.shape[1])
    M[rows, idx.ravel()] = True
    W[rows, idx.ravel()] = dist.ravel()
    Wmin = np.minimum(W, W.T)  # the smaller of the directed weights present
    for how, mask, weights in [
        ("none", M, W),
        ("union", M | M.T, Wmin),
        ("mutual", M & M.T, Wmin),
    ]:
        G = knn_graph((idx, dist), None, symmetrize=how)
        check_canonical(G, n)
        assert_graph_equal(G, mask, weights)
        if how != "none":
            assert_symmetric(G)
        H = as_graph(
            sp.csr_matrix((dist.ravel(), (rows, idx.ravel())), shape=(n, n)),
            symmetrize=None if how == "none" else how,
        )
        assert_graph_equal(H, mask, weights)


@settings(max_examples=100, deadline=None)
@given(grid_points(), st.data())
def test_symmetrize_vectors_with_duplicates_matches_dense(X, data):
    n = X.shape[0]
    k = data.draw(st.integers(1, n - 1))
    M, W = dense(knn_graph(X, k, symmetrize="none"))
    assert np.all(M.sum(1) == k) and not M.diagonal().any()
    # the directed distances are the true ones (so symmetric where both directions exist)
    np.testing.assert_allclose(W[M], pairwise(X, "euclidean")[M], rtol=1e-12, atol=1e-12)
    union, mutual = knn_graph(X, k), knn_graph(X, k, symmetrize="mutual")
    assert_graph_equal(union, M | M.T, np.minimum(W, W.T))
    assert_graph_equal(mutual, M & M.T, W)
    assert_symmetric(union)
    assert_symmetric(mutual)


def test_zero_weight_edges_survive():
    X = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 0.0], [5.0, 0.0], [5.0, 0.0], [0.0, 9.0]])
    for how in ["none", "union", "mutual"]:
        for weight in ["distance", 2.0, 0.5]:
            G = knn_graph(X, 1, symmetrize=how, weight=weight)
            M, W = dense(G)
            assert M[0, 1] and M[1, 0] and W[0, 1] == 0 and W[1, 0] == 0
            assert M[2, 3] and W[2, 3] == 0
            assert np.count_nonzero(G.data == 0) >= 4
        U = knn_graph(X, 1, symmetrize=how, weight="unit")
        assert dense(U)[0][0, 1] and np.all(U.data == 1.0)
    G = knn_graph(X, 2)
    assert dense(G)[0][2, 3] and dense(G)[0][3, 4] and dense(G)[0][2, 4]
    assert np.count_nonzero(G.data == 0) == 8  # 0-1 and the triangle 2-3-4, both directions
    # mutual k=1: the zero edges 0-1 and 2-3 only; union k=2 joins everything
    c, labels = connected_components(knn_graph(X, 1, symmetrize="mutual"))
    assert c == 4
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2, 3])
    assert connected_components(G)[0] == 1


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 3.7])
def test_weight_power_and_unit(p):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 4))
    G = knn_graph(X, 6)
    Gp = knn_graph(X, 6, weight=p)
    U = knn_graph(X, 6, weight="unit")
    for H in (Gp, U):
        check_canonical(H, 60)
        np.testing.assert_array_equal(H.indptr, G.indptr)
        np.testing.assert_array_equal(H.indices, G.indices)
    np.testing.assert_allclose(Gp.data, G.data**p, rtol=1e-14)
    assert np.all(U.data == 1.0)
    # sqeuclidean is euclidean with weight=2
    S = knn_graph(X, 6, metric="sqeuclidean")
    np.testing.assert_allclose(S.toarray(), knn_graph(X, 6, weight=2).toarray(), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# radius graphs


def radius_reference(X, r, metric):
    D = pairwise(X, metric)
    M = D <= r
    np.fill_diagonal(M, False)
    return M, D


@settings(max_examples=80, deadline=None)
@given(
    st.one_of(
        grid_points(max_n=20, d=3),
        st.integers(0, 10**6).map(lambda s: np.random.default_rng(s).normal(size=(25, 3))),
    ),
    st.sampled_from(["euclidean", "sqeuclidean", "cosine"]),
    st.floats(0.0, 4.0),
)
def test_radius_matches_dense_brute_force(X, metric, r):
    n = X.shape[0]
    G = knn_graph(X, mode="radius", radius=r, metric=metric, symmetrize="none")
    check_canonical(G, n)
    M, D = radius_reference(X, r, metric)
    gm, gw = dense(G)
    clear = np.abs(D - r) > 1e-9 * (1 + r)  # pairs not within rounding of the boundary
    np.testing.assert_array_equal(gm[clear], M[clear])
    np.testing.assert_allclose(gw[gm], D[gm], rtol=1e-12, atol=1e-12)
    assert_symmetric(G)
    assert_graph_equal(knn_graph(X, mode="radius", radius=r, metric=metric), gm, gw)


def test_radius_boundary_inclusive_and_zero_radius():
    # integer grid: distances 1, sqrt 2, 2 are exact, so the boundary is tested exactly
    xs, ys = np.meshgrid(np.arange(5.0), np.arange(4.0))
    X = np.column_stack([xs.ravel(), ys.ravel()])
    X = np.vstack([X, X[:3]])  # three duplicates
    n = X.shape[0]
    M, D = radius_reference(X, 1.0, "euclidean")
    G = knn_graph(X, mode="radius", radius=1.0)
    assert_graph_equal(G, M, D)
    assert np.any(G.data == 1.0) and np.count_nonzero(G.data == 0) == 6
    G2 = knn_graph(X, mode="radius", radius=2.0, metric="sqeuclidean", weight="unit")
    M2, _ = radius_reference(X, 2.0, "sqeuclidean")
    np.testing.assert_array_equal(dense(G2)[0], M2)
    G0 = knn_graph(X, mode="radius", radius=0.0)
    assert G0.nnz == 6 and np.all(G0.data == 0)
    assert connected_components(G0)[0] == n - 3


def test_radius_blocks(monkeypatch):
    import latentgeo.neighbors._graph as graph_mod

    rng = np.random.default_rng(7)
    X = rng.normal(size=(70, 5)).astype(np.float32)
    ref = knn_graph(X, mode="radius", radius=2.0)
    monkeypatch.setattr(graph_mod, "_RADIUS_BLOCK", 150)  # 2 rows per block
    G = knn_graph(X, mode="radius", radius=2.0)
    np.testing.assert_array_equal(G.indices, ref.indices)
    np.testing.assert_array_equal(G.data, ref.data)
    M, D = radius_reference(X, 2.0, "euclidean")
    np.testing.assert_array_equal(dense(G)[0], M)


# ---------------------------------------------------------------------------------------------
# invariances and known answers


@pytest.mark.parametrize(
    "kwargs",
    [
        {"symmetrize": "none"},
        {"symmetrize": "union", "weight": 2.0},
        {"mode": "mutual"},
        {"mode": "radius", "radius": 1.5},
        {"metric": "cosine", "symmetrize": "none"},
    ],
)
def test_permutation_equivariance(kwargs):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(80, 3))
    perm = rng.permutation(80)
    M, W = dense(knn_graph(X, 5, **kwargs))
    Mp, Wp = dense(knn_graph(X[perm], 5, **kwargs))
    np.testing.assert_array_equal(Mp, M[np.ix_(perm, perm)])
    np.testing.assert_allclose(Wp[Mp], W[np.ix_(perm, perm)][Mp], rtol=1e-12)


@pytest.mark.parametrize("n", [3, 4, 7, 16, 101])
def test_circle_is_cycle_with_chord_weights(n):
    t = 2 * np.pi * np.arange(n) / n
    X = np.column_stack([np.cos(t), np.sin(t)])
    chord = 2 * np.sin(np.pi / n)
    cycle = np.zeros((n, n), dtype=bool)
    i = np.arange(n)
    cycle[i, (i + 1) % n] = cycle[(i + 1) % n, i] = True
    for how in ["none", "union", "mutual"]:
        G = knn_graph(X, 2, symmetrize=how)
        check_canonical(G, n)
        M, W = dense(G)
        np.testing.assert_array_equal(M, cycle)
        np.testing.assert_allclose(W[M], chord, rtol=1e-12)
    c, labels = connected_components(knn_graph(X, 2))
    assert c == 1 and np.all(labels == 0)


def test_anisotropic_grid_k4():
    # spacing 1 along x, 1.1 along y: the 4 grid neighbours (1, 1, 1.1, 1.1) are strictly
    # nearer than anything else (next: diagonals at 1.487), so only border rows involve ties
    w, h = 7, 5
    xs, ys = np.meshgrid(np.arange(w) * 1.0, np.arange(h) * 1.1)
    X = np.column_stack([xs.ravel(), ys.ravel()])  # node = y * w + x
    n = w * h
    grid = np.zeros((n, n), dtype=bool)
    for y in range(h):
        for x in range(w):
            if x + 1 < w:
                grid[y * w + x, y * w + x + 1] = True
            if y + 1 < h:
                grid[y * w + x, (y + 1) * w + x] = True
    grid |= grid.T
    gx, gy = np.meshgrid(np.arange(w), np.arange(h))
    interior = ((gx > 0) & (gx < w - 1) & (gy > 0) & (gy < h - 1)).ravel()
    D = pairwise(X, "euclidean")
    Md, Wd = dense(knn_graph(X, 4, symmetrize="none"))
    np.testing.assert_array_equal(Md[interior], grid[interior])
    assert np.all(Md[grid])  # every node lists all its grid neighbours
    for how in ["union", "mutual"]:
        M, W = dense(knn_graph(X, 4, symmetrize=how))
        assert np.all(M[grid])
        np.testing.assert_allclose(W[grid], D[grid], rtol=1e-12)
        assert set(np.round(W[grid], 12)) == {1.0, 1.1}
    Mm, _ = dense(knn_graph(X, 4, mode="mutual"))
    np.testing.assert_array_equal(Mm[interior], grid[interior])


# ---------------------------------------------------------------------------------------------
# connected components


def canonical_labels(labels):
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    relabel = np.empty_like(order)
    relabel[order] = np.arange(order.size)
    return relabel[labels]


def test_two_clusters_deterministic_labels():
    rng = np.random.default_rng(5)
    A = rng.normal(size=(40, 3))
    B = rng.normal(size=(30, 3)) + 100.0
    perm = rng.permutation(70)
    X = np.vstack([A, B])[perm]
    member = (perm >= 40).astype(np.int64)  # 1 for points of B
    c, labels = connected_components(knn_graph(X, 5))
    assert c == 2
    assert labels.dtype == np.int64 and labels[0] == 0
    expected = member if member[0] == 0 else 1 - member
    np.testing.assert_array_equal(labels, expected)
    c2, labels2 = connected_components(knn_graph(X, 5, symmetrize="none"), directed=False)
    assert c2 == 2
    np.testing.assert_array_equal(labels2, labels)


@settings(max_examples=100, deadline=None)
@given(knn_tables(max_n=15), st.booleans())
def test_components_match_scipy(table, directed):
    idx, dist = table
    n, k = idx.shape
    keep = np.arange(n * k) % 3 != 0  # thin the graph out so that it falls apart
    rows = np.repeat(np.arange(n), k)[keep]
    G = sp.csr_matrix((dist.ravel()[keep], (rows, idx.ravel()[keep])), shape=(n, n))
    c, labels = connected_components(G, directed=directed)
    rc, rlabels = csgraph.connected_components(G, directed=directed, connection="strong")
    assert c == rc
    np.testing.assert_array_equal(labels, canonical_labels(rlabels))
    assert labels.max() == c - 1
    _, first = np.unique(labels, return_index=True)
    assert np.all(np.diff(first) > 0)


def test_components_directed_and_isolated():
    path = sp.csr_matrix(([1.0, 0.0], ([0, 1], [1, 2])), shape=(4, 4))
    assert connected_components(path)[0] == 2
    np.testing.assert_array_equal(connected_components(path)[1], [0, 0, 0, 1])
    c, labels = connected_components(path, directed=True)
    assert c == 4
    np.testing.assert_array_equal(labels, [0, 1, 2, 3])
    cyc = sp.csr_matrix(([1.0, 1.0, 1.0], ([2, 3, 1], [3, 1, 2])), shape=(4, 4))
    c, labels = connected_components(cyc, directed=True)
    assert c == 2
    np.testing.assert_array_equal(labels, [0, 1, 1, 1])


# ---------------------------------------------------------------------------------------------
# inputs


def test_precomputed_inputs_agree():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(50, 4))
    res = knn(X, 7)
    ref = knn_graph(X, 4)
    for obj in (res, (res.indices, res.distances), res.to_sparse()):
        G = knn_graph(obj, 4)
        np.testing.assert_array_equal(G.indices, ref.indices)
        np.testing.assert_array_equal(G.data, ref.data)
    G = knn_graph(res, None, symmetrize="none")
    assert np.all(np.diff(G.indptr) == 7)
    X32 = X.astype(np.float32)
    G32 = knn_graph(X32, 4)
    assert G32.dtype == np.float64
    np.testing.assert_allclose(G32.toarray(), ref.toarray(), rtol=1e-5, atol=1e-6)


def test_as_graph_canonicalises():
    # COO with an unsorted row, a repeated entry (smallest kept, not summed) and a zero
    rows = np.array([0, 0, 2, 0, 1, 2])
    cols = np.array([2, 1, 0, 2, 1, 1])
    vals = np.array([3, 5, 0, 1, 4, 2], dtype=np.int64)
    A = sp.coo_matrix((vals, (rows, cols)), shape=(3, 3))
    before = A.copy()
    G = as_graph(A)
    check_canonical(G, 3)
    expected = {(0, 1): 5.0, (0, 2): 1.0, (1, 1): 4.0, (2, 0): 0.0, (2, 1): 2.0}
    coo = G.tocoo()
    got = {(int(r), int(c)): float(v) for r, c, v in zip(coo.row, coo.col, coo.data)}
    assert got == expected
    np.testing.assert_array_equal(A.toarray(), before.toarray())
    U = as_graph(A, symmetrize="union")
    coo = U.tocoo()
    got = {(int(r), int(c)): float(v) for r, c, v in zip(coo.row, coo.col, coo.data)}
    assert got == {
        (0, 1): 5.0,
        (1, 0): 5.0,
        (0, 2): 0.0,
        (2, 0): 0.0,
        (1, 1): 4.0,
        (1, 2): 2.0,
        (2, 1): 2.0,
    }
    Mu = as_graph(A, symmetrize="mutual")
    assert Mu.nnz == 3 and Mu[0, 2] == 0.0 and Mu[1, 1] == 4.0
    assert as_graph(sp.csr_matrix((0, 0))).shape == (0, 0)


def test_exported():
    for name in ("knn_graph", "as_graph", "connected_components"):
        assert name in latentgeo.__all__ and hasattr(latentgeo, name)


# ---------------------------------------------------------------------------------------------
# errors

X5 = np.arange(10.0).reshape(5, 2) ** 1.5


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"k": 5}, ValueError, "smaller than the number of points"),
        ({"k": 0}, ValueError, "at least 1"),
        ({"k": -1}, ValueError, "at least 1"),
        ({"k": 2.5}, TypeError, "integer"),
        ({"k": 2, "mode": "nearest"}, ValueError, "unknown mode"),
        ({"k": 2, "symmetrize": "max"}, ValueError, "unknown symmetrize"),
        ({"k": 2, "weight": "hops"}, ValueError, "unknown weight"),
        ({"k": 2, "weight": 0.0}, ValueError, "p must be"),
        ({"k": 2, "weight": -2}, ValueError, "p must be"),
        ({"k": 2, "weight": float("nan")}, ValueError, "p must be"),
        ({"k": 2, "weight": True}, TypeError, "weight must be"),
        ({"k": 2, "weight": [2]}, TypeError, "weight must be"),
        ({"k": 2, "metric": "inner_product"}, ValueError, "similarities"),
        ({"k": 2, "metric": "manhattan"}, ValueError, "unknown metric"),
        ({"k": 2, "mode": "mutual", "symmetrize": "union"}, ValueError, "mode='mutual'"),
        ({"k": 2, "mode": "mutual", "symmetrize": "none"}, ValueError, "mode='mutual'"),
        ({"k": 2, "radius": 1.0}, ValueError, "only used with mode='radius'"),
        ({"mode": "radius"}, ValueError, "needs a radius"),
        ({"mode": "radius", "radius": -1.0}, ValueError, "radius must be"),
        ({"mode": "radius", "radius": np.inf}, ValueError, "radius must be"),
        ({"mode": "radius", "radius": "1"}, TypeError, "radius must be"),
    ],
)
def test_knn_graph_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        knn_graph(X5, **kwargs)


def test_knn_graph_bad_precomputed():
    res = knn(X5, 2)
    with pytest.raises(ValueError, match="own neighbours"):
        knn_graph(knn(X5, 2, exclude_self=False), 2)
    with pytest.raises(ValueError, match="k=10 exceeds the 2 neighbours stored"):
        knn_graph(res)
    idx = res.indices.copy()
    idx[3, 1] = idx[3, 0]
    with pytest.raises(ValueError, match="more than once"):
        knn_graph((idx, res.distances), None)
    with pytest.raises(ValueError, match="negative distance"):
        knn_graph((res.indices, res.distances - 100.0), None)
    with pytest.raises(ValueError, match="same n points"):
        knn_graph(knn(X5, 2, query=X5[:3]), None)
    with pytest.raises(ValueError, match="inner_product"):
        knn_graph(knn(X5, 2, metric="inner_product"), None)
    with pytest.raises(ValueError, match="k=3 exceeds"):
        knn_graph(res.to_sparse(), 3)
    with pytest.raises(ValueError, match="k must be at least 1"):
        knn_graph((res.indices, res.distances), 0)
    with pytest.raises(TypeError, match="vectors"):
        knn_graph(res, mode="radius", radius=1.0)
    with pytest.raises(TypeError, match="vectors"):
        knn_graph(res.to_sparse(), mode="radius", radius=1.0)


def test_as_graph_bad_input():
    def csr(vals, shape=(3, 3)):
        return sp.csr_matrix((vals, ([0, 1, 2], [1, 2, 0])), shape=shape)

    with pytest.raises(ValueError, match=r"negative weight -1.0 at \(1, 2\)"):
        as_graph(csr([1.0, -1.0, 2.0]))
    with pytest.raises(ValueError, match=r"NaN weight at \(2, 0\)"):
        as_graph(csr([1.0, 1.0, np.nan]))
    with pytest.raises(ValueError, match="infinite weight"):
        as_graph(csr([np.inf, 1.0, 1.0]))
    with pytest.raises(ValueError, match="square"):
        as_graph(csr([1.0, 1.0, 1.0], shape=(3, 4)))
    with pytest.raises(TypeError, match="scipy.sparse"):
        as_graph(np.eye(3))
    with pytest.raises(TypeError, match="real numbers"):
        as_graph(sp.csr_matrix(np.eye(3, dtype=complex)))
    with pytest.raises(ValueError, match="unknown symmetrize"):
        as_graph(csr([1.0, 1.0, 1.0]), symmetrize="both")
    with pytest.raises(ValueError, match="negative weight"):
        connected_components(csr([1.0, -1.0, 2.0]))


@pytest.mark.parametrize("offset", [1e7, 7e7 + 0.25, 1e8 + 0.25, 4e8 + 0.75])
def test_radius_translation_with_large_offset(offset):
    # |x|^2 + |y|^2 - 2 x.y cancels catastrophically here: the exact boundary pairs (distance
    # exactly 1) must still be found, with the same graph as the untranslated points
    X = np.column_stack([np.arange(40.0), np.zeros(40)])
    X[::3, 1] = 1.0  # also some diagonal pairs at sqrt(2) > 1
    ref = knn_graph(X, mode="radius", radius=1.0)
    G = knn_graph(X + offset, mode="radius", radius=1.0)
    assert_graph_equal(G, *dense(ref))
    M, D = radius_reference(X + offset, 1.0, "euclidean")
    assert_graph_equal(G, M, D)
