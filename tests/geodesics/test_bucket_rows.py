"""Distance rows without predecessors on graphs with positive weights: the bucket queue of the
Rust core (`rust/geodesics/buckets.rs`) serves them, the heap only when a weight is zero or the
weights span more than ~1000x. Either way the rows must equal scipy's bitwise, for every thread
count and output dtype."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra
from support.strategies import examples

import latentgeo
from latentgeo import geodesic


def check_rows(g, src, directed, limit=None):
    kw = {} if limit is None else {"limit": limit}
    want = dijkstra(g, directed=directed, indices=src, **kw).reshape(len(src), g.shape[0])
    for threads in (1, 2):
        got = geodesic(g, src, directed=directed, limit=limit, dtype=np.float64, n_threads=threads)
        np.testing.assert_array_equal(got, want)
        got32 = geodesic(g, src, directed=directed, limit=limit, n_threads=threads)
        assert got32.dtype == np.float32
        np.testing.assert_array_equal(got32, want.astype(np.float32))


@st.composite
def positive_graphs(draw, max_n=40):
    """A CSR graph with weights in [lo, lo * ratio] (ratio up to 5,000, beyond the bucket
    queue's reach), quantised or not, duplicate arcs kept, self-loops, isolated nodes."""
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(0, 4 * n))
    rows = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), np.int64)
    cols = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), np.int32)
    lo = draw(st.sampled_from([1e-3, 0.1, 1.0, 7.5, 1e6]))
    ratio = draw(st.sampled_from([1.0, 1.5, 3.0, 40.0, 1000.0, 5000.0]))
    quantised = draw(st.booleans())
    u = np.array(draw(st.lists(st.floats(0, 1), min_size=m, max_size=m)))
    w = lo * (1 + (ratio - 1) * (np.round(u * 4) / 4 if quantised else u))
    return arcs_csr(rows, cols, w, n)


@examples(100)
@given(g=positive_graphs(), directed=st.booleans(), data=st.data())
def test_positive_weight_rows_match_scipy(g, directed, data):
    n = g.shape[0]
    src = np.array(
        data.draw(st.lists(st.integers(0, n - 1), max_size=2 * n), label="sources"), np.int64
    )
    check_rows(g, src, directed)
    if g.nnz:
        limit = float(data.draw(st.sampled_from(g.data.tolist()), label="limit")) * 2
        check_rows(g, src, directed, limit=limit)


def knn_graph(X, k):
    g = latentgeo.knn(X, k).to_sparse().astype(np.float64)
    return g.maximum(g.T).tocsr()


def test_knn_graph_rows_match_scipy():
    # The benchmark's kind of graph, smaller: union-symmetrised kNN of Gaussian points.
    rng = np.random.default_rng(3)
    g = knn_graph(rng.standard_normal((3000, 16), dtype=np.float32), 8)
    assert g.data.min() > 0
    src = rng.choice(3000, 40, replace=False)
    check_rows(g, src, directed=True)
    check_rows(g, src, directed=False, limit=float(np.median(g.data)) * 3)


def test_disconnected_duplicate_and_zero_weight_arcs():
    rng = np.random.default_rng(4)
    # Two far-apart blobs: inf across them, finite within.
    X = np.vstack([rng.standard_normal((300, 4)), 1e3 + rng.standard_normal((300, 4))])
    g = knn_graph(X.astype(np.float32), 5)
    src = np.array([0, 1, 299, 300, 599, 0])
    check_rows(g, src, directed=True)
    d = geodesic(g, src, dtype=np.float64)
    assert np.isinf(d[0, 300:]).all() and np.isfinite(d[0, :300]).all()
    # Duplicate arcs stored separately in the CSR (the shorter counts).
    coo = g.tocoo()
    rows, cols, w = coo.row, coo.col, coo.data
    check_rows(arcs_csr(np.r_[rows, rows], np.r_[cols, cols], np.r_[w, w * 0.5], 600), src, True)
    # Two zero-weight arcs (a duplicate point) send the call to the heap: same answers.
    zero = arcs_csr(np.r_[rows, 5, 6], np.r_[cols, 6, 5], np.r_[w, 0.0, 0.0], 600)
    assert (zero.data == 0).sum() == 2
    check_rows(zero, src, directed=True)


def arcs_csr(rows, cols, w, n):
    """A CSR graph holding every arc given, duplicates as separate entries."""
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_matrix((w[order], cols[order], indptr), shape=(n, n))


@pytest.mark.parametrize("ratio", [1.0, 1000.0, 1100.0, 1e6])
def test_weight_ratios_around_the_ring_limit(ratio):
    rng = np.random.default_rng(int(ratio) % 97)
    n = 400
    g = sp.random(n, n, density=6 / n, random_state=rng, format="csr")
    g.data = 1.0 + (ratio - 1.0) * (g.data > 0.9)
    src = rng.integers(0, n, 30)
    check_rows(g, src, directed=False)
