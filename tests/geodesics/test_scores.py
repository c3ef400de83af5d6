"""GeoSumm centre scoring against independently built graphs, selection, component policies."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.sparse.csgraph import connected_components as sp_components
from scipy.sparse.csgraph import dijkstra
from scipy.spatial.distance import cdist

import latentgeo
from latentgeo import geodesic_scores, handle_components, knn_graph, summarize


def brute_knn(D, k, exclude_self):
    """Indices of the k smallest entries of each row (self excluded by index), ties by index."""
    D = D.copy()
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    return np.argsort(D, axis=1, kind="stable")[:, :k]


def as_csr(edges, size):
    """CSR matrix with one stored entry per (i, j) key, zeros included."""
    keys = list(edges)
    rows = np.array([a for a, _ in keys], dtype=np.int64)
    cols = np.array([b for _, b in keys], dtype=np.int64)
    w = np.array([edges[key] for key in keys], dtype=np.float64)
    return sp.csr_matrix((w, (rows, cols)), shape=(size, size))


def reference(X, C, k, metric):
    """(augmented-graph distances, formula distances, D) built with numpy/scipy only."""
    n, c = X.shape[0], C.shape[0]
    DX = cdist(X, X, metric=metric)
    DC = cdist(C, X, metric=metric)
    nbr = brute_knn(DX, k, True)
    cn = brute_knn(DC, k, False)
    edges = {}  # explicit entries: zero-length edges (duplicate directions) must be kept
    for i in range(n):
        for j in nbr[i]:
            edges[i, j] = edges[j, i] = DX[i, j]  # union symmetrisation (symmetric distances)
    base = dict(edges)
    for r in range(c):
        for j in cn[r]:
            edges[n + r, j] = DC[r, j]  # centre -> its k neighbours only
    aug = dijkstra(as_csr(edges, n + c), directed=True, indices=np.arange(n, n + c))[:, :n]
    D = dijkstra(as_csr(base, n), directed=False)
    formula = np.array([(DC[r, cn[r]][:, None] + D[cn[r]]).min(axis=0) for r in range(c)])
    return aug, formula, D


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 25),
    d=st.integers(1, 4),
    c=st.integers(1, 3),
    k=st.integers(1, 6),
    metric=st.sampled_from(["euclidean", "cosine"]),
)
def test_matches_augmented_graph_and_isomap_formula(seed, n, d, c, k, metric):
    rng = np.random.default_rng(seed)
    k = min(k, n - 1)
    X = rng.normal(size=(n, d))
    C = rng.normal(size=(c, d))
    scores, dist = geodesic_scores(X, C, k, metric=metric, return_distances=True)
    aug, formula, _ = reference(X, C, k, metric)
    assert dist.shape == scores.shape == (c, n)
    assert_allclose(dist, aug, rtol=1e-10, atol=1e-12)
    assert_allclose(dist, formula, rtol=1e-10, atol=1e-12)
    with np.errstate(divide="ignore"):
        expected = np.where(np.isinf(aug), 0.0, 1.0 / aug)
    assert_allclose(scores, expected, rtol=1e-10)
    # a 1-D centre gives a 1-D row
    one = geodesic_scores(X, C[0], k, metric=metric)
    assert one.shape == (n,)
    assert_allclose(one, scores[0])


def test_user_graph_directed_or_not_equals_default():
    rng = np.random.default_rng(0)
    X, C = rng.normal(size=(40, 3)), rng.normal(size=(2, 3))
    ref = geodesic_scores(X, C, 4)
    assert_allclose(geodesic_scores(X, C, 4, graph=knn_graph(X, 4)), ref)
    assert_allclose(geodesic_scores(X, C, 4, graph=knn_graph(X, 4, symmetrize="none")), ref)


def test_centre_on_a_data_point():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 5))
    scores, dist = geodesic_scores(X, X[[7, 12]], 5, return_distances=True)
    assert dist[0, 7] == 0 and dist[1, 12] == 0
    assert np.isposinf(scores[0, 7]) and np.isposinf(scores[1, 12])
    others = np.ones(30, dtype=bool)
    others[7] = False
    assert np.all(dist[0, others] > 0) and np.all(np.isfinite(scores[0, others]))


def test_centres_do_not_route_through_each_other():
    X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])  # two components for k=2
    # centre 3 joins {2, 1}; centre 6 joins {2, 10} and bridges the two components itself
    scores, dist = geodesic_scores(X, [[3.0], [6.0]], 2, return_distances=True)
    assert np.all(np.isinf(dist[0, 3:])) and np.all(scores[0, 3:] == 0)
    assert_allclose(dist[0, :3], [3.0, 2.0, 1.0])
    assert_allclose(dist[1], [6.0, 5.0, 4.0, 4.0, 5.0, 6.0])


def test_summarize_line_picks_nearest_to_centre():
    X = np.arange(20.0)[:, None]
    assert summarize(X, 5, centre=[7.3], k=2, metric="euclidean").tolist() == [7, 8, 6, 9, 5]
    # centre="mean" (5.0, on a point); ties (4 and 6) go to the lower index
    Y = np.arange(11.0)[:, None]
    assert summarize(Y, 5, k=2, metric="euclidean").tolist() == [5, 4, 6, 3, 7]


def test_summarize_max_similarity_skips_near_duplicates():
    ang = np.array([0.0, 0.001, 0.5, 1.0, 1.5])
    X = np.c_[np.cos(ang), np.sin(ang)]
    centre = [np.cos(0.0004), np.sin(0.0004)]
    assert summarize(X, 3, centre=centre, k=2).tolist() == [0, 1, 2]
    picked = summarize(X, 3, centre=centre, k=2, max_similarity=0.99)
    assert picked.tolist() == [0, 2, 3]
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = U[picked] @ U[picked].T
    assert np.all(sims[~np.eye(3, dtype=bool)] <= 0.99)
    # everything is too similar at a threshold of -1: only the best point remains
    assert summarize(X, 3, centre=centre, k=2, max_similarity=-1.0).tolist() == [0]


def two_clusters(seed=0, na=12, nb=8):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(na, 2))
    B = rng.normal(size=(nb, 2)) + 50.0
    X = np.vstack([A, B])
    perm = rng.permutation(na + nb)
    in_a = perm < na  # new position i holds old point perm[i]
    return X[perm], in_a


def test_policy_raise_and_inf():
    X, _ = two_clusters()
    g = knn_graph(X, 3)
    with pytest.raises(ValueError, match="2 connected components"):
        handle_components(g, "raise")
    with pytest.raises(ValueError, match="2 connected components"):
        geodesic_scores(X, X.mean(axis=0), 3, policy="raise")
    same, info = handle_components(g, "inf")
    assert same is g and info["n_components"] == 2
    d = geodesic_scores(X, X[:1], 3, return_distances=True)[1][0]
    assert np.isinf(d).any() and np.isfinite(d).any()


def test_policy_largest_keeps_bigger_cluster():
    X, in_a = two_clusters()
    g = knn_graph(X, 3)
    sub, info = handle_components(g, "largest")
    assert_array_equal(info["kept"], np.flatnonzero(in_a))
    assert sub.shape == (12, 12)
    assert_allclose(sub.toarray(), g.toarray()[np.ix_(in_a, in_a)])
    centre = X[~in_a].mean(axis=0)  # nearest to the smaller cluster: joined to the kept one
    scores, dist = geodesic_scores(X, centre, 3, policy="largest", return_distances=True)
    assert np.all(np.isfinite(dist[in_a])) and np.all(np.isinf(dist[~in_a]))
    assert np.all(scores[~in_a] == 0) and np.all(scores[in_a] > 0)


def test_policy_connect_adds_the_closest_pair():
    X, in_a = two_clusters()
    g = knn_graph(X, 3)
    g2, info = handle_components(g, "connect", X=X)
    assert sp_components(g2, directed=False)[0] == 1
    ia, ib = np.flatnonzero(in_a), np.flatnonzero(~in_a)
    D = cdist(X[ia], X[ib])
    r, s = np.unravel_index(np.argmin(D), D.shape)
    assert info["added_edges"].tolist() == [sorted([int(ia[r]), int(ib[s])])]
    assert_allclose(info["added_weights"], [D[r, s]], rtol=1e-12)
    u, v = info["added_edges"][0]
    assert g2[u, v] == g2[v, u] == pytest.approx(D[r, s], rel=1e-12)
    assert g2.nnz == g.nnz + 2
    d = geodesic_scores(X, X.mean(axis=0), 3, policy="connect", return_distances=True)[1]
    assert np.all(np.isfinite(d))


def test_policy_connect_matches_sklearn_for_three_components():
    graph_utils = pytest.importorskip("sklearn.utils.graph")
    fix = getattr(graph_utils, "_fix_connected_components", None)
    if fix is None:
        pytest.skip("this scikit-learn has no _fix_connected_components")
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(10, 3)) + off for off in (0.0, 40.0, 90.0)])
    X = X[rng.permutation(30)]
    g = knn_graph(X, 3)
    n_comp, labels = sp_components(g, directed=False)
    assert n_comp == 3
    expected = fix(X, g.tolil(), n_comp, labels, mode="distance")
    g2, info = handle_components(g, "connect", X=X)
    assert info["added_edges"].shape == (3, 2)
    assert_allclose(g2.toarray(), sp.csr_matrix(expected).toarray(), rtol=1e-12)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda X: geodesic_scores(X, X[0], 10), "k=10 must be smaller"),
        (lambda X: geodesic_scores(X, X[0], 12), "k=12 must be smaller"),
        (lambda X: geodesic_scores(X, np.zeros(3), 2), "centres have 3 features but X has 2"),
        (lambda X: geodesic_scores(X, X[0], 2, policy="drop"), "unknown policy 'drop'"),
        (lambda X: handle_components(knn_graph(X, 2), "drop"), "unknown policy 'drop'"),
        (lambda X: handle_components(knn_graph(X, 1), "connect"), "needs the vectors X"),
        (lambda X: summarize(X, 11), "m=11 exceeds the number of points n=10"),
        (lambda X: summarize(X, 2, centre=np.ones(5)), "centres have 5 features"),
        (lambda X: geodesic_scores(X, X[0], 2, graph=knn_graph(X[:5], 2)), "graph has 5 nodes"),
    ],
)
def test_bad_input(call, match):
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match=match):
        call(X)


def test_exported():
    for name in ("geodesic_scores", "summarize", "handle_components"):
        assert name in latentgeo.__all__
