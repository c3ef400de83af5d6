"""Hypothesis strategies shared by the graph tests."""

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
