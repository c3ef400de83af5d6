"""Graph strategies and checks shared by the neighbour-graph and geodesic tests."""

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st

WEIGHTS = st.one_of(
    st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5]),  # zeros and many equal-length paths
    st.floats(0.0, 10.0, allow_nan=False, allow_infinity=False),
)


@st.composite
def csr_graphs(draw, min_n=1, max_n=30):
    """A CSR graph with arcs in random order, duplicate (i, j) arcs kept as separate entries,
    explicit zeros, self-loops and (often) isolated nodes or several components."""
    n = draw(st.integers(min_n, max_n))
    m = draw(st.integers(0, 3 * n))
    rows = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    cols = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    w = draw(st.lists(WEIGHTS, min_size=m, max_size=m))
    rows, cols, w = np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int32), np.array(w)
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_matrix((w[order], cols[order], indptr), shape=(n, n))


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
