"""latentgeo.scale.knn equals latentgeo.knn bit for bit, for every chunking and scheduler."""

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.equality import same_bits
from support.strategies import SEEDS, examples

import latentgeo

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")
scale = pytest.importorskip("latentgeo.scale")

from latentgeo import _core  # noqa: E402


def assert_same(ref, got):
    assert np.array_equal(ref.indices, got.indices)
    assert same_bits(ref.distances, got.distances)
    assert (got.metric, got.n_index, got.self_join) == (ref.metric, ref.n_index, ref.self_join)


def tied_points(rng, n, d, dtype):
    """Rounded coordinates with exact duplicates and scaled copies (ties in every metric)."""
    X = np.round(rng.normal(size=(n, d)), 1)
    X[n // 3 : n // 3 + 4] = X[0]
    X[n // 2] = 3 * X[1]
    X[n // 2 + 1] = 0.0
    return X.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", latentgeo.METRICS)
@pytest.mark.parametrize("rows", [(13, 40, 1, 10), 64, 9])
def test_every_chunking_gives_the_single_process_bits(sync, rng, dtype, metric, rows):
    X = tied_points(rng, 64, 5, dtype)
    Xd = da.from_array(X, chunks=(rows, (3, 2)))  # split feature axis: rechunked
    for k in (1, 7, 20):  # k larger than a chunk
        assert_same(
            latentgeo.knn(X, k, metric=metric), sync(lambda k=k: scale.knn(Xd, k, metric=metric))
        )
    Q = tied_points(rng, 9, 5, dtype)
    Qd = da.from_array(Q, chunks=((4, 1, 4), 5))
    ref = latentgeo.knn(X, 9, metric=metric, query=Q)
    assert_same(ref, sync(lambda: scale.knn(Xd, 9, metric=metric, query=Qd)))


def test_one_row_chunks_and_no_exclusion(sync, rng):
    X = tied_points(rng, 12, 3, np.float64)
    Xd = da.from_array(X, chunks=(1, 3))
    assert_same(latentgeo.knn(X, 11), sync(lambda: scale.knn(Xd, 11)))
    ref = latentgeo.knn(X, 12, exclude_self=False, metric="cosine")
    assert_same(ref, sync(lambda: scale.knn(Xd, 12, exclude_self=False, metric="cosine")))


@pytest.mark.parametrize(
    "dtype, exponent", [(np.float64, 600), (np.float64, -600), (np.float32, 70), (np.float32, -70)]
)
@pytest.mark.parametrize("metric", latentgeo.METRICS)
def test_rescaled_magnitudes(sync, rng, dtype, exponent, metric):
    """Data outside the safe range is rescaled by one global power of two (or row by row for
    cosine), found by its own reduction before the blocks are searched."""
    X = np.ldexp(tied_points(rng, 30, 4, np.float64), exponent).astype(dtype)
    Xd = da.from_array(X, chunks=(7, 4))
    try:
        ref = latentgeo.knn(X, 5, metric=metric)
    except ValueError as exc:  # the distances themselves overflow the dtype
        with pytest.raises(ValueError, match="overflow"):
            sync(lambda: scale.knn(Xd, 5, metric=metric))
        assert "overflow" in str(exc)
        return
    assert_same(ref, sync(lambda: scale.knn(Xd, 5, metric=metric)))


@examples(25)
@given(
    seed=SEEDS,
    n=st.integers(2, 30),
    d=st.integers(1, 9),
    metric=st.sampled_from(latentgeo.METRICS),
    f32=st.booleans(),
    data=st.data(),
)
def test_property_any_chunking(seed, n, d, metric, f32, data):
    import dask

    rng = np.random.default_rng(seed)
    X = rng.integers(-2, 3, size=(n, d)).astype(np.float32 if f32 else np.float64)
    X[rng.integers(0, n, size=n // 3)] = X[0]  # duplicates
    k = data.draw(st.integers(1, n - 1))
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=4)))
    rows = tuple(np.diff([0, *cuts, n]).tolist())
    split = data.draw(st.integers(2, 4))
    lazy = scale.knn(da.from_array(X, chunks=(rows, d)), k, metric=metric, split_every=split)
    with dask.config.set(scheduler="synchronous"):
        assert_same(latentgeo.knn(X, k, metric=metric), lazy.compute())


def test_on_the_cluster(cluster, rng):
    X = tied_points(rng, 120, 6, np.float32)
    Xd = da.from_array(X, chunks=((50, 1, 40, 29), 6))
    for metric in ("cosine", "euclidean"):
        assert_same(
            latentgeo.knn(X, 8, metric=metric), cluster(lambda m=metric: scale.knn(Xd, 8, metric=m))
        )


def test_keys_are_the_exact_ranking_values(rng):
    """The kernel's keys=True output: the unrounded float64 values the search ranks by."""
    X = rng.normal(size=(40, 5)).astype(np.float32)
    idx, keys = _core.knn(X, k=4, metric="sqeuclidean", self_offset=0, keys=True)
    ref = latentgeo.knn(X, 4, metric="sqeuclidean")
    assert keys.dtype == np.float64 and np.array_equal(idx, ref.indices)
    assert np.array_equal(keys.astype(np.float32), ref.distances)
    exact = ((X[:, None, :].astype(np.float64) - X[idx].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_allclose(keys, exact, rtol=1e-14)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "inner_product"])
def test_a_block_pair_ranks_both_ways(rng, metric):
    """knn_pair (one off-diagonal pair of a self-join): the two one-way keys=True searches."""
    a = rng.normal(size=(70, 5)).astype(np.float32)
    b = rng.normal(size=(33, 5)).astype(np.float32)
    b[:2] = a[:2]  # ties across the blocks
    ia, ka, ib, kb = _core.knn_pair(a, b, k_a=4, k_b=9, metric=metric)
    ref_a = _core.knn(b, k=4, metric=metric, query=a, keys=True)
    ref_b = _core.knn(a, k=9, metric=metric, query=b, keys=True)
    assert same_bits(ia, ref_a[0]) and same_bits(ka, ref_a[1])
    assert same_bits(ib, ref_b[0]) and same_bits(kb, ref_b[1])
    with pytest.raises(TypeError, match="b must have the dtype of a"):
        _core.knn_pair(a, b.astype(np.float64), k_a=1, k_b=1, metric=metric)
    with pytest.raises(ValueError, match="must not exceed"):
        _core.knn_pair(a, b, k_a=34, k_b=1, metric=metric)


def test_lazy_result_unpacks_persists_and_pickles(sync, rng):
    X = rng.normal(size=(30, 3))
    lazy = scale.knn(da.from_array(X, chunks=(8, 3)), 3)
    idx, dist = lazy
    assert idx.chunks == ((8, 8, 8, 6), (3,)) and dist.dtype == np.float64 and lazy.k == 3
    res = sync(lambda: lazy.persist(scheduler="synchronous"))
    assert_same(latentgeo.knn(X, 3), res)
    assert_same(res, pickle.loads(pickle.dumps(res)))


def test_npy_path_and_memmap_are_opened_by_the_tasks(sync, rng, tmp_path):
    X = rng.normal(size=(4000, 64)).astype(np.float32)  # 1 MiB
    path = tmp_path / "X.npy"
    np.save(path, X)
    ref = latentgeo.knn(X[:700], 4, query=X[:50])
    mm = np.load(path, mmap_mode="r")
    for src in (path, str(path), mm):
        lazy = scale.knn(src, 4, query=X[:50], block_rows=1000)
        graph = cloudpickle.dumps(dict(lazy.indices.__dask_graph__()))
        assert len(graph) < 100_000, len(graph)  # the file is referenced, never copied
        assert lazy.indices.shape == (50, 4)
    small = tmp_path / "small.npy"
    np.save(small, X[:700])
    assert_same(ref, sync(lambda: scale.knn(small, 4, query=X[:50], block_rows=64)))
    mm = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype=np.float64, shape=(700, 64))
    mm[:] = X[:700]
    mm.flush()
    got = sync(lambda: scale.knn(np.load(tmp_path / "f.npy", mmap_mode="r"), 4, query=X[:50]))
    assert_same(latentgeo.knn(X[:700].astype(np.float64), 4, query=X[:50]), got)
    with pytest.raises(ValueError, match="view into a numpy.memmap"):
        scale.knn(np.load(path, mmap_mode="r")[10:], 4)


def test_bad_input():
    X = np.arange(12.0).reshape(6, 2)
    Xd = da.from_array(X, chunks=(3, 2))
    unknown = Xd[Xd[:, 0] > 1]
    with pytest.raises(ValueError, match="unknown .NaN. chunk sizes"):
        scale.knn(unknown, 1)
    with pytest.raises(ValueError, match="k=6 must be smaller"):
        scale.knn(Xd, 6)
    with pytest.raises(ValueError, match="must not exceed"):
        scale.knn(Xd, 7, query=X)
    with pytest.raises(ValueError, match="query has 3 features"):
        scale.knn(Xd, 1, query=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2-D"):
        scale.knn(da.zeros(5, chunks=2), 1)
    with pytest.raises(TypeError, match="real numbers"):
        scale.knn(np.array([["a", "b"]]), 1)
    with pytest.raises(ValueError, match="unknown metric"):
        scale.knn(Xd, 1, metric="manhattan")
    with pytest.raises(ValueError, match="split_every"):
        scale.knn(Xd, 1, split_every=1)
    with pytest.raises(ValueError, match="cannot open"):
        scale.knn("/nonexistent/X.npy", 1)


def test_nan_is_reported_with_its_global_row(sync):
    X = np.ones((10, 2))
    X[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values \(first at row 7, column 1\)"):
        sync(lambda: scale.knn(da.from_array(X, chunks=(3, 2)), 2))


def test_large_in_memory_arrays_are_refused(monkeypatch):
    monkeypatch.setattr("latentgeo.scale._inputs.MAX_INLINE_BYTES", 1000)
    with pytest.raises(ValueError, match="copied into the task graph"):
        scale.knn(np.zeros((200, 2)), 1)
