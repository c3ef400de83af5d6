"""latentgeo.scale.k_occurrence / hubness / unargmaxable equal the single-process results."""

import numpy as np
import pytest
from support.equality import assert_reports_equal

import latentgeo

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")
scale = pytest.importorskip("latentgeo.scale")


@pytest.fixture(scope="module")
def points():
    X = latentgeo.datasets.make_example(n=240, d=12, seed=3).astype(np.float32)
    X[100:104] = X[5]  # duplicates
    return X


def test_k_occurrence(run, points):
    Xd = da.from_array(points, chunks=((50, 1, 100, 89), 12))
    nk = run(lambda: scale.k_occurrence(Xd, 6))
    assert nk.dtype == np.int64 and np.array_equal(nk, latentgeo.k_occurrence(points, 6))


def test_k_occurrence_of_a_lazy_knn(sync, points):
    lazy = scale.knn(da.from_array(points, chunks=(64, 12)), 8, metric="cosine")
    nk = sync(lambda: scale.k_occurrence(lazy, 3, split_every=2))
    assert np.array_equal(nk, latentgeo.k_occurrence(points, 3, metric="cosine"))
    with pytest.raises(ValueError, match="k is required"):
        scale.k_occurrence(points)
    with pytest.raises(ValueError, match="self-join"):
        scale.k_occurrence(scale.knn(points, 2, query=points[:5]))


@pytest.mark.parametrize("reduction", [None, "mp", "ls", "csls", "dissim"])
def test_hubness_report(sync, points, reduction):
    Xd = da.from_array(points, chunks=(70, 12))
    ref = latentgeo.hubness(points, 5, reduction=reduction)
    got = sync(lambda: scale.hubness(Xd, 5, reduction=reduction))
    assert_reports_equal(ref, got)


@pytest.mark.parametrize("reduction", [None, "mp", "dissim"])
def test_hubness_of_a_lazy_knn(sync, points, reduction):
    # A LazyKNN is scored as the single-process call scores the same precomputed KNNResult.
    lazy = scale.knn(da.from_array(points, chunks=(50, 12)), 12)
    ref = latentgeo.hubness(latentgeo.knn(points, 12), 5, reduction=reduction, X=points)
    X = points if reduction == "dissim" else None
    got = sync(lambda: scale.hubness(lazy, 5, reduction=reduction, X=X))
    assert_reports_equal(ref, got)
    if reduction is not None:
        ref = latentgeo.reduce_hubness(latentgeo.knn(points, 12), reduction, k=5, X=points)
        got = sync(lambda: scale.reduce_hubness(lazy, reduction, k=5, n_candidates=9, X=X))
        ref9 = latentgeo.reduce_hubness(latentgeo.knn(points, 9), reduction, k=5, X=points)
        assert np.array_equal(got.indices, ref9.indices) and got.metric == ref9.metric
        assert not np.array_equal(ref.indices, ref9.indices) or reduction == "dissim"


def test_hubness_of_a_lazy_knn_bad_input(points):
    lazy = scale.knn(points, 6)
    with pytest.raises(ValueError, match="k=7 exceeds the 6 neighbours"):
        scale.hubness(lazy, 7)
    with pytest.raises(ValueError, match="self-join"):
        scale.hubness(scale.knn(points, 2, query=points[:5]), 2)
    with pytest.raises(ValueError, match="needs the vectors: pass X="):
        scale.hubness(lazy, 3, reduction="dissim")
    with pytest.raises(ValueError, match="X has 5 rows but the kNN indexes 240"):
        scale.reduce_hubness(lazy, "dissim", k=3, X=points[:5])
    with pytest.raises(ValueError, match="X= is only for a LazyKNN"):
        scale.hubness(points, 3, X=points)
    with pytest.raises(ValueError, match="n_candidates"):
        scale.hubness(lazy, 3, reduction="mp", n_candidates=7)


def test_hubness_on_the_cluster(cluster, points):
    got = cluster(lambda: scale.hubness(da.from_array(points, chunks=(70, 12)), 4, metric="cosine"))
    assert_reports_equal(latentgeo.hubness(points, 4, metric="cosine"), got)


def test_hubness_bad_input(points):
    with pytest.raises(ValueError, match="n_candidates only applies"):
        scale.hubness(points, 5, n_candidates=20)
    with pytest.raises(ValueError, match="k=240 must be smaller"):
        scale.hubness(points, 240, reduction="mp")
    with pytest.raises(ValueError, match="unknown reduction"):
        scale.hubness(points, 5, reduction="nope")


def weights(rng, V, d, dtype):
    W = rng.normal(size=(V, d)).astype(dtype)
    W[3] = 0.5 * (W[1] + W[2])  # inside the hull: unargmaxable without bias
    W[7] = W[8]  # duplicates
    return W


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [False, True])
def test_unargmaxable(run, rng, dtype, bias):
    W = weights(rng, 700, 6, dtype)
    b = rng.normal(size=700) if bias else None
    ref = latentgeo.unargmaxable(W, b)
    got = run(lambda: scale.unargmaxable(W, b, block_classes=256))
    assert_reports_equal(ref, got, skip=("timings",))
    assert got.verify(raise_on_failure=True) and got.unargmaxable.size > 0
    assert got.timings.keys() == ref.timings.keys()


def test_unargmaxable_class_subset_and_box(sync, rng):
    W = weights(rng, 600, 5, np.float64)
    cls = rng.choice(600, size=300, replace=False)
    ref = latentgeo.unargmaxable(W, classes=cls, bounds=100.0)
    got = sync(lambda: scale.unargmaxable(W, classes=cls, bounds=100.0, block_classes=256))
    assert_reports_equal(ref, got, skip=("timings",))
    assert got.verify(raise_on_failure=True)


def test_unargmaxable_ships_w_once(rng):
    W = weights(rng, 3000, 32, np.float64)  # 750 kB
    lazy = scale.unargmaxable(W, block_classes=256)  # 12 tasks
    size = len(cloudpickle.dumps(dict(lazy.__dask_graph__())))
    assert W.nbytes < size < 1.5 * W.nbytes + 100_000


def test_unargmaxable_bad_input(rng):
    W = weights(rng, 50, 3, np.float64)
    with pytest.raises(ValueError, match="multiple of 256"):
        scale.unargmaxable(W, block_classes=300)
    with pytest.raises(ValueError, match="at least 256"):
        scale.unargmaxable(W, block_classes=1)
    with pytest.raises(ValueError, match="NaN"):
        scale.unargmaxable(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="out of range"):
        scale.unargmaxable(W, classes=[50])


@pytest.mark.parametrize(
    "method, params", [("mp", {}), ("nicdm", {"nicdm_k": 3}), ("dissim", {}), ("mp_empiric", {})]
)
def test_reduce_hubness(sync, points, method, params):
    Xd = da.from_array(points, chunks=(70, 12))
    ref = latentgeo.reduce_hubness(points, method, k=5, **params)
    got = sync(lambda: scale.reduce_hubness(Xd, method, k=5, **params))
    assert np.array_equal(ref.indices, got.indices) and ref.metric == got.metric
    assert np.array_equal(ref.distances.view(np.uint8), got.distances.view(np.uint8))
    with pytest.raises(TypeError, match="unexpected parameter"):
        scale.reduce_hubness(Xd, "mp", k=5, ls_k=3)
