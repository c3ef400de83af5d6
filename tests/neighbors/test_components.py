"""Connected components against scipy and known answers."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse import csgraph
from support.graphs import (
    knn_tables,
)
from support.strategies import examples

from latentgeo import connected_components, knn_graph

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


@examples(100)
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
