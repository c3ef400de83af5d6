"""HubnessReduction equals reduce_hubness; GeodesicTransformer equals geodesic and scipy; both
treat new points as scikit-learn does; property tests of shapes, dtypes and permutations."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra
from support.strategies import SEEDS, examples

import latentgeo

METHODS = ["mp_gaussian", "mp_empiric", "ls", "nicdm", "csls"]


def _data(n=80, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def _rows(G):
    """Each row's (column, value) pairs, as a list of dicts."""
    G = G.tocsr()
    return [
        dict(zip(G.indices[a:b].tolist(), G.data[a:b].tolist()))
        for a, b in zip(G.indptr[:-1], G.indptr[1:])
    ]


@pytest.mark.parametrize("method", METHODS + ["dissim"])
def test_hubness_reduction_equals_reduce_hubness(method):
    X = _data()
    G = latentgeo.KNNTransformer(n_neighbors=12).fit_transform(X)
    vectors = X if method == "dissim" else None
    step = latentgeo.HubnessReduction(method, n_neighbors=6)
    H = step.fit_transform(G, vectors=vectors)
    ref = latentgeo.reduce_hubness(G, method, k=6, X=vectors)
    idx, val = H.indices.reshape(80, 7), H.data.reshape(80, 7)
    assert (idx[:, 0] == np.arange(80)).all() and (val[:, 0] == 0).all()
    np.testing.assert_array_equal(idx[:, 1:], ref.indices)
    np.testing.assert_array_equal(val[:, 1:], ref.distances + step.offset_)
    assert (step.offset_ > 0) == (method in ("csls", "dissim") and ref.distances.min() < 0)
    assert H.data.min() >= 0
    again = step.transform(G, vectors=vectors)  # the fitted graph again: the same answer
    np.testing.assert_array_equal(again.toarray(), H.toarray())


@pytest.mark.parametrize("method", ["mp_gaussian", "ls", "nicdm", "csls", "dissim"])
def test_rows_of_the_training_graph_as_new_points_give_the_training_rows(method):
    X = _data()
    G = latentgeo.KNNTransformer(n_neighbors=10).fit_transform(X)
    vectors = X if method == "dissim" else None
    step = latentgeo.HubnessReduction(method, n_neighbors=5).fit(G, vectors=vectors)
    H = step.transform(G, vectors=vectors)
    rows = [3, 0, 41]
    part = step.transform(G[rows], vectors=None if vectors is None else X[rows])
    assert _rows(part) == [_rows(H)[r] for r in rows]


def test_new_points_use_the_fitted_statistics():
    X, Y = _data(), _data(6, seed=2)
    knn = latentgeo.KNNTransformer(n_neighbors=8).fit(X)
    step = latentgeo.HubnessReduction("ls", method_params={"ls_k": 3}).fit(knn.transform(X))
    Q = step.transform(knn.transform(Y))
    assert Q.shape == (6, 80) and (np.diff(Q.indptr) == 8).all()
    # local scaling by hand: sigma of the query from its own 3rd candidate, of y from the fit
    res = latentgeo.knn(X, 8, query=Y)
    train = latentgeo.knn(X, 8)
    s_q, s_y = res.distances[:, 2], train.distances[:, 2][res.indices]
    ls = -np.expm1(-(res.distances**2) / (s_q[:, None] * s_y))
    want = [dict(zip(i.tolist(), v.tolist())) for i, v in zip(res.indices, ls)]
    got = _rows(Q)
    for g, w in zip(got, want):
        assert g.keys() == w.keys()
        np.testing.assert_allclose([g[c] for c in w], list(w.values()), rtol=1e-12)


def test_hubness_reduction_refusals():
    X = _data(30)
    G = latentgeo.KNNTransformer(n_neighbors=5).fit_transform(X)
    with pytest.raises(ValueError, match="needs the vectors"):
        latentgeo.HubnessReduction("dissim").fit(G)
    step = latentgeo.HubnessReduction("mp_empiric").fit(G)
    with pytest.raises(ValueError, match="fitted graph only"):
        step.transform(G[:3])
    with pytest.raises(ValueError, match="square graph"):
        latentgeo.HubnessReduction().fit(G[:10])
    with pytest.raises(ValueError, match="exceeds"):
        latentgeo.HubnessReduction(n_neighbors=9).fit(G)


@pytest.mark.parametrize("directed", [False, True])
def test_geodesic_transformer_equals_geodesic_and_scipy(directed):
    G = latentgeo.KNNTransformer(n_neighbors=4).fit_transform(_data(70))
    D = latentgeo.GeodesicTransformer(directed=directed).fit_transform(G)
    np.testing.assert_array_equal(D, latentgeo.geodesic(G, directed=directed, dtype=np.float64))
    np.testing.assert_array_equal(D, dijkstra(G, directed=directed))
    K = latentgeo.GeodesicTransformer(5, directed=directed).fit_transform(G)
    idx, dist = latentgeo.geodesic_neighbors(G, 5, directed=directed, dtype=np.float64)
    for r, row in enumerate(_rows(K)):
        want = {r: 0.0, **{int(i): float(d) for i, d in zip(idx[r], dist[r]) if i >= 0}}
        assert row == want


def test_geodesic_transformer_new_points_follow_isomap():
    X, Y = _data(70), _data(5, seed=4)
    knn = latentgeo.KNNTransformer(n_neighbors=5).fit(X)
    G, Q = knn.transform(X), knn.transform(Y)
    step = latentgeo.GeodesicTransformer().fit(G)
    D = dijkstra(G, directed=False)
    want = np.stack([np.min(D[Q[r].indices] + Q[r].data[:, None], axis=0) for r in range(5)])
    np.testing.assert_allclose(step.transform(Q), want, rtol=1e-12)
    np.testing.assert_array_equal(step.transform(G[[4, 9]]), D[[4, 9]])
    K = latentgeo.GeodesicTransformer(3).fit(G).transform(Q)
    assert (np.diff(K.indptr) == 4).all()
    for r, row in enumerate(_rows(K)):
        best = np.lexsort((np.arange(70), want[r]))[:4]
        assert sorted(row) == sorted(best.tolist())


@given(seed=SEEDS, n=st.integers(8, 30), k=st.integers(1, 5), f32=st.booleans())
@examples(15)
def test_knn_transformer_properties(seed, n, k, f32):
    X = np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32 if f32 else np.float64)
    G = latentgeo.KNNTransformer(n_neighbors=k).fit_transform(X)
    assert sp.issparse(G) and G.format == "csr" and G.shape == (n, n)
    assert G.dtype == X.dtype and (np.diff(G.indptr) == k + 1).all()
    perm = np.random.default_rng(seed + 1).permutation(n)
    Gp = latentgeo.KNNTransformer(n_neighbors=k).fit_transform(X[perm])
    # relabelling the points relabels the graph (no ties in continuous random data)
    np.testing.assert_array_equal(Gp.toarray(), G.toarray()[np.ix_(perm, perm)])


@given(seed=SEEDS, n=st.integers(8, 25), method=st.sampled_from(METHODS))
@examples(15)
def test_graph_steps_permutation_invariance(seed, n, method):
    X = np.random.default_rng(seed).normal(size=(n, 3))
    perm = np.random.default_rng(seed + 1).permutation(n)
    G = latentgeo.KNNTransformer(n_neighbors=5).fit_transform(X)
    Gp = latentgeo.KNNTransformer(n_neighbors=5).fit_transform(X[perm])
    H = latentgeo.HubnessReduction(method, method_params=_small(method)).fit_transform(G)
    Hp = latentgeo.HubnessReduction(method, method_params=_small(method)).fit_transform(Gp)
    assert H.dtype == np.float64 and H.shape == (n, n) and (np.diff(H.indptr) == 6).all()
    np.testing.assert_allclose(Hp.toarray(), H.toarray()[np.ix_(perm, perm)], rtol=1e-12)
    D = latentgeo.GeodesicTransformer().fit_transform(G)
    Dp = latentgeo.GeodesicTransformer().fit_transform(Gp)
    assert D.dtype == np.float64 and D.shape == (n, n)
    np.testing.assert_allclose(Dp, D[np.ix_(perm, perm)], rtol=1e-12)


def _small(method):
    key = {"ls": "ls_k", "nicdm": "nicdm_k", "csls": "csls_k"}.get(method)
    return {key: 3} if key else None
