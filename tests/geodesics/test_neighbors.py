"""geodesic_neighbors against full scipy.sparse.csgraph.dijkstra rows sorted by (distance, id)."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra
from support.graphs import csr_graphs

import latentgeo
from latentgeo import geodesic_neighbors


def reference(graph, sources, k, directed):
    """First k of each full scipy row sorted by (distance, id), source left out, padded."""
    n = graph.shape[0]
    full = dijkstra(graph, directed=directed, indices=sources).reshape(len(sources), n)
    idx = np.full((len(sources), k), -1, dtype=np.int64)
    dist = np.full((len(sources), k), np.inf)
    for r, s in enumerate(sources):
        row = full[r]
        nodes = np.arange(n)
        keep = (nodes != s) & np.isfinite(row)
        order = np.lexsort((nodes[keep], row[keep]))[:k]  # by distance, then id
        idx[r, : order.size] = nodes[keep][order]
        dist[r, : order.size] = row[keep][order]
    return idx, dist


@settings(max_examples=150, deadline=None)
@given(g=csr_graphs(min_n=2), directed=st.booleans(), data=st.data())
def test_matches_sorted_scipy_rows(g, directed, data):
    n = g.shape[0]
    k = data.draw(st.integers(1, n - 1), label="k")
    sources = data.draw(st.lists(st.integers(0, n - 1), max_size=2 * n), label="sources")
    src = np.array(sources, dtype=np.int64)
    want_idx, want_dist = reference(g, src, k, directed)
    idx, dist = geodesic_neighbors(g, k, sources=src, directed=directed, dtype=np.float64)
    assert idx.dtype == np.int64 and dist.dtype == np.float64
    assert idx.shape == dist.shape == (len(src), k)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dist, want_dist)
    idx32, dist32 = geodesic_neighbors(g, k, sources=src, directed=directed)
    assert dist32.dtype == np.float32
    np.testing.assert_array_equal(idx32, want_idx)
    np.testing.assert_array_equal(dist32, want_dist.astype(np.float32))


@settings(max_examples=60, deadline=None)
@given(g=csr_graphs(min_n=2, max_n=25), directed=st.booleans(), data=st.data())
def test_threads_and_sparse_output(g, directed, data):
    n = g.shape[0]
    k = data.draw(st.integers(1, n - 1), label="k")
    a = geodesic_neighbors(g, k, directed=directed, dtype=np.float64, n_threads=1)
    b = geodesic_neighbors(g, k, directed=directed, dtype=np.float64, n_threads=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    m = geodesic_neighbors(g, k, directed=directed, dtype=np.float64, return_sparse=True)
    assert sp.issparse(m) and m.format == "csr" and m.shape == (n, n)
    idx, dist = a
    found = idx >= 0
    assert m.nnz == found.sum()  # zero distances are stored, padding is not
    np.testing.assert_array_equal(np.diff(m.indptr), found.sum(axis=1))
    np.testing.assert_array_equal(m.indices, idx[found])
    np.testing.assert_array_equal(m.data, dist[found])
    rows, _ = np.nonzero(found)
    coo = m.tocoo()
    np.testing.assert_array_equal(coo.row, rows)
    np.testing.assert_array_equal(coo.col, idx[found])
    dense = np.zeros((n, n))
    dense[rows, idx[found]] = dist[found]  # each (row, column) once: neighbours are distinct
    np.testing.assert_array_equal(m.toarray(), dense)


def test_zero_weight_ties_settled_out_of_id_order():
    # 0 -> 5 (1.0), 5 -> 2 (0.0), 0 -> 3 (2.0): node 2 is reached through 5 at the same
    # distance, after it; (distance, id) order still puts 2 first.
    g = sp.csr_matrix(([1.0, 0.0, 2.0], ([0, 5, 0], [5, 2, 3])), shape=(6, 6))
    assert g.nnz == 3
    idx, dist = geodesic_neighbors(g, 1, sources=0, directed=True, dtype=np.float64)
    assert idx.tolist() == [2] and dist.tolist() == [1.0]
    idx, dist = geodesic_neighbors(g, 4, sources=[0, 3], directed=True, dtype=np.float64)
    assert idx.tolist() == [[2, 5, 3, -1], [-1, -1, -1, -1]]
    assert dist.tolist() == [[1.0, 1.0, 2.0, np.inf], [np.inf] * 4]
    m = geodesic_neighbors(g, 4, sources=[0, 3], directed=True, return_sparse=True)
    assert m.shape == (2, 6) and m.nnz == 3
    assert m.indices.tolist() == [2, 5, 3] and m.data.tolist() == [1.0, 1.0, 2.0]
    m1 = geodesic_neighbors(g, 2, sources=0, directed=True, return_sparse=True)
    assert m1.shape == (1, 6) and m1.indices.tolist() == [2, 5]


def test_disconnected_blobs_are_padded():
    rng = np.random.default_rng(0)
    X = np.r_[rng.standard_normal((30, 3)), rng.standard_normal((20, 3)) + 100]
    g = latentgeo.knn(X, 4).to_sparse()
    idx, dist = geodesic_neighbors(g, 25, dtype=np.float64)
    # Points of the small blob see only its other 19 points.
    assert (idx[30:, 19:] == -1).all() and np.isinf(dist[30:, 19:]).all()
    assert (idx[30:, :19] >= 30).all() and np.isfinite(dist[30:, :19]).all()
    assert (idx[:30] < 30).all() and (idx[:30] >= 0).all()
    want_idx, want_dist = reference(g, np.arange(50), 25, directed=False)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dist, want_dist)


def test_larger_graph_matches_scipy_and_threads():
    rng = np.random.default_rng(5)
    n = 3000
    g = sp.random(n, n, density=4 / n, random_state=rng, format="csr")
    g.data = np.round(g.data * 8) / 8  # zeros and ties
    src = rng.integers(0, n, 64)
    for directed in (True, False):
        for k in (1, 10, 200):
            a = geodesic_neighbors(g, k, sources=src, directed=directed, n_threads=1)
            b = geodesic_neighbors(g, k, sources=src, directed=directed, n_threads=2)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])
            want_idx, want_dist = reference(g, src, k, directed)
            np.testing.assert_array_equal(a[0], want_idx)
            np.testing.assert_array_equal(a[1], want_dist.astype(np.float32))


def test_line_and_progress(capsys):
    x = np.sort(np.random.default_rng(3).random(25) * 10)
    g = sp.diags([np.diff(x)], [1], shape=(25, 25), format="csr")
    idx, dist = geodesic_neighbors(g, 2, sources=[0, 24, 10], dtype=np.float64, progress=True)
    assert "geodesic_neighbors" in capsys.readouterr().err
    assert idx[0].tolist() == [1, 2] and idx[1].tolist() == [23, 22]
    np.testing.assert_allclose(dist[2], np.sort(np.abs(x[10] - np.delete(x, 10)))[:2], rtol=1e-12)
    assert geodesic_neighbors(g, 3, sources=[])[0].shape == (0, 3)


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        ({"k": 0}, ValueError, "1 <= k < n"),
        ({"k": -2}, ValueError, "1 <= k < n"),
        ({"k": 5}, ValueError, "1 <= k < n = 5"),
        ({"k": 6}, ValueError, "1 <= k < n"),
        ({"k": 1.5}, TypeError, "k must be an integer"),
        ({"k": True}, TypeError, "k must be an integer"),
        ({"k": 2, "sources": 5}, ValueError, "source 5 is out of range"),
        ({"k": 2, "sources": [0, -1]}, ValueError, "source -1 is out of range"),
        ({"k": 2, "sources": [[0]]}, ValueError, "1-D"),
        ({"k": 2, "dtype": np.int32}, ValueError, "float32 or float64"),
        ({"k": 2, "n_threads": 0}, ValueError, "n_threads"),
    ],
)
def test_bad_input(kwargs, exc, msg):
    g = sp.random(5, 5, density=0.5, random_state=0, format="csr")
    with pytest.raises(exc, match=msg):
        geodesic_neighbors(g, **kwargs)


def test_bad_graph_and_single_node():
    with pytest.raises(ValueError, match="negative"):
        geodesic_neighbors(sp.csr_matrix(np.array([[0, -1.0], [0, 0]])), 1)
    with pytest.raises(ValueError, match="1 <= k < n = 1"):
        geodesic_neighbors(sp.csr_matrix((1, 1)), 1)
