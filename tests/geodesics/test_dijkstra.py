"""Exact geodesic distances against scipy.sparse.csgraph.dijkstra, invariants and known answers."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra
from support.graphs import csr_graphs

import latentgeo
from latentgeo import NO_PREDECESSOR, geodesic, reconstruct_path


def arc_weight(graph, u, v, directed):
    """Smallest stored weight of an arc u -> v (either direction when undirected)."""
    g = sp.csr_matrix(graph)
    best = np.inf
    for a, b in [(u, v)] + ([] if directed else [(v, u)]):
        lo, hi = g.indptr[a], g.indptr[a + 1]
        hit = g.data[lo:hi][g.indices[lo:hi] == b]
        if hit.size:
            best = min(best, hit.min())
    return best


def check_paths(graph, dist, pred, sources, directed):
    """Every predecessor path leads from its source to the target and sums to the distance."""
    for r, s in enumerate(sources):
        for t in range(dist.shape[1]):
            path = reconstruct_path(pred, r, t, sources=sources)
            if not np.isfinite(dist[r, t]):
                assert path == [] and pred[r, t] == NO_PREDECESSOR
                continue
            assert path[0] == s and path[-1] == t
            total = 0.0
            for u, v in zip(path[:-1], path[1:]):
                total += arc_weight(graph, u, v, directed)
            assert total == dist[r, t]


@settings(max_examples=150, deadline=None)
@given(
    g=csr_graphs(),
    directed=st.booleans(),
    limit=st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 2.5]), st.floats(0, 20)),
    data=st.data(),
)
def test_matches_scipy(g, directed, limit, data):
    n = g.shape[0]
    sources = data.draw(st.lists(st.integers(0, n - 1), max_size=2 * n), label="sources")
    src = np.array(sources, dtype=np.int64)
    kw = {} if limit is None else {"limit": limit}
    want = dijkstra(g, directed=directed, indices=src, **kw).reshape(len(src), n)
    got, pred = geodesic(
        g, src, directed=directed, limit=limit, dtype=np.float64, return_predecessors=True
    )
    assert got.dtype == np.float64 and got.shape == (len(src), n)
    np.testing.assert_array_equal(got, want)
    got32 = geodesic(g, src, directed=directed, limit=limit)
    assert got32.dtype == np.float32
    np.testing.assert_array_equal(got32, want.astype(np.float32))
    check_paths(g, got, pred, src, directed)


@settings(max_examples=40, deadline=None)
@given(g=csr_graphs(max_n=20), directed=st.booleans())
def test_all_sources_and_threads(g, directed):
    n = g.shape[0]
    a, pa = geodesic(g, directed=directed, dtype=np.float64, return_predecessors=True, n_threads=1)
    b, pb = geodesic(g, directed=directed, dtype=np.float64, return_predecessors=True, n_threads=2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(a, dijkstra(g, directed=directed))
    assert (np.diag(a) == 0).all()
    for s in range(n):
        assert reconstruct_path(pa, s, s) == [s]
    if not directed:
        # Symmetric up to rounding (a path summed from the other end can differ in the last bit).
        np.testing.assert_allclose(a, a.T, rtol=1e-12)
        # Triangle inequality D(s, t) <= D(s, u) + D(u, t), up to rounding of the sum.
        via = a[:, :, None] + a[None, :, :]  # via[s, u, t] = D(s, u) + D(u, t)
        assert (a <= via.min(axis=1) * (1 + 1e-12) + 1e-12).all()


def test_larger_random_graph_threads_and_scipy():
    rng = np.random.default_rng(5)
    n = 3000
    g = sp.random(n, n, density=4 / n, random_state=rng, format="csr")
    g.data = np.round(g.data * 8) / 8
    src = rng.integers(0, n, 64)
    for directed in (True, False):
        a, pa = geodesic(
            g, src, directed=directed, dtype=np.float64, return_predecessors=True, n_threads=1
        )
        b, pb = geodesic(
            g, src, directed=directed, dtype=np.float64, return_predecessors=True, n_threads=2
        )
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(a, dijkstra(g, directed=directed, indices=src))
        r = 7
        for t in rng.integers(0, n, 50):
            path = reconstruct_path(pa, r, t, sources=src)
            if path:
                w = [arc_weight(g, u, v, directed) for u, v in zip(path[:-1], path[1:])]
                assert sum(w) == pytest.approx(a[r, t], rel=1e-12)


def test_input_formats_match_scipy():
    rng = np.random.default_rng(1)
    n = 40
    dense = rng.random((n, n)) * (rng.random((n, n)) < 0.1)
    dense[3, 4] = np.inf  # dense convention: inf (like 0) is "no edge"
    for directed in (True, False):
        want = dijkstra(dense, directed=directed)
        np.testing.assert_array_equal(geodesic(dense, directed=directed, dtype="float64"), want)
        np.testing.assert_array_equal(
            geodesic(dense.tolist(), directed=directed, dtype="float64"), want
        )
        for fmt in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.lil_matrix):
            g = fmt(np.where(np.isinf(dense), 0, dense))
            np.testing.assert_array_equal(geodesic(g, directed=directed, dtype="float64"), want)
    # COO duplicates are summed by tocsr(), as in scipy.
    coo = sp.coo_matrix(([1.0, 1.0, 5.0], ([0, 0, 0], [1, 1, 1])), shape=(2, 2))
    assert geodesic(coo, 0, dtype="float64").tolist() == [0.0, 7.0]
    assert dijkstra(coo, indices=0).tolist() == [0.0, 7.0]
    # Integer and boolean weights.
    ig = sp.csr_matrix(np.array([[0, 2], [0, 0]], dtype=np.int64))
    assert geodesic(ig, 0, directed=True).tolist() == [0.0, 2.0]
    bg = sp.csr_matrix(np.array([[False, True], [False, False]]))
    assert geodesic(bg, 1).tolist() == [1.0, 0.0]


def test_undirected_takes_min_of_both_directions_and_keeps_zero_edges():
    # 0 -> 1 weighs 3 one way and 1 the other; 1 - 2 is an explicit zero stored one way;
    # 2 -> 3 is stored twice in the CSR (weights 4 and 2).
    indptr = np.array([0, 1, 3, 5, 5])
    indices = np.array([1, 0, 2, 3, 3])
    data = np.array([3.0, 1.0, 0.0, 4.0, 2.0])
    g = sp.csr_matrix((data, indices, indptr), shape=(4, 4))
    assert g.nnz == 5
    d = geodesic(g, dtype=np.float64)
    np.testing.assert_array_equal(d, dijkstra(g, directed=False))
    assert d[0].tolist() == [0.0, 1.0, 1.0, 3.0]
    d = geodesic(g, 0, directed=True, dtype=np.float64)
    assert d.tolist() == [0.0, 3.0, 3.0, 5.0]
    np.testing.assert_array_equal(d, dijkstra(g, indices=0))


def test_limit_keeps_exact_boundary_and_masks_full_rows():
    g = sp.diags([np.ones(9)], [1], shape=(10, 10), format="csr")
    d = geodesic(g, [0, 5], limit=3.0, dtype=np.float64)
    assert d[0].tolist() == [0, 1, 2, 3] + [np.inf] * 6
    assert d[1].tolist() == [np.inf, np.inf, 3, 2, 1, 0, 1, 2, 3, np.inf]
    full = geodesic(g, [0, 5], dtype=np.float64)
    np.testing.assert_array_equal(np.where(full <= 3.0, full, np.inf), d)
    d, p = geodesic(g, 0, limit=0, return_predecessors=True)
    assert d.tolist() == [0.0] + [np.inf] * 9 and (p == NO_PREDECESSOR).all()


def test_circle_knn_graph():
    n = 60
    t = 2 * np.pi * np.arange(n) / n
    X = np.c_[np.cos(t), np.sin(t)]
    g = latentgeo.knn(X, 2).to_sparse()
    d = geodesic(g, dtype=np.float64)
    i = np.arange(n)
    hops = np.abs(i[:, None] - i[None, :])
    hops = np.minimum(hops, n - hops)
    np.testing.assert_allclose(d, hops * 2 * np.sin(np.pi / n), rtol=1e-12, atol=1e-14)
    # Directed kNN: still a cycle both ways round since every point keeps both neighbours.
    np.testing.assert_array_equal(geodesic(g, directed=True, dtype=np.float64), d)


def test_grid_is_spacing_times_manhattan():
    w, h, spacing = 9, 6, 0.5
    ids = np.arange(w * h).reshape(h, w)
    rows = np.r_[ids[:, :-1].ravel(), ids[:-1, :].ravel()]
    cols = np.r_[ids[:, 1:].ravel(), ids[1:, :].ravel()]
    g = sp.coo_matrix((np.full(rows.size, spacing), (rows, cols)), shape=(w * h, w * h))
    d = geodesic(g, dtype=np.float64, n_threads=2)
    y, x = np.divmod(np.arange(w * h), w)
    manhattan = np.abs(x[:, None] - x[None, :]) + np.abs(y[:, None] - y[None, :])
    np.testing.assert_array_equal(d, spacing * manhattan)


def test_line_and_path_reconstruction():
    x = np.sort(np.random.default_rng(3).random(25) * 10)
    g = sp.diags([np.diff(x)], [1], shape=(25, 25), format="csr")
    d, p = geodesic(g, return_predecessors=True, dtype=np.float64)
    np.testing.assert_allclose(d, np.abs(x[:, None] - x[None, :]), rtol=1e-12, atol=1e-12)
    assert reconstruct_path(p, 3, 7) == [3, 4, 5, 6, 7]
    assert reconstruct_path(p, 7, 3) == [7, 6, 5, 4, 3]
    d, p = geodesic(g, [20], directed=True, return_predecessors=True)
    assert reconstruct_path(p, 0, 24, sources=[20]) == [20, 21, 22, 23, 24]
    assert reconstruct_path(p, 0, 2, sources=[20]) == []
    d1, p1 = geodesic(g, 20, directed=True, return_predecessors=True)
    assert d1.shape == p1.shape == (25,)
    assert reconstruct_path(p1, 0, 22, sources=20) == [20, 21, 22]
    with pytest.raises(ValueError, match="sources="):
        reconstruct_path(p, 0, 2)
    with pytest.raises(ValueError, match="source_row"):
        reconstruct_path(p, 1, 2, sources=[20])
    with pytest.raises(ValueError, match="do not lead"):
        reconstruct_path(np.array([[-9999, 0, 1]]), 0, 1, sources=[2])


def test_out_is_filled_and_returned():
    g = sp.random(50, 50, density=0.1, random_state=0, format="csr")
    want = geodesic(g, [1, 2, 3])
    out = np.full((3, 50), -1.0, dtype=np.float32)
    res = geodesic(g, [1, 2, 3], out=out)
    assert res is out
    np.testing.assert_array_equal(out, want)
    out64 = np.empty(50)
    assert geodesic(g, 4, out=out64, dtype=np.float64) is out64
    assert geodesic(g, 4, dtype=np.float64).tolist() == out64.tolist()
    bad = [
        (np.empty((3, 50), dtype=np.float64), "dtype"),
        (np.empty((3, 49), dtype=np.float32), "shape"),
        (np.empty((50, 3), dtype=np.float32).T, "C-contiguous"),
    ]
    for arr, msg in bad:
        with pytest.raises(ValueError, match=msg):
            geodesic(g, [1, 2, 3], out=arr)
    ro = np.empty((3, 50), dtype=np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        geodesic(g, [1, 2, 3], out=ro)
    with pytest.raises(TypeError, match="numpy array"):
        geodesic(g, [1, 2, 3], out=[[0.0] * 50] * 3)


def test_empty_cases_and_progress(capsys):
    g = sp.csr_matrix((5, 5))
    d = geodesic(g)
    assert (np.diag(d) == 0).all() and np.isinf(d[~np.eye(5, dtype=bool)]).all()
    assert geodesic(g, []).shape == (0, 5)
    assert geodesic(sp.csr_matrix((0, 0))).shape == (0, 0)
    geodesic(sp.random(30, 30, density=0.2, random_state=0), progress=True)
    assert "geodesic" in capsys.readouterr().err


@pytest.mark.parametrize(
    "graph, kwargs, exc, msg",
    [
        (sp.csr_matrix(np.array([[0, -1.0], [0, 0]])), {}, ValueError, r"\(0, 1\).*negative"),
        (sp.csr_matrix(np.array([[0, np.nan], [1, 0]])), {}, ValueError, "NaN"),
        (sp.csr_matrix(np.array([[0, np.inf], [1, 0]])), {}, ValueError, "infinite"),
        (np.array([[0, np.nan], [1, 0]]), {}, ValueError, "NaN"),
        (np.array([[0, -2.0], [1, 0]]), {}, ValueError, "negative"),
        (sp.csr_matrix((2, 3)), {}, ValueError, "square"),
        (np.zeros((2, 3)), {}, ValueError, "square"),
        (np.zeros(4), {}, ValueError, "square"),
        (np.array([["a", "b"], ["c", "d"]]), {}, TypeError, "real"),
        (sp.csr_matrix(np.eye(2, dtype=complex)), {}, TypeError, "real"),
        (np.ma.masked_equal(np.eye(2), 0), {}, TypeError, "masked"),
        (sp.eye(3, format="csr"), {"sources": 3}, ValueError, "source 3 is out of range"),
        (sp.eye(3, format="csr"), {"sources": [0, -1]}, ValueError, "source -1 is out of"),
        (sp.eye(3, format="csr"), {"sources": [[0]]}, ValueError, "1-D"),
        (sp.eye(3, format="csr"), {"sources": [0.5]}, TypeError, "integers"),
        (sp.eye(3, format="csr"), {"dtype": np.int32}, ValueError, "float32 or float64"),
        (sp.eye(3, format="csr"), {"dtype": np.float16}, ValueError, "float32 or float64"),
        (sp.eye(3, format="csr"), {"dtype": "nope"}, TypeError, "not understood"),
        (sp.eye(3, format="csr"), {"limit": -1}, ValueError, "limit"),
        (sp.eye(3, format="csr"), {"limit": float("nan")}, ValueError, "limit"),
        (sp.eye(3, format="csr"), {"limit": "1"}, TypeError, "limit"),
        (sp.eye(3, format="csr"), {"n_threads": 0}, ValueError, "n_threads"),
    ],
)
def test_bad_input(graph, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        geodesic(graph, **kwargs)
