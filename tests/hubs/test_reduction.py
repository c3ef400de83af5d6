"""Tests for hubness reduction: each method against a slow loop over its formula."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from scipy.stats import norm

import latentgeo
from latentgeo import KNNResult, reduce_hubness

N, DIM, C = 40, 6, 12


def candidates(X, c, metric="euclidean"):
    """Exact self-join candidates from a full scipy distance matrix (independent of knn())."""
    D = cdist(X, X, metric=metric)
    np.fill_diagonal(D, np.inf)
    idx = np.array([np.lexsort((np.arange(len(row)), row))[:c] for row in D])
    return idx, np.take_along_axis(D, idx, axis=1)


def rows(idx, dist):
    """Per point: list of (neighbour, distance), nearest first."""
    return [list(zip(i.tolist(), d.tolist())) for i, d in zip(idx, dist)]


# Slow reference implementations, one loop per pair, straight from the formulas.


def ref_mp_gaussian(lists, n):
    stats = [(np.mean([d for _, d in L]), np.std([d for _, d in L])) for L in lists]
    out = {}
    for x, L in enumerate(lists):
        for y, dxy in L:
            sx = norm.sf(dxy, stats[x][0], stats[x][1])
            sy = norm.sf(dxy, stats[y][0], stats[y][1])
            out[x, y] = 1 - sx * sy
    return out


def ref_mp_empiric(lists, n):
    out = {}
    for x, L in enumerate(lists):
        dx = dict(L)
        for y, dxy in L:
            dy = dict(lists[y])
            count = 0
            for j in range(n):
                if j in (x, y):
                    continue
                dxj = dx.get(j, max(dx.values()))  # unstored: the row's largest stored distance
                dyj = dy.get(j, max(dy.values()))
                if dxj > dxy and dyj > dxy:
                    count += 1
            out[x, y] = 1 - count / n
    return out


def ref_ls(lists, n, ls_k=5):
    sigma = [sorted(d for _, d in L)[ls_k - 1] for L in lists]
    return {
        (x, y): 1 - math.exp(-(dxy**2) / (sigma[x] * sigma[y]))
        for x, L in enumerate(lists)
        for y, dxy in L
    }


def ref_nicdm(lists, n, nicdm_k=5):
    mu = [sum(sorted(d for _, d in L)[:nicdm_k]) / nicdm_k for L in lists]
    return {(x, y): dxy / math.sqrt(mu[x] * mu[y]) for x, L in enumerate(lists) for y, dxy in L}


def ref_csls(lists, n, csls_k=10):
    r = [sum(sorted(d for _, d in L)[:csls_k]) / csls_k for L in lists]
    return {(x, y): 2 * dxy - r[x] - r[y] for x, L in enumerate(lists) for y, dxy in L}


def ref_dissim(lists, X, dissim_k=5):
    to_c = []
    for x, L in enumerate(lists):
        nearest = [j for j, _ in sorted(L, key=lambda t: t[1])[:dissim_k]]
        centroid = X[nearest].mean(axis=0)
        to_c.append(float(np.sum((X[x] - centroid) ** 2)))
    return {
        (x, y): float(np.sum((X[x] - X[y]) ** 2)) - to_c[x] - to_c[y]
        for x, L in enumerate(lists)
        for y, _ in L
    }


def expected_knn(lists, values, k=None):
    """Each row sorted by (reduced value, original distance, index)."""
    idx, dist = [], []
    for x, L in enumerate(lists):
        order = sorted(L, key=lambda t: (values[x, t[0]], t[1], t[0]))[:k]
        idx.append([y for y, _ in order])
        dist.append([values[x, y] for y, _ in order])
    return np.array(idx), np.array(dist)


def data(seed=0, n=N, d=DIM):
    return np.random.default_rng(seed).standard_normal((n, d))


REFS = {
    "mp_gaussian": lambda L, X, **p: ref_mp_gaussian(L, len(X)),
    "mp_empiric": lambda L, X, **p: ref_mp_empiric(L, len(X)),
    "ls": lambda L, X, **p: ref_ls(L, len(X), **p),
    "nicdm": lambda L, X, **p: ref_nicdm(L, len(X), **p),
    "csls": lambda L, X, **p: ref_csls(L, len(X), **p),
    "dissim": lambda L, X, **p: ref_dissim(L, X, **p),
}


@pytest.mark.parametrize("method", sorted(REFS))
@pytest.mark.parametrize("k", [None, 4])
def test_methods_match_slow_reference(method, k):
    X = data(1)
    idx, dist = candidates(X, C)
    lists = rows(idx, dist)
    expected_idx, expected_dist = expected_knn(lists, REFS[method](lists, X), k)
    extra = {"X": X} if method == "dissim" else {}
    res = reduce_hubness((idx, dist), method, k=k, **extra)
    assert isinstance(res, KNNResult)
    assert res.metric == f"{method}(precomputed)"
    assert res.self_join and res.n_index == N
    assert res.indices.shape == (N, C if k is None else k)
    assert np.array_equal(res.indices, expected_idx)
    np.testing.assert_allclose(res.distances, expected_dist, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "method, params",
    [
        ("ls", {"ls_k": 3}),
        ("nicdm", {"nicdm_k": 8}),
        ("csls", {"csls_k": 4}),
        ("dissim", {"dissim_k": 2}),
    ],
)
def test_method_parameters_match_reference(method, params):
    X = data(2)
    idx, dist = candidates(X, C)
    lists = rows(idx, dist)
    expected_idx, expected_dist = expected_knn(lists, REFS[method](lists, X, **params))
    res = reduce_hubness((idx, dist), method, X=X, **params)
    assert np.array_equal(res.indices, expected_idx)
    np.testing.assert_allclose(res.distances, expected_dist, rtol=1e-10, atol=1e-12)


def test_mp_alias():
    X = data(3)
    a = reduce_hubness(X, "mp", k=5)
    b = reduce_hubness(X, "mp_gaussian", k=5)
    assert a.metric == b.metric == "mp_gaussian(euclidean)"
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.distances, b.distances)


def test_mp_empiric_is_exact_with_all_candidates():
    X = data(4, n=30)
    n = len(X)
    D = cdist(X, X)
    res = reduce_hubness(X, "mp_empiric", n_candidates=n - 1)
    for x in range(n):
        for y, value in zip(res.indices[x], res.distances[x]):
            both = sum(1 for j in range(n) if j not in (x, y) and D[x, j] > D[x, y] < D[y, j])
            assert value == pytest.approx(1 - both / n, abs=1e-15)


def test_mp_empiric_exact_where_both_radii_cover_the_pair():
    X = data(5, n=50)
    n = len(X)
    D = cdist(X, X)
    idx, dist = candidates(X, 15)
    res = reduce_hubness((idx, dist), "mp_empiric")
    checked = 0
    for x in range(n):
        for y, value in zip(res.indices[x], res.distances[x]):
            if D[x, y] < dist[x, -1] and D[x, y] < dist[y, -1]:
                both = sum(1 for j in range(n) if j not in (x, y) and D[x, j] > D[x, y] < D[y, j])
                assert value == pytest.approx(1 - both / n, abs=1e-15)
                checked += 1
    assert checked > n * 5


def test_vectors_and_precomputed_agree():
    X = data(6)
    idx, dist = candidates(X, 25)
    for method in ("mp", "mp_empiric", "ls", "nicdm", "csls", "dissim"):
        a = reduce_hubness(X, method, k=5, n_candidates=25)
        b = reduce_hubness((idx, dist), method, k=5, X=X)
        assert np.array_equal(a.indices, b.indices), method
        np.testing.assert_allclose(a.distances, b.distances, rtol=1e-9, atol=1e-12)


def test_default_candidate_count_for_vectors():
    X = data(7, n=100)
    res = reduce_hubness(X, "ls", k=5)
    assert res.k == 5
    full = reduce_hubness(X, "ls", n_candidates=15)  # max(3k, k + 10) = 15 for k = 5
    assert full.k == 15
    other = reduce_hubness(X, "ls", k=5, n_candidates=30)
    assert not np.array_equal(res.indices, other.indices)
    assert np.array_equal(res.indices, full.indices[:, :5])


def test_csls_cosine_form():
    X = data(8)
    res = reduce_hubness(X, "csls", metric="cosine", n_candidates=C, csls_k=4)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = Xn @ Xn.T
    np.fill_diagonal(S, -np.inf)
    top = np.sort(S, axis=1)[:, ::-1][:, :C]
    r = top[:, :4].mean(axis=1)
    for x in range(N):
        for y, value in zip(res.indices[x], res.distances[x]):
            assert value == pytest.approx(-(2 * S[x, y] - r[x] - r[y]), abs=1e-9)
    # inner products of unit vectors give the same values
    ip = reduce_hubness(Xn, "csls", metric="inner_product", n_candidates=C, csls_k=4)
    assert ip.metric == "csls(inner_product)"
    assert np.array_equal(ip.indices, res.indices)
    np.testing.assert_allclose(ip.distances, res.distances, atol=1e-9)


def test_duplicates_give_finite_values():
    X = np.repeat(data(9, n=20), 3, axis=0)  # every point three times
    for method in ("mp", "mp_empiric", "ls", "csls", "dissim"):
        res = reduce_hubness(X, method, k=4, n_candidates=10)
        assert np.isfinite(res.distances).all(), method
        # the two copies of each point are at reduced distance 0 (or the smallest) for ls
    res = reduce_hubness(X, "ls", k=2, n_candidates=10, ls_k=2)
    assert (res.distances == 0).all()


def test_reduces_hubness_in_high_dimensions():
    X = np.random.default_rng(0).standard_normal((600, 100))
    raw = latentgeo.hubness(X, k=10).skewness
    for method in ("mp_gaussian", "mp_empiric", "ls", "nicdm", "csls", "dissim"):
        reduced = latentgeo.hubness(X, k=10, reduction=method).skewness
        assert reduced < 0.7 * raw, method


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(["mp", "mp_empiric", "ls", "nicdm", "csls", "dissim"]),
)
def test_output_is_a_sorted_permutation_of_the_candidates(seed, method):
    X = data(seed, n=30, d=4)
    cand = latentgeo.knn(X, 10)
    res = reduce_hubness(cand, method, X=X)
    assert np.array_equal(np.sort(res.indices, axis=1), np.sort(cand.indices, axis=1))
    assert (np.diff(res.distances, axis=1) >= 0).all()
    assert latentgeo.k_occurrence(res.head(3)).sum() == 30 * 3


# ---------------------------------------------------------------------------------------------
# Bad input.


def test_unknown_method_lists_options():
    with pytest.raises(ValueError, match="'mp_empiric'.*'dissim'"):
        reduce_hubness(data(), "bogus", k=3)


def test_not_a_self_join():
    X = data()
    res = latentgeo.knn(X, 12, query=data(1, n=10))
    with pytest.raises(ValueError, match="self-join"):
        reduce_hubness(res, "mp")
    # same sizes, declared as a split
    split = KNNResult(*candidates(X, 12), "precomputed", N, False)
    with pytest.raises(ValueError, match="self-join"):
        reduce_hubness(split, "ls")


def test_self_or_repeated_neighbours():
    idx, dist = candidates(data(), 6)
    bad = idx.copy()
    bad[3, 0] = 3
    with pytest.raises(ValueError, match="own neighbour"):
        reduce_hubness((bad, dist), "mp")
    bad = idx.copy()
    bad[4, 1] = bad[4, 0]
    with pytest.raises(ValueError, match="more than once"):
        reduce_hubness((bad, dist), "mp")


def test_dissim_needs_vectors():
    idx, dist = candidates(data(), C)
    with pytest.raises(ValueError, match="X="):
        reduce_hubness((idx, dist), "dissim")
    with pytest.raises(ValueError, match="rows"):
        reduce_hubness((idx, dist), "dissim", X=data(n=N + 1))


def test_bad_parameters():
    X = data()
    with pytest.raises(TypeError, match="ls_k"):
        reduce_hubness(X, "mp", k=3, ls_k=3)
    with pytest.raises(ValueError, match="ls_k=20"):
        reduce_hubness(X, "ls", k=3, n_candidates=12, ls_k=20)
    with pytest.raises(ValueError, match="csls_k=10"):
        reduce_hubness(X, "csls", k=2, n_candidates=5)
    with pytest.raises(ValueError, match="k=13"):
        reduce_hubness(X, "mp", k=13, n_candidates=12)
    with pytest.raises(ValueError, match="k"):
        reduce_hubness(X, "mp", k=0)
    with pytest.raises(ValueError, match="k or n_candidates"):
        reduce_hubness(X, "mp")
    with pytest.raises(ValueError, match="NaN"):
        reduce_hubness(np.full((5, 2), np.nan), "mp", k=1)
    with pytest.raises(ValueError, match="2-D"):
        reduce_hubness(np.zeros(5), "mp", k=1)


def test_distance_requirements():
    X = data()
    with pytest.raises(ValueError, match="similarities"):
        reduce_hubness(X, "mp", k=3, metric="inner_product")
    idx, dist = candidates(X, C)
    with pytest.raises(ValueError, match="non-negative"):
        reduce_hubness((idx, dist - dist.max()), "ls")


def test_blocking_does_not_change_results(monkeypatch):
    import latentgeo.hubs._reduction as reduction

    X = data(10, n=60, d=5)
    cand = latentgeo.knn(X, 15)
    whole = {m: reduce_hubness(cand, m, X=X) for m in ("mp_empiric", "dissim")}
    monkeypatch.setattr(reduction, "_BLOCK", 300)  # forces many small row blocks
    for method, expected in whole.items():
        res = reduce_hubness(cand, method, X=X)
        assert np.array_equal(res.indices, expected.indices), method
        np.testing.assert_allclose(res.distances, expected.distances, rtol=1e-12, atol=1e-12)
