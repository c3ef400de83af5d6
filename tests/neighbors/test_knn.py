"""Exact kNN against brute-force references (numpy f64 and scikit-learn)."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import latentgeo
from latentgeo import knn

METRICS = ["euclidean", "sqeuclidean", "cosine", "inner_product"]


def brute_values(X, Q, metric):
    """f64 matrix of ranking values (smaller is nearer) and the reported values."""
    X = np.asarray(X, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    diff = Q[:, None, :] - X[None, :, :]
    sq = (diff * diff).sum(-1)
    dot = Q @ X.T
    if metric == "euclidean":
        return sq, np.sqrt(sq)
    if metric == "sqeuclidean":
        return sq, sq
    if metric == "cosine":
        nq = np.linalg.norm(Q, axis=1)[:, None]
        nx = np.linalg.norm(X, axis=1)[None, :]
        den = nq * nx
        cos = np.divide(dot, den, out=np.zeros_like(dot), where=den > 0)
        return 1.0 - cos, np.clip(1.0 - cos, 0.0, 2.0)
    return -dot, dot


def brute_knn(X, k, metric, Q=None, exclude_self=True):
    self_join = Q is None
    key, val = brute_values(X, X if self_join else Q, metric)
    if self_join and exclude_self:
        np.fill_diagonal(key, np.inf)
    m, n = key.shape
    idx = np.array([np.lexsort((np.arange(n), key[i]))[:k] for i in range(m)]).reshape(m, k)
    return idx, np.take_along_axis(val, idx, 1), key


def check_valid(res, X, k, metric, Q=None, exclude_self=True, rtol=1e-6):
    """Every returned list is a correct top-k (up to near-ties) with correct distances."""
    ref_idx, ref_val, key = brute_knn(X, k, metric, Q, exclude_self)
    _, val = brute_values(X, X if Q is None else Q, metric)
    got_val = np.take_along_axis(val, res.indices, 1)
    np.testing.assert_allclose(res.distances, got_val, rtol=rtol, atol=rtol)
    got_key = np.take_along_axis(key, res.indices, 1)
    kth = np.take_along_axis(key, ref_idx, 1)
    scale = np.abs(key).max() + 1.0
    assert np.all(got_key <= kth[:, -1:] + 1e-9 * scale)
    assert np.all(np.diff(got_key, axis=1) >= -1e-9 * scale)
    for row in res.indices:
        assert len(set(row.tolist())) == k
    return ref_idx


@st.composite
def integer_data(draw, max_n=30, max_d=4):
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(1, max_d))
    X = draw(arrays(np.float64, (n, d), elements=st.integers(-3, 3).map(float)))
    k = draw(st.integers(1, n - 1))
    return X, k


@settings(max_examples=60, deadline=None)
@given(integer_data(), st.sampled_from(["euclidean", "sqeuclidean", "inner_product"]))
def test_exact_with_ties_and_duplicates(data, metric):
    # Small integers: every distance is exact in f64, so ties must go to the lower index.
    X, k = data
    res = knn(X, k, metric=metric)
    ref_idx, ref_val, _ = brute_knn(X, k, metric)
    np.testing.assert_array_equal(res.indices, ref_idx)
    np.testing.assert_allclose(res.distances, ref_val, rtol=1e-12, atol=1e-12)
    res32 = knn(X.astype(np.float32), k, metric=metric)
    np.testing.assert_array_equal(res32.indices, ref_idx)


@settings(max_examples=40, deadline=None)
@given(integer_data())
def test_cosine_with_ties(data):
    X, k = data
    check_valid(knn(X, k, metric="cosine"), X, k, "cosine")


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 60),
    st.integers(1, 12),
    st.sampled_from(METRICS),
    st.sampled_from([np.float32, np.float64]),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_random_data_all_metrics(n, d, metric, dtype, seed, with_query):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, d)) * rng.uniform(0.1, 100)).astype(dtype)
    Q = rng.standard_normal((7, d)).astype(dtype) if with_query else None
    k = int(rng.integers(1, n if not with_query else n + 1))
    res = knn(X, k, metric=metric, query=Q)
    assert res.distances.dtype == dtype
    assert res.indices.dtype == np.int64
    assert res.indices.shape == (n if Q is None else 7, k)
    check_valid(res, X, k, metric, Q, rtol=1e-5 if dtype == np.float32 else 1e-10)


def test_agrees_with_sklearn_brute():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 48)).astype(np.float32)
    Q = rng.standard_normal((500, 48)).astype(np.float32)
    for metric in ("euclidean", "cosine"):
        nn = NearestNeighbors(n_neighbors=10, algorithm="brute", metric=metric).fit(X)
        d_ref, i_ref = nn.kneighbors()
        res = knn(X, 10, metric=metric)
        assert (res.indices == i_ref).mean() > 0.999
        np.testing.assert_allclose(res.distances, d_ref, rtol=1e-4, atol=1e-4)
        d_ref, i_ref = nn.kneighbors(Q)
        res = knn(X, 10, metric=metric, query=Q)
        assert (res.indices == i_ref).mean() > 0.999


def test_blocks_threads_and_progress_do_not_change_results():
    rng = np.random.default_rng(1)
    # Quantised values make many exact ties; n spans several internal blocks.
    X = np.round(rng.standard_normal((2600, 6)) * 2).astype(np.float32)
    a = knn(X, 15, n_threads=1)
    b = knn(X, 15, n_threads=2)
    c = knn(X, 15, progress=True)
    for r in (b, c):
        np.testing.assert_array_equal(a.indices, r.indices)
        np.testing.assert_array_equal(a.distances, r.distances)
    ref_idx, _, _ = brute_knn(X, 15, "euclidean")
    np.testing.assert_array_equal(a.indices, ref_idx)


def test_duplicates_are_excluded_by_index_not_distance():
    X = np.array([[0, 0], [0, 0], [5, 0], [5, 1]], dtype=float)
    res = knn(X, 1)
    assert res.indices.ravel().tolist() == [1, 0, 3, 2]
    assert res.distances.ravel().tolist() == [0.0, 0.0, 1.0, 1.0]
    incl = knn(X, 1, exclude_self=False)
    assert incl.indices.ravel().tolist() == [0, 0, 2, 3]


def test_known_small_configuration_and_inner_product_order():
    X = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]])
    assert knn(X, 1).indices.ravel().tolist() == [1, 0, 1, 2, 3]
    sims = knn(X, 2, metric="inner_product")
    assert sims.indices[1].tolist() == [4, 3]  # largest dot products, descending
    assert sims.indices[0].tolist() == [1, 2]  # all dot products 0: ties to the lower index
    assert np.all(np.diff(sims.distances, axis=1) <= 0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.01, 100), st.integers(3, 40))
def test_metamorphic_permutation_translation_scaling(seed, scale, n):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    k = min(4, n - 1)
    base = knn(X, k)
    perm = rng.permutation(n)
    p = knn(X[perm], k)
    # Row perm[i] of the permuted problem is row i of the original; indices map back via perm.
    inv = np.argsort(perm)
    np.testing.assert_allclose(p.distances[inv], base.distances, rtol=1e-9)
    np.testing.assert_array_equal(perm[p.indices[inv]], base.indices)
    shifted = knn(X * scale + rng.standard_normal(5) * 10, k)
    np.testing.assert_array_equal(shifted.indices, base.indices)
    np.testing.assert_allclose(shifted.distances, base.distances * scale, rtol=1e-7)


def test_dtypes():
    X = np.arange(20, dtype=np.int32).reshape(10, 2)
    assert knn(X, 2).distances.dtype == np.float64
    assert knn(X.astype(np.float16), 2).distances.dtype == np.float32
    assert knn(X.astype(np.float32), 2).distances.dtype == np.float32
    # Mixed query/data dtypes promote to float64.
    res = knn(X.astype(np.float32), 2, query=X[:3].astype(np.float64))
    assert res.distances.dtype == np.float64
    # Non-contiguous input is accepted.
    assert knn(np.asfortranarray(X.astype(float)), 2).indices.shape == (10, 2)


def test_zero_vector_has_cosine_distance_one():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    res = knn(X, 2, metric="cosine")
    np.testing.assert_allclose(res.distances[0], [1.0, 1.0])
    np.testing.assert_allclose(res.distances[1], [1.0, 1.0])


def test_large_offset_keeps_float32_exact():
    rng = np.random.default_rng(3)
    X = (rng.standard_normal((800, 8)) + 1e4).astype(np.float32)
    res = knn(X, 5)
    ref_idx, _, _ = brute_knn(X, 5, "euclidean")
    assert (res.indices == ref_idx).mean() > 0.999
    check_valid(res, X, 5, "euclidean", rtol=1e-5)


def test_result_helpers_and_as_knn():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((50, 3))
    res = knn(X, 5)
    assert res.k == 5 and res.n_queries == 50 and res.n_index == 50 and res.self_join
    g = res.to_sparse()
    assert g.shape == (50, 50) and g.nnz == 250
    back = latentgeo.as_knn(g)
    np.testing.assert_array_equal(back.indices, res.indices)
    np.testing.assert_allclose(back.distances, res.distances)
    head = latentgeo.as_knn(res, 2)
    np.testing.assert_array_equal(head.indices, res.indices[:, :2])
    tup = latentgeo.as_knn((res.indices, res.distances), 3)
    np.testing.assert_array_equal(tup.indices, res.indices[:, :3])
    # A graph that includes self on the diagonal (scikit-learn's include_self=True) drops it.
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=5).fit(X)
    with_self = nn.kneighbors_graph(X, n_neighbors=6, mode="distance")
    dropped = latentgeo.as_knn(with_self, 5)
    np.testing.assert_array_equal(dropped.indices, res.indices)
    d = res.to_dict()
    assert d["metric"] == "euclidean" and len(d["indices"]) == 50


@pytest.mark.parametrize(
    "X, k, kwargs, exc, match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), 1, {}, ValueError, "NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), 1, {}, ValueError, "infinite"),
        (np.zeros(5), 1, {}, ValueError, "2-D"),
        (np.zeros((2, 2, 2)), 1, {}, ValueError, "2-D"),
        (np.zeros((0, 3)), 1, {}, ValueError, "empty"),
        (np.zeros((3, 0)), 1, {}, ValueError, "no features"),
        (np.zeros((3, 2)), 3, {}, ValueError, "k=3 must be smaller"),
        (np.zeros((3, 2)), 0, {}, ValueError, "k must be at least 1"),
        (np.zeros((3, 2)), -1, {}, ValueError, "k must be at least 1"),
        (np.zeros((3, 2)), 1.5, {}, TypeError, "k must be an integer"),
        (np.zeros((3, 2)), True, {}, TypeError, "k must be an integer"),
        (np.array([["a", "b"], ["c", "d"]]), 1, {}, TypeError, "real numbers"),
        (np.zeros((3, 2), dtype=complex), 1, {}, TypeError, "real numbers"),
        (np.zeros((3, 2)), 1, {"metric": "manhattan"}, ValueError, "unknown metric"),
        (np.zeros((3, 2)), 1, {"query": np.zeros((2, 3))}, ValueError, "features"),
        (np.zeros((3, 2)), 4, {"query": np.zeros((2, 2))}, ValueError, "must not exceed"),
        (np.zeros((3, 2)), 1, {"query": np.array([[np.nan, 0.0]])}, ValueError, "query"),
        (np.zeros((3, 2)), 1, {"n_threads": 0}, ValueError, "n_threads"),
        (sp.csr_matrix(np.eye(3)), 1, {}, TypeError, "sparse"),
    ],
)
def test_bad_input(X, k, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        knn(X, k, **kwargs)


def test_bad_precomputed_input():
    with pytest.raises(ValueError, match="same shape"):
        latentgeo.as_knn((np.zeros((3, 2), int), np.zeros((3, 3))))
    with pytest.raises(ValueError, match="fewer than k"):
        latentgeo.as_knn(sp.csr_matrix(np.eye(3)), 1)
    with pytest.raises(ValueError, match="k is required"):
        latentgeo.as_knn(np.zeros((3, 2)))
