"""latentgeo.geodesic(policy=...) on disconnected graphs."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial.distance import cdist

import latentgeo
from latentgeo import geodesic, handle_components, knn_graph


@pytest.fixture(scope="module")
def blobs():
    """Three far-apart blobs of 30, 12 and 8 points in 3-D, shuffled; k=3 leaves them apart."""
    rng = np.random.default_rng(4)
    sizes, centres = [30, 12, 8], [0.0, 50.0, -80.0]
    X = np.concatenate([rng.standard_normal((s, 3)) + c for s, c in zip(sizes, centres)])
    perm = rng.permutation(X.shape[0])
    X = X[perm]
    g = knn_graph(X, 3)
    n_comp, labels = latentgeo.connected_components(g)
    assert n_comp == 3
    return X, g, labels


def test_inf_is_the_default(blobs):
    X, g, _ = blobs
    d = geodesic(g, [0, 5], dtype=np.float64)
    np.testing.assert_array_equal(geodesic(g, [0, 5], dtype=np.float64, policy="inf"), d)
    assert np.isinf(d).any()
    np.testing.assert_array_equal(d, dijkstra(g, indices=[0, 5]))


def test_raise(blobs):
    X, g, _ = blobs
    with pytest.raises(ValueError, match="3 connected components"):
        geodesic(g, 0, policy="raise")
    with pytest.raises(ValueError, match="3 connected components"):
        geodesic(g.toarray(), 0, policy="raise")  # dense input too
    connected = knn_graph(np.arange(10.0)[:, None], 1)
    np.testing.assert_array_equal(
        geodesic(connected, policy="raise"), geodesic(connected, policy="inf")
    )


def test_connect_adds_closest_pair_edges(blobs):
    X, g, labels = blobs
    d = geodesic(g, policy="connect", X=X, dtype=np.float64)
    assert np.isfinite(d).all()
    # Independent construction: an edge between the closest pair of every pair of components.
    D = cdist(X, X)
    h = g.tolil(copy=True)
    for a in range(3):
        for b in range(a + 1, 3):
            ia, ib = np.flatnonzero(labels == a), np.flatnonzero(labels == b)
            sub = D[np.ix_(ia, ib)]
            r, c = np.unravel_index(np.argmin(sub), sub.shape)
            h[ia[r], ib[c]] = h[ib[c], ia[r]] = sub[r, c]
    want = dijkstra(h.tocsr(), directed=False)
    np.testing.assert_allclose(d, want, rtol=1e-12)
    # The same as running on handle_components' graph; sources and out= work as usual.
    g2, info = handle_components(g, "connect", X=X)
    assert info["added_edges"].shape == (3, 2)
    out = np.empty((2, X.shape[0]), dtype=np.float32)
    got = geodesic(g, [3, 1], policy="connect", X=X, out=out)
    assert got is out
    np.testing.assert_array_equal(got, geodesic(g2, [3, 1]))
    # Another metric for the bridging edges.
    g3, _ = handle_components(g, "connect", X=X, metric="cosine")
    np.testing.assert_array_equal(
        geodesic(g, 2, policy="connect", X=X, metric="cosine"), geodesic(g3, 2)
    )
    with pytest.raises(ValueError, match="needs the vectors X"):
        geodesic(g, 0, policy="connect")
    with pytest.raises(ValueError, match="rows"):
        geodesic(g, 0, policy="connect", X=X[:-1])


def test_largest(blobs):
    X, g, labels = blobs
    big = int(np.argmax(np.bincount(labels)))
    kept = np.flatnonzero(labels == big)
    assert kept.size == 30
    d, pred = geodesic(g, policy="largest", dtype=np.float64, return_predecessors=True)
    assert d.shape == (30, X.shape[0])
    want, want_pred = dijkstra(g, indices=kept, return_predecessors=True)
    np.testing.assert_array_equal(d, want)
    assert np.isfinite(d[:, kept]).all()
    assert np.isinf(np.delete(d, kept, axis=1)).all()
    assert latentgeo.reconstruct_path(pred, 0, kept[-1], sources=kept)[0] == kept[0]
    # Sources inside: as usual, including a single int; outside: a clear error.
    s = int(kept[3])
    np.testing.assert_array_equal(geodesic(g, s, policy="largest"), geodesic(g, s))
    assert geodesic(g, s, policy="largest").shape == (X.shape[0],)
    outside = int(np.flatnonzero(labels != big)[0])
    with pytest.raises(ValueError, match=f"source {outside} is not in the largest"):
        geodesic(g, [s, outside], policy="largest")
    # Dense input and directed graphs use weak components.
    np.testing.assert_array_equal(geodesic(g.toarray(), [s], policy="largest"), geodesic(g, [s]))
    np.testing.assert_array_equal(
        geodesic(sp.triu(g).tocsr(), policy="largest", directed=True),
        geodesic(sp.triu(g).tocsr(), kept, directed=True),
    )


@pytest.mark.parametrize("policy", ["nope", None, 1])
def test_bad_policy(policy):
    with pytest.raises(ValueError, match="policy"):
        geodesic(sp.eye(3, format="csr"), 0, policy=policy)
