"""Approximate kNN (``method="approximate"``, the optional usearch backend): recall, the recall
estimate, and the exact path's result conventions (types, self rule, tie rule, distances)."""

import pickle
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from support.strategies import SEEDS, examples

import latentgeo
from latentgeo import knn
from latentgeo.neighbors import KNN_METHODS, ApproxInfo, KNNResult

try:
    import usearch  # noqa: F401

    HAVE_USEARCH = True
except ImportError:
    HAVE_USEARCH = False

needs_ann = pytest.mark.skipif(
    not HAVE_USEARCH,
    reason="method='approximate' needs the optional usearch package (pip install 'latentgeo[ann]')",
)

#: Documented floor: recall@10 of the default settings on clustered data (README).
RECALL_FLOOR = 0.95
APPROX = {"method": "approximate"}
ONE_THREAD = {"method": "approximate", "n_threads": 1}


def clustered(n, d, seed=0, n_clusters=8, rank=8):
    """Gaussian clusters, each spread over a random rank-`rank` subspace, plus a little noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_clusters, size=n)
    centers = rng.standard_normal((n_clusters, d))
    bases = rng.standard_normal((n_clusters, rank, d)) / np.sqrt(rank)
    z = rng.standard_normal((n, rank)) * 0.5
    X = centers[labels] + np.einsum("nr,nrd->nd", z, bases[labels])
    return (X + 0.05 * rng.standard_normal((n, d))).astype(np.float32)


def true_recall(approx, exact):
    k = exact.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(approx, exact)]))


def check_like_exact(res, ref, exclude_self=True):
    """Same conventions as the exact result `ref`; shared neighbours at identical distances."""
    assert isinstance(res, KNNResult)
    assert res.indices.shape == ref.indices.shape and res.indices.dtype == np.int64
    assert res.distances.dtype == ref.distances.dtype
    assert (res.metric, res.n_index, res.self_join) == (ref.metric, ref.n_index, ref.self_join)
    assert res.indices.flags.c_contiguous and res.distances.flags.c_contiguous
    m = res.n_queries
    if res.self_join and exclude_self:
        assert not (res.indices == np.arange(m)[:, None]).any()
    for i in range(m):
        assert len(set(res.indices[i])) == res.k
        sign = -1 if res.metric == "inner_product" else 1
        order = np.lexsort((res.indices[i], sign * res.distances[i].astype(np.float64)))
        assert (order == np.arange(res.k)).all(), f"row {i} not sorted by (distance, index)"
        shared = {j: dist for j, dist in zip(ref.indices[i], ref.distances[i])}
        for j, dist in zip(res.indices[i], res.distances[i]):
            if j in shared:
                assert dist == shared[j], (i, j)


@needs_ann
def test_recall_above_floor_and_estimate_within_its_error():
    X = clustered(4000, 48)
    res = knn(X, 10, **ONE_THREAD)
    exact = knn(X, 10)
    recall = true_recall(res.indices, exact.indices)
    assert recall >= RECALL_FLOOR
    info = res.approx
    assert isinstance(info, ApproxInfo) and info.backend.startswith("usearch ")
    assert info.n_checked == 300 and info.seed == 0 and info.n_exact_rows == 0
    assert 0 <= info.recall_stderr < 0.02
    # The stated error: 4 standard errors, plus 3 / n_checked (the "rule of three": a sample
    # without a miss has a standard error of 0, yet bounds the miss rate only by 3 / n_checked).
    assert abs(info.recall - recall) <= 4 * info.recall_stderr + 3 / info.n_checked
    check_like_exact(res, exact)


@needs_ann
@pytest.mark.parametrize("metric", ["euclidean", "cosine", "inner_product"])
def test_float32_index_also_above_floor(metric):
    X = clustered(3000, 40, seed=7)
    opts = {"index_dtype": "float32"}
    res = knn(X, 10, metric=metric, method="approximate", n_threads=1, method_options=opts)
    exact = knn(X, 10, metric=metric)
    assert true_recall(res.indices, exact.indices) >= RECALL_FLOOR
    assert res.approx.params["index_dtype"] == "float32" and res.approx.params["candidates"] == 11
    check_like_exact(res, exact)


@needs_ann
def test_int8_index_survives_outliers_and_offsets():
    """The int8 grid is fitted to the bulk of the data (centred, clipped at a sampled quantile):
    a far outlier and a large common offset do not coarsen it for the others."""
    X = clustered(3000, 32, seed=8).astype(np.float64) + 1e6
    X[5] += 1e4  # one far point
    res = knn(X, 10, **ONE_THREAD)
    exact = knn(X, 10)
    assert true_recall(res.indices, exact.indices) >= RECALL_FLOOR
    check_like_exact(res, exact)


@needs_ann
def test_estimate_is_the_true_recall_when_every_row_is_checked():
    X = clustered(500, 16, seed=1)
    res = knn(X, 8, method="approximate", method_options={"recall_sample": 500})
    exact = knn(X, 8)
    assert res.approx.recall == pytest.approx(true_recall(res.indices, exact.indices), abs=1e-12)
    assert res.approx.recall_stderr == 0.0


@needs_ann
@pytest.mark.parametrize("metric", latentgeo.METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_types_rules_and_distances_as_exact(metric, dtype):
    X = clustered(600, 20, seed=2).astype(dtype)
    X[7] = X[3]  # a duplicate: found by both, at distance 0, excluded by index only
    res = knn(X, 6, metric=metric, **ONE_THREAD)
    check_like_exact(res, knn(X, 6, metric=metric))
    Q = X[:50] + 0.01
    res = knn(X, 6, metric=metric, query=Q, **ONE_THREAD)
    check_like_exact(res, knn(X, 6, metric=metric, query=Q))
    one = knn(X, 6, metric=metric, query=Q[:1], **ONE_THREAD)  # usearch answers one row apart
    check_like_exact(one, knn(X, 6, metric=metric, query=Q[:1]))
    res = knn(X, 6, metric=metric, exclude_self=False, **ONE_THREAD)
    check_like_exact(res, knn(X, 6, metric=metric, exclude_self=False), exclude_self=False)


@needs_ann
@examples(15)
@given(
    st.integers(3, 40),
    st.integers(1, 4),
    st.sampled_from(["euclidean", "sqeuclidean", "inner_product", "cosine"]),
    SEEDS,
)
def test_small_integer_data_with_ties(n, d, metric, seed):
    """Many ties and duplicates: the approximate result keeps the exact path's conventions, and
    the recall estimate over all rows is the true recall."""
    X = np.random.default_rng(seed).integers(-2, 3, size=(n, d)).astype(np.float64)
    k = int(np.random.default_rng(seed).integers(1, n))
    opts = {"recall_sample": n}
    res = knn(X, k, metric=metric, method="approximate", n_threads=1, method_options=opts)
    ref = knn(X, k, metric=metric)
    check_like_exact(res, ref)
    assert res.approx.recall == pytest.approx(true_recall(res.indices, ref.indices), abs=1e-12)


@needs_ann
def test_reproducible_with_one_thread_and_seeded_sample():
    X = clustered(1500, 24, seed=3)
    a = knn(X, 5, **ONE_THREAD)
    b = knn(X, 5, **ONE_THREAD)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.distances, b.distances)
    assert a.approx == b.approx
    c = knn(X, 5, method="approximate", n_threads=1, method_options={"seed": 1})
    assert c.approx.seed == 1


@needs_ann
def test_options_reach_the_backend_and_the_info():
    X = clustered(800, 16, seed=4)
    opts = {"connectivity": 8, "expansion_add": 40, "expansion_search": 30, "recall_sample": 0}
    res = knn(X, 4, method="approximate", method_options=opts)
    assert res.approx.params["connectivity"] == 8
    assert res.approx.params["expansion_search"] == 30
    assert res.approx.params["candidates"] == 9 and res.approx.params["index_dtype"] == "int8"
    more = {"candidates": 40, "expansion_search": 30}
    wide = knn(X, 4, method="approximate", method_options=more).approx.params
    assert wide["candidates"] == 41 and wide["expansion_search"] == 41
    assert np.isnan(res.approx.recall) and res.approx.n_checked == 0
    d = res.to_dict()
    assert d["approx"]["recall"] is None and d["approx"]["params"]["expansion_add"] == 40
    assert "approx" not in knn(X, 4).to_dict()


@needs_ann
def test_result_pickles_and_head_keeps_the_info():
    X = clustered(300, 8, seed=5)
    res = knn(X, 5, **APPROX)
    back = pickle.loads(pickle.dumps(res))
    assert back.approx == res.approx and np.array_equal(back.indices, res.indices)
    assert res.head(3).approx is res.approx


def test_results_pickled_before_the_approx_field_still_load():
    old = KNNResult.__new__(KNNResult)
    old.__dict__.update(
        indices=np.zeros((1, 1), np.int64),
        distances=np.zeros((1, 1)),
        metric="euclidean",
        n_index=2,
        self_join=False,
    )
    back = pickle.loads(pickle.dumps(old))
    assert back.approx is None and back.k == 1


@needs_ann
def test_method_passes_through_hubness_graph_and_transformer():
    X = clustered(1200, 16, seed=6)
    opts = {"recall_sample": 100}
    res = knn(X, 10, method="approximate", n_threads=1, method_options=opts)
    rep = latentgeo.hubness(X, 10, method="approximate", n_threads=1, method_options=opts)
    assert np.array_equal(rep.k_occurrence, latentgeo.k_occurrence(res))
    assert rep.approx == res.approx and "approximate kNN" in rep.summary()
    assert rep.to_dict()["approx"]["n_checked"] == 100
    assert latentgeo.hubness(X, 10).approx is None
    assert "approx" not in latentgeo.hubness(X, 10).to_dict()
    nk = latentgeo.k_occurrence(X, 10, method="approximate", n_threads=1, method_options=opts)
    assert np.array_equal(nk, rep.k_occurrence)
    red = latentgeo.hubness(X, 5, reduction="ls", method="approximate", method_options=opts)
    assert red.approx is not None and red.reduction == "ls"
    G = latentgeo.knn_graph(X, 10, method="approximate", n_threads=1, method_options=opts)
    assert (G != latentgeo.knn_graph(res)).nnz == 0
    t = latentgeo.KNNTransformer(5, method="approximate", n_threads=1)
    g = t.fit_transform(X)
    assert sp.issparse(g) and g.shape == (1200, 1200) and g.nnz == 1200 * 6
    assert t.get_params()["method"] == "approximate"
    assert t.transform(X[:10] + 0.01).shape == (10, 1200)


def test_bad_method_and_options():
    X = np.arange(20.0).reshape(10, 2)
    assert KNN_METHODS == ("exact", "approximate")
    with pytest.raises(ValueError, match="unknown method 'hnsw'"):
        knn(X, 2, method="hnsw")
    with pytest.raises(ValueError, match="only apply to method='approximate'"):
        knn(X, 2, method_options={"connectivity": 8})
    with pytest.raises(ValueError, match="unknown method_options \\['ef'\\]"):
        knn(X, 2, method="approximate", method_options={"ef": 8})
    with pytest.raises(TypeError, match="method_options must be a dict"):
        knn(X, 2, method="approximate", method_options=[("seed", 1)])
    with pytest.raises(TypeError, match="connectivity must be an integer"):
        knn(X, 2, method="approximate", method_options={"connectivity": 2.5})
    with pytest.raises(ValueError, match="index_dtype must be one of"):
        knn(X, 2, method="approximate", method_options={"index_dtype": "f16"})
    with pytest.raises(ValueError, match="candidates must be"):
        knn(X, 2, method="approximate", method_options={"candidates": 0})
    with pytest.raises(ValueError, match="refine must be"):
        knn(X, 2, method="approximate", method_options={"refine": -1})
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        knn(X, 2, method="approximate", method_options={"seed": -1})
    res = knn(X, 2)
    for call in (
        lambda: latentgeo.hubness(res, 2, method="approximate"),
        lambda: latentgeo.knn_graph(res, 2, method="approximate"),
        lambda: latentgeo.as_knn(res, 2, method="approximate"),
        lambda: latentgeo.knn_graph(X, mode="radius", radius=1.0, method="approximate"),
    ):
        with pytest.raises(ValueError, match="only applies to"):
            call()
    with pytest.raises(ValueError, match="unknown method"):
        latentgeo.KNNTransformer(method="fast").fit(X)


def test_missing_backend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "usearch", None)
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ImportError, match=r"pip install 'latentgeo\[ann\]'"):
        knn(X, 2, method="approximate")
    assert knn(X, 2).approx is None  # the exact path needs nothing


def many_small_clusters(n, d, seed=0):
    """`n // 25` tight clusters of ~25 points: the graph search of a low `expansion_search`
    ends in a wrong cluster for some rows, the case the refinement mends."""
    return clustered(n, d, seed=seed, n_clusters=n // 25, rank=4)


@needs_ann
def test_refinement_mends_rows_the_graph_search_missed():
    X = many_small_clusters(4000, 32, seed=11)
    exact = knn(X, 10)
    weak = {"expansion_search": 20, "connectivity": 4, "expansion_add": 16, "candidates": 10}
    raw = knn(X, 10, method="approximate", n_threads=1, method_options={**weak, "refine": 0})
    ref = knn(X, 10, method="approximate", n_threads=1, method_options={**weak, "refine": 3})
    before, after = true_recall(raw.indices, exact.indices), true_recall(ref.indices, exact.indices)
    assert before < 0.99 and after > before and after >= RECALL_FLOOR
    assert raw.approx.params["refine"] == 0 and raw.approx.params["refine_changes"] == []
    changes = ref.approx.params["refine_changes"]
    lost = ref.approx.params["lost_rows"]
    assert changes[0] > 0 and len(changes) <= (6 if lost else 3)
    assert ref.approx.n_exact_rows == lost
    check_like_exact(ref, exact)
    # Refinement only improves a list: slot by slot, never nearer than the exact one, never
    # farther than the unrefined one.
    assert (ref.distances >= exact.distances).all() and (ref.distances <= raw.distances).all()
    # The hubness scores move towards the exact ones.
    s = [latentgeo.hubness(r, 10).skewness for r in (raw, ref, exact)]
    assert abs(s[1] - s[2]) <= abs(s[0] - s[2])


@needs_ann
@pytest.mark.parametrize("metric", latentgeo.METRICS)
def test_refinement_keeps_the_conventions_of_every_metric(metric):
    X = many_small_clusters(1500, 16, seed=12).astype(np.float64)
    X[9] = X[4]  # a duplicate, found at distance 0 and excluded by index only
    opts = {"expansion_search": 16, "connectivity": 4, "refine": 2}
    res = knn(X, 6, metric=metric, method="approximate", n_threads=1, method_options=opts)
    check_like_exact(res, knn(X, 6, metric=metric))
    keep = knn(X, 6, metric=metric, exclude_self=False, **ONE_THREAD)
    if metric != "inner_product":  # self first, but for its duplicate
        assert (keep.indices[:, 0] == np.arange(1500)).sum() == 1499
    check_like_exact(keep, knn(X, 6, metric=metric, exclude_self=False), exclude_self=False)


@needs_ann
def test_refinement_reads_a_memory_map_and_scaled_rows_like_an_array(tmp_path):
    X = many_small_clusters(1200, 12, seed=13) * np.float32(2.0**60)  # rescaled before use
    path = tmp_path / "x.npy"
    np.save(path, X)
    opts = {"expansion_search": 16, "connectivity": 4}
    a = knn(X, 5, method="approximate", n_threads=1, method_options=opts)
    b = knn(str(path), 5, method="approximate", n_threads=1, method_options=opts)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.distances, b.distances)
    assert a.approx.params["refine_changes"] == b.approx.params["refine_changes"]
    check_like_exact(a, knn(X, 5))


def test_refinement_core_rejects_bad_tables():
    from latentgeo import _core

    X = np.zeros((4, 2))
    idx = np.array([[1], [0], [3], [2]])
    keys = np.zeros((4, 1))
    call = dict(metric="euclidean", rounds=1, reverse=1, exclude_self=True)
    with pytest.raises(ValueError, match="outside the 4 data rows"):
        _core.knn_refine(X, idx + 4, keys, **call)
    with pytest.raises(ValueError, match="keys has shape"):
        _core.knn_refine(X, idx, keys[:3], **call)
    with pytest.raises(ValueError, match="permutation"):
        _core.knn_refine(X, idx, keys, order=np.array([0, 0, 1, 2]), **call)
    out, k2, changes = _core.knn_refine(X, idx, keys, **call)
    assert out.shape == (4, 1) and changes == [0]


def test_lost_rows_are_those_far_beyond_their_neighbours():
    from latentgeo.neighbors._approx import LOST_SHARE, lost_rows

    rng = np.random.default_rng(0)
    n, k = 400, 5
    idx = np.array([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    keys = np.sort(rng.uniform(0.9, 1.1, (n, k)), axis=1)
    keys[[3, 17], -1] = [4.5, 100.0]  # k-th value beyond 4x the others' (about 1.1)
    keys[21, -1] = 3.9  # not beyond
    assert lost_rows(idx, keys, "euclidean").tolist() == [3, 17]
    assert lost_rows(idx, keys, "cosine").tolist() == [3, 17]
    assert lost_rows(idx, keys, "inner_product").size == 0
    keys[:, -1] = 0.0  # duplicates everywhere: 0 / 0 is not lost, x / 0 is
    keys[8, -1] = 1.0
    assert lost_rows(idx, keys, "euclidean").tolist() == [8]
    many = np.sort(rng.uniform(0.9, 1.1, (n, k)), axis=1)
    many[:100, -1] = np.arange(100) + 10.0  # 100 lost rows, more than the share allows
    got = lost_rows(idx, many, "sqeuclidean")
    cap = int(LOST_SHARE * n)
    ratio = many[:, -1] / np.median(many[idx, -1], axis=1)
    rest = np.setdiff1d(np.flatnonzero(ratio > 4), got)
    assert got.size == cap and (np.diff(got) > 0).all() and rest.size > 0
    assert ratio[got].min() >= ratio[rest].max()  # the most distant ones, sorted
