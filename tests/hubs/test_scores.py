"""Tests for k-occurrence, the hubness scores and the hubness report."""

import dataclasses
import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import squareform

import latentgeo
from latentgeo import KNNResult
from latentgeo.hubs import (
    antihub_occurrence,
    atkinson,
    gini,
    groupie_ratio,
    hub_occurrence,
    k_occurrence,
    robinhood,
    skewness,
)

STAR = np.vstack([np.zeros(4), np.eye(4)])
LINE = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]])
SKH_FIXTURE = squareform([0.2, 0.1, 0.8, 0.4, 0.3, 0.5, 0.7, 1.0, 0.6, 0.9])

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def knn_from_matrix(D, k):
    """(indices, distances) of a full distance matrix, self excluded, ties to the lower index."""
    D = np.asarray(D, dtype=float).copy()
    np.fill_diagonal(D, np.inf)
    idx = np.array([np.lexsort((np.arange(len(row)), row))[:k] for row in D])
    return idx, np.take_along_axis(D, idx, axis=1)


def brute_k_occurrence(X, k, metric="euclidean"):
    """Double-loop f64 oracle: self excluded by index, ties to the lower index."""
    X = np.asarray(X, dtype=float)
    n = len(X)
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        dist = []
        for j in range(n):
            if j == i:
                continue
            if metric == "euclidean":
                d = math.sqrt(sum((a - b) ** 2 for a, b in zip(X[i], X[j])))
            else:
                dot = sum(a * b for a, b in zip(X[i], X[j]))
                norms = math.sqrt(sum(a * a for a in X[i])) * math.sqrt(sum(b * b for b in X[j]))
                d = 1 - dot / norms
            dist.append((d, j))
        for _, j in sorted(dist)[:k]:
            counts[j] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# Known answers (notes section 8).


def test_star_k1():
    nk = k_occurrence(STAR, 1)
    assert nk.dtype == np.int64
    assert nk.tolist() == [4, 1, 0, 0, 0]
    rep = latentgeo.hubness(STAR, k=1)
    assert rep.k_occurrence.tolist() == [4, 1, 0, 0, 0]
    assert rep.skewness == pytest.approx(math.sqrt(5 / 3), abs=1e-12)
    assert rep.skewness == pytest.approx(1.290994, abs=1e-6)
    assert rep.robinhood == pytest.approx(0.6)
    assert rep.gini == pytest.approx(0.72)
    assert rep.antihub_occurrence == pytest.approx(0.6)
    assert rep.hub_occurrence == pytest.approx(0.8)
    assert rep.groupie_ratio == pytest.approx(0.8)
    assert rep.hubs.tolist() == [0]
    assert rep.antihubs.tolist() == [2, 3, 4]


def test_star_k2():
    rep = latentgeo.hubness(STAR, k=2)
    assert rep.k_occurrence.tolist() == [4, 4, 2, 0, 0]
    assert rep.skewness == pytest.approx(0.0, abs=1e-12)
    assert rep.robinhood == pytest.approx(0.4)
    # hubs (N >= 4) sorted by N desc, then index
    assert rep.hubs.tolist() == [0, 1]


def test_scikit_hubness_fixture_precomputed():
    idx, dist = knn_from_matrix(SKH_FIXTURE, 2)
    expected = [4, 3, 3, 0, 0]
    assert k_occurrence((idx, dist)).tolist() == expected
    rep = latentgeo.hubness((idx, dist), k=2)
    assert rep.k_occurrence.tolist() == expected
    assert rep.skewness == pytest.approx(-0.2561204163, abs=1e-9)
    assert rep.metric == "precomputed"
    # the same graph as a sparse matrix with the (zero) diagonal stored: as_knn drops it
    rows = np.repeat(np.arange(5), 3)
    cols = np.column_stack([np.arange(5), idx]).ravel()
    vals = np.column_stack([np.zeros(5), dist]).ravel()
    graph = sp.csr_matrix((vals, (rows, cols)), shape=(5, 5))
    assert graph.nnz == 15
    assert k_occurrence(graph, 2).tolist() == expected


def test_line():
    rep = latentgeo.hubness(LINE, k=1)
    assert rep.k_occurrence.tolist() == [1, 2, 1, 1, 0]
    assert rep.skewness == pytest.approx(0.0, abs=1e-12)
    assert rep.robinhood == pytest.approx(0.2)


def test_duplicates_are_not_dropped_as_self():
    X = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 0.0], [5.0, 1.0]])
    assert k_occurrence(X, 1).tolist() == [1, 1, 1, 1]


def test_random_k_out_graph_is_poisson_like():
    rng = np.random.default_rng(0)
    n, k = 20000, 10
    # k random other points per row (offsets 1..n-1, so never self)
    idx = (np.arange(n)[:, None] + rng.integers(1, n, (n, k))) % n
    res = KNNResult(idx.astype(np.int64), np.ones((n, k)), "precomputed", n, True)
    nk = k_occurrence(res)
    assert nk.sum() == n * k
    assert skewness(nk) == pytest.approx(1 / math.sqrt(k), abs=0.05)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_matches_brute_force_oracle(metric):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((25, 4))
    assert k_occurrence(X, 3, metric=metric).tolist() == brute_k_occurrence(X, 3, metric).tolist()


def test_matches_sklearn_without_self():
    neighbors = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 20))
    ind = neighbors.NearestNeighbors(n_neighbors=7).fit(X).kneighbors(return_distance=False)
    expected = np.bincount(ind.ravel(), minlength=200)
    assert np.array_equal(k_occurrence(X, 7), expected)


def test_query_index_split():
    rng = np.random.default_rng(5)
    X, Q = rng.standard_normal((50, 3)), rng.standard_normal((20, 3))
    res = latentgeo.knn(X, 4, query=Q)
    nk = k_occurrence(res)
    assert nk.shape == (50,)
    assert nk.sum() == 20 * 4
    rep = latentgeo.hubness(res, k=4)
    assert rep.n == 50
    assert rep.antihub_occurrence == pytest.approx(np.mean(nk == 0))


def test_k_equals_n_minus_1():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((9, 3))
    rep = latentgeo.hubness(X, k=8)
    assert rep.k_occurrence.tolist() == [8] * 9
    assert math.isnan(rep.skewness)
    assert math.isnan(rep.skewness_unbiased)
    assert rep.robinhood == 0.0
    assert rep.gini == 0.0
    assert rep.atkinson == pytest.approx(0.0, abs=1e-15)
    d = rep.to_dict()
    assert d["skewness"] is None
    json.dumps(d, allow_nan=False)


def test_high_dimensional_gaussian_hubness_and_mp():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 100))
    raw = latentgeo.hubness(X, k=10)
    mp = latentgeo.hubness(X, k=10, reduction="mp_gaussian")
    assert raw.skewness > 3
    assert mp.skewness < 1.5
    assert mp.robinhood < raw.robinhood
    assert mp.reduction == "mp_gaussian"
    assert mp.n_candidates == 30
    assert mp.k_occurrence.sum() == 600 * 10


# ---------------------------------------------------------------------------------------------
# Invariants (hypothesis).


def _data(seed, n=40, d=5):
    return np.random.default_rng(seed).standard_normal((n, d))


@settings(max_examples=25, deadline=None)
@given(seed=seeds, k=st.integers(min_value=1, max_value=12))
def test_sum_is_n_times_k(seed, k):
    X = _data(seed)
    nk = k_occurrence(X, k)
    assert nk.sum() == len(X) * k
    assert nk.min() >= 0


@settings(max_examples=25, deadline=None)
@given(seed=seeds, k=st.integers(min_value=1, max_value=8))
def test_invariant_under_similarity_transforms(seed, k):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 5))
    nk = k_occurrence(X, k)
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    shift = rng.standard_normal(5) * 10
    scale = float(rng.uniform(0.1, 10))
    assert np.array_equal(k_occurrence(X + shift, k), nk)
    assert np.array_equal(k_occurrence(X @ Q, k), nk)
    assert np.array_equal(k_occurrence(X * scale, k), nk)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, k=st.integers(min_value=1, max_value=8))
def test_equivariant_under_permutation(seed, k):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 5))
    perm = rng.permutation(40)
    assert np.array_equal(k_occurrence(X[perm], k), k_occurrence(X, k)[perm])


# ---------------------------------------------------------------------------------------------
# Scores against slow, direct formulas.


def slow_gini(x):
    x = np.asarray(x, dtype=float)
    n = len(x)
    total = sum(abs(a - b) for a in x for b in x)
    return total / (2 * n * x.sum())


def slow_robinhood(x):
    mean = sum(x) / len(x)
    return 0.5 * sum(abs(v - mean) for v in x) / sum(x)


def slow_atkinson(x, eps):
    x = np.asarray(x, dtype=float)
    mean = x.mean()
    if eps == 1:
        return 1 - scipy.stats.gmean(x) / mean if (x > 0).all() else 1.0
    return 1 - np.mean(x ** (1 - eps)) ** (1 / (1 - eps)) / mean


counts = st.lists(st.integers(min_value=0, max_value=60), min_size=3, max_size=150).filter(
    lambda v: sum(v) > 0
)


@settings(max_examples=60, deadline=None)
@given(nk=counts)
def test_scores_match_direct_formulas(nk):
    x = np.array(nk, dtype=np.int64)
    if np.all(x == x[0]):
        assert math.isnan(skewness(x))
    else:
        assert skewness(x) == pytest.approx(scipy.stats.skew(x), rel=1e-9, abs=1e-12)
        assert skewness(x, unbiased=True) == pytest.approx(
            scipy.stats.skew(x, bias=False), rel=1e-9, abs=1e-12
        )
    assert robinhood(x) == pytest.approx(slow_robinhood(nk), rel=1e-12, abs=1e-15)
    assert gini(x) == pytest.approx(slow_gini(x), rel=1e-12, abs=1e-15)
    for eps in (0.0, 0.5, 1.0, 2.0):
        if eps == 2.0 and (x == 0).any():
            assert atkinson(x, eps) == 1.0
        else:
            assert atkinson(x, eps) == pytest.approx(slow_atkinson(x, eps), rel=1e-9, abs=1e-12)
    assert antihub_occurrence(x) == pytest.approx(sum(v == 0 for v in nk) / len(nk))
    assert groupie_ratio(x) == pytest.approx(max(nk) / sum(nk))


@settings(max_examples=40, deadline=None)
@given(seed=seeds, k=st.integers(min_value=1, max_value=6), hub_size=st.floats(0.5, 4.0))
def test_hub_scores_match_scikit_hubness_formulas(seed, k, hub_size):
    X = _data(seed, n=60, d=20)
    rep = latentgeo.hubness(X, k=k, hub_size=hub_size)
    nk = rep.k_occurrence
    n_test = len(X)
    hubs = np.argwhere(nk >= hub_size * k).ravel()  # the code of skhubness uses >=
    assert rep.hub_occurrence == pytest.approx(nk[hubs].sum() / k / n_test)
    assert rep.hub_occurrence == hub_occurrence(nk, k, hub_size)
    assert rep.groupie_ratio == pytest.approx(nk.max() / n_test / k)
    assert sorted(rep.hubs.tolist()) == hubs.tolist()
    expected_order = sorted(hubs.tolist(), key=lambda i: (-nk[i], i))
    assert rep.hubs.tolist() == expected_order
    assert rep.antihubs.tolist() == np.flatnonzero(nk == 0).tolist()
    assert rep.skewness == pytest.approx(scipy.stats.skew(nk), rel=1e-9, abs=1e-12)


def test_hub_threshold_is_inclusive():
    # N = [4, 1, 0, 0, 0] with k = 1, hub_size = 4: N = 4 is a hub (>=), as in skhubness' code
    assert hub_occurrence([4, 1, 0, 0, 0], 1, hub_size=4) == pytest.approx(0.8)
    assert hub_occurrence([4, 1, 0, 0, 0], 1, hub_size=4.5) == 0.0


def test_gini_large_input_is_fast_and_bounded():
    rng = np.random.default_rng(7)
    x = rng.poisson(10, 10**6)
    g = gini(x)
    assert 0 < g < 1
    assert gini(np.full(1000, 3)) == 0.0


# ---------------------------------------------------------------------------------------------
# The report.


def test_report_to_dict_and_summary():
    rep = latentgeo.hubness(STAR, k=1)
    d = rep.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["k_occurrence"] == [4, 1, 0, 0, 0]
    assert back["hubs"] == [0]
    assert back["antihubs"] == [2, 3, 4]
    assert back["skewness"] == pytest.approx(math.sqrt(5 / 3))
    assert back["reduction"] is None
    assert set(d) >= {
        "k",
        "n",
        "metric",
        "reduction",
        "k_occurrence",
        "skewness",
        "skewness_unbiased",
        "robinhood",
        "gini",
        "atkinson",
        "hub_occurrence",
        "antihub_occurrence",
        "groupie_ratio",
        "hubs",
        "antihubs",
        "hub_size",
    }
    summary = rep.summary()
    assert len(summary.splitlines()) >= 5
    assert "n=5" in summary and "k=1" in summary
    assert "1.2910" in summary  # skewness
    assert "0.6000" in summary  # Robin Hood
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.k = 3


def test_report_from_reduced_precomputed_with_vectors():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((120, 30))
    cand = latentgeo.knn(X, 20)
    rep = latentgeo.hubness(cand, k=5, reduction="dissim", X=X)
    assert rep.reduction == "dissim"
    assert rep.n_candidates == 20
    assert rep.metric == "euclidean"
    assert rep.k_occurrence.sum() == 120 * 5
    rep2 = latentgeo.hubness(X, k=5, reduction="dissim", n_candidates=20)
    assert np.array_equal(rep.k_occurrence, rep2.k_occurrence)
    with pytest.raises(ValueError, match="X="):
        latentgeo.hubness(cand, k=5, reduction="dissim")


def test_report_reduction_params():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((100, 20))
    a = latentgeo.hubness(X, k=5, reduction="ls", reduction_params={"ls_k": 3})
    b = latentgeo.reduce_hubness(X, "ls", k=5, ls_k=3)
    assert np.array_equal(a.k_occurrence, k_occurrence(b))


# ---------------------------------------------------------------------------------------------
# Bad input.


@pytest.mark.parametrize("k", [0, -1])
def test_bad_k_value(k):
    with pytest.raises(ValueError, match="k"):
        latentgeo.hubness(STAR, k=k)
    with pytest.raises(ValueError, match="k"):
        k_occurrence(STAR, k)


def test_k_too_large():
    with pytest.raises(ValueError, match="k=5"):
        latentgeo.hubness(STAR, k=5)
    with pytest.raises(ValueError, match="k=5"):
        latentgeo.hubness(STAR, k=5, reduction="mp")
    idx, dist = knn_from_matrix(SKH_FIXTURE, 2)
    with pytest.raises(ValueError, match="k=3"):
        latentgeo.hubness((idx, dist), k=3)


def test_k_not_integer():
    with pytest.raises(TypeError, match="k"):
        latentgeo.hubness(STAR, k=1.5)


def test_nan_input():
    X = STAR.copy()
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        latentgeo.hubness(X, k=1)
    with pytest.raises(ValueError, match="NaN"):
        k_occurrence(X, 1)


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((2, 3, 4))])
def test_wrong_ndim(bad):
    with pytest.raises(ValueError, match="2-D"):
        latentgeo.hubness(bad, k=1)


def test_unknown_reduction():
    with pytest.raises(ValueError, match="'mp_gaussian'"):
        latentgeo.hubness(STAR, k=1, reduction="bogus")


def test_vectors_need_k():
    with pytest.raises(ValueError, match="k is required"):
        k_occurrence(STAR)


def test_self_in_precomputed_table_is_refused():
    idx = np.array([[0, 1], [1, 0], [2, 0]])  # rows list themselves first, as kneighbors(X) does
    with pytest.raises(ValueError, match="own neighbour"):
        k_occurrence((idx, np.zeros((3, 2))))
    # declared as a query/index split of equal size it is accepted
    res = KNNResult(idx, np.zeros((3, 2)), "precomputed", 3, False)
    assert k_occurrence(res).tolist() == [3, 2, 1]


@pytest.mark.parametrize(
    "nk, exc",
    [
        ([], ValueError),
        ([[1, 2]], ValueError),
        ([1, -1], ValueError),
        ([1, np.nan], ValueError),
        (["a", "b"], TypeError),
    ],
)
def test_bad_k_occurrence_vectors(nk, exc):
    for fn in (skewness, robinhood, gini, atkinson, antihub_occurrence, groupie_ratio):
        with pytest.raises(exc):
            fn(nk)


def test_bad_score_parameters():
    with pytest.raises(ValueError, match="eps"):
        atkinson([1, 2, 3], eps=-0.5)
    with pytest.raises(ValueError, match="hub_size"):
        hub_occurrence([1, 2, 3], 1, hub_size=0)
    with pytest.raises(ValueError, match="hub_size"):
        latentgeo.hubness(STAR, k=1, hub_size=-1)
    with pytest.raises(ValueError, match="n_candidates"):
        latentgeo.hubness(STAR, k=1, n_candidates=3)
