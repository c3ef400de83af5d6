"""Memory-mapped input: ``np.load(..., mmap_mode="r")`` arrays and ``.npy`` paths are searched
block by block, with the same result as in memory and without a whole copy in memory."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.strategies import SEEDS, examples

import latentgeo
from latentgeo import _core, knn
from latentgeo.neighbors import _mapped
from latentgeo.neighbors._exact import exact_keys, row_norms


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 256 rows (the smallest), so that small inputs span several blocks."""
    monkeypatch.setattr(_mapped, "BLOCK_BYTES", 1)


def same(a, b):
    assert a.indices.dtype == b.indices.dtype and a.distances.dtype == b.distances.dtype
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.distances, b.distances)
    assert (a.metric, a.n_index, a.self_join) == (b.metric, b.n_index, b.self_join)


@pytest.mark.parametrize("metric", latentgeo.METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int16])
def test_memmap_and_path_give_the_in_memory_result(tmp_path, small_blocks, metric, dtype):
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((700, 12)) * 4).astype(dtype)
    X[600] = X[5]  # a duplicate in another block
    path = tmp_path / "x.npy"
    np.save(path, X)
    M = np.load(path, mmap_mode="r")
    ref = knn(X, 7, metric=metric)
    same(knn(M, 7, metric=metric), ref)
    same(knn(str(path), 7, metric=metric), ref)
    same(
        knn(path, 7, metric=metric, exclude_self=False),
        knn(X, 7, metric=metric, exclude_self=False),
    )
    Q = X[::7]
    same(knn(M, 5, metric=metric, query=Q), knn(X, 5, metric=metric, query=Q))
    same(knn(X, 5, metric=metric, query=M[:300]), knn(X, 5, metric=metric, query=X[:300]))


@examples(20)
@given(st.integers(2, 600), st.integers(1, 9), SEEDS, st.sampled_from(latentgeo.METRICS))
def test_blocked_search_equals_one_kernel_call(n, d, seed, metric):
    """Integer data (ties and duplicates across blocks) in blocks of 256 rows."""
    X = np.random.default_rng(seed).integers(-3, 4, size=(n, d)).astype(np.float32)
    k = int(np.random.default_rng(seed).integers(1, n))
    ref = knn(X, k, metric=metric)
    old = _mapped.BLOCK_BYTES
    _mapped.BLOCK_BYTES = 1
    try:
        res = latentgeo.neighbors._knn._knn_blocks(
            X, k, metric, None, True, None, False, "exact", None
        )
    finally:
        _mapped.BLOCK_BYTES = old
    same(res, ref)


@pytest.mark.parametrize("metric", latentgeo.METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 8, 13, 37])
def test_numpy_keys_are_the_kernels_bit_for_bit(metric, dtype, d):
    """exact_keys (the approximate path's re-rank) repeats the kernel's f64 arithmetic."""
    rng = np.random.default_rng(d)
    X = (rng.standard_normal((300, d)) * 3).astype(dtype)
    X[5] = 0.0
    Q = X[:40] + np.asarray(0.5, dtype)
    idx, keys = _core.knn(X, k=9, metric=metric, query=Q, keys=True)
    mine = exact_keys(Q, X, idx, metric, row_norms(Q), row_norms(X))
    assert np.array_equal(mine, keys)


def test_extreme_magnitudes_are_rescaled_per_block(tmp_path, small_blocks):
    X = np.random.default_rng(1).standard_normal((600, 5)) * 1e200
    np.save(tmp_path / "big.npy", X)
    for metric in ("euclidean", "cosine"):
        same(knn(tmp_path / "big.npy", 3, metric=metric), knn(X, 3, metric=metric))
    with pytest.raises(ValueError, match="overflow"):
        knn(tmp_path / "big.npy", 3, metric="sqeuclidean")


def test_hubness_graph_and_k_occurrence_read_npy_paths(tmp_path, example):
    path = tmp_path / "emb.npy"
    np.save(path, example)
    a, b = latentgeo.hubness(path, 10), latentgeo.hubness(example, 10)
    assert np.array_equal(a.k_occurrence, b.k_occurrence) and a.skewness == b.skewness
    assert (latentgeo.knn_graph(path, 5) != latentgeo.knn_graph(example, 5)).nnz == 0
    assert np.array_equal(latentgeo.k_occurrence(path, 4), latentgeo.k_occurrence(example, 4))


def test_bad_mapped_input(tmp_path, small_blocks):
    X = np.zeros((700, 3), np.float32)
    X[650, 2] = np.nan
    np.save(tmp_path / "nan.npy", X)
    with pytest.raises(ValueError, match=r"X contains NaN .*row 650, column 2"):
        knn(tmp_path / "nan.npy", 2)
    with pytest.raises(ValueError, match="only .npy files"):
        knn(str(tmp_path / "x.npz"), 2)
    with pytest.raises(FileNotFoundError):
        knn(tmp_path / "missing.npy", 2)
    np.save(tmp_path / "v.npy", np.zeros(5))
    with pytest.raises(ValueError, match="2-D array"):
        knn(tmp_path / "v.npy", 2)
    np.save(tmp_path / "c.npy", np.zeros((4, 2), complex))
    with pytest.raises(TypeError, match="real numbers"):
        knn(tmp_path / "c.npy", 2)


PEAK_SCRIPT = """
import sys
import numpy as np
import latentgeo

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

Q = np.random.default_rng(0).standard_normal((8, {d})).astype(np.float32)
latentgeo.knn(np.random.default_rng(0).standard_normal((300, {d}), dtype=np.float32), 3)
X = np.load(sys.argv[1], mmap_mode="r")
before = peak_kb()
res = latentgeo.knn(X, 5, query=Q)
assert res.indices.shape == (8, 5) and res.indices.max() < X.shape[0]
print(peak_kb() - before)

"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_large_npy_memmap_does_not_raise_peak_rss_by_its_size(tmp_path):
    """A 240 MB .npy file searched through a memory map: peak RSS (VmHWM, which counts mapped
    file pages too) grows by a few blocks, not by the file size."""
    n, d = 160_000, 384
    path = tmp_path / "large.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    pattern = np.random.default_rng(0).standard_normal((1000, d), dtype=np.float32)
    for s in range(0, n, 1000):
        out[s : s + 1000] = pattern + np.float32(s)  # distinct rows, cheap to write
    del out  # no flush: the pages stay in the page cache, and the file is read from there
    size_kb = path.stat().st_size // 1024
    script = textwrap.dedent(PEAK_SCRIPT.format(d=d))
    run = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    grew_kb = int(run.stdout.split()[-1])
    assert grew_kb < size_kb / 3, (grew_kb, size_kb)
