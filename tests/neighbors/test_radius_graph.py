"""Radius graphs against a dense brute force, at the boundary and far from the origin."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.graphs import (
    assert_graph_equal,
    assert_symmetric,
    check_canonical,
    dense,
    grid_points,
)
from support.references import pairwise
from support.strategies import examples

from latentgeo import connected_components, knn_graph

# ---------------------------------------------------------------------------------------------
# radius graphs


def radius_reference(X, r, metric):
    D = pairwise(X, metric)
    M = D <= r
    np.fill_diagonal(M, False)
    return M, D


@examples(80)
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
