"""geodesic_blocks and geodesic_reduce against dense scipy.sparse.csgraph.dijkstra results."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra
from support.graphs import csr_graphs

import latentgeo
from latentgeo import geodesic, geodesic_blocks, geodesic_reduce
from latentgeo.geodesics import _chunks as chunks


def dense_rows(g, src, directed, limit):
    """scipy's (len(src), n) float64 distance rows."""
    n = g.shape[0]
    kw = {} if limit is None else {"limit": limit}
    if len(src) == 0:
        return np.zeros((0, n))
    return dijkstra(g, directed=directed, indices=np.asarray(src), **kw).reshape(len(src), n)


def reference(D, src, reduction, axis, ignore_inf, exclude_self, k):
    """The reduction of the dense matrix D, one row (or column) at a time, written plainly."""
    m, n = D.shape
    counted = np.ones(D.shape, dtype=bool)
    if ignore_inf or reduction in ("min", "topk"):
        counted &= np.isfinite(D)
    if exclude_self:
        counted[np.arange(m), src] = False
    if axis == 1:
        lines = [(D[r], counted[r], np.arange(n)) for r in range(m)]
    else:
        lines = [(D[:, j], counted[:, j], np.asarray(src, dtype=np.int64)) for j in range(n)]
    values, where = [], []
    for vals, keep, ids in lines:
        v, i = vals[keep], ids[keep]
        if reduction == "topk":
            order = np.argsort(v, kind="stable")[:k]
            idx = np.full(k, -1)
            dist = np.full(k, np.inf)
            idx[: order.size], dist[: order.size] = i[order], v[order]
            values.append(dist)
            where.append(idx)
        elif reduction in ("min", "max"):
            if v.size == 0:
                values.append(np.inf if reduction == "min" else -np.inf)
                where.append(-1)
            else:
                p = int(np.argmin(v) if reduction == "min" else np.argmax(v))
                values.append(v[p])
                where.append(int(i[p]) if np.isfinite(v[p]) else -1)
        elif reduction == "sum":
            values.append(v.sum())
        elif reduction == "mean":
            values.append(v.mean() if v.size else np.nan)
        else:
            values.append(v.size)
    return np.array(values), np.array(where, dtype=np.int64)


BLOCK_SIZES = st.one_of(st.none(), st.sampled_from([1, 2, 3, 5, 7]), st.just("n"))


@settings(max_examples=200, deadline=None)
@given(
    g=csr_graphs(max_n=25),
    directed=st.booleans(),
    limit=st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.5])),
    reduction=st.sampled_from(chunks.GEODESIC_REDUCTIONS),
    axis=st.sampled_from([0, 1]),
    ignore_inf=st.booleans(),
    exclude_self=st.one_of(st.none(), st.booleans()),
    block=BLOCK_SIZES,
    force_blocks=st.booleans(),
    data=st.data(),
)
def test_reduce_matches_dense(
    g, directed, limit, reduction, axis, ignore_inf, exclude_self, block, force_blocks, data
):
    n = g.shape[0]
    src = data.draw(st.lists(st.integers(0, n - 1), max_size=2 * n), label="sources")
    k = data.draw(st.integers(1, n + 2), label="k") if reduction == "topk" else None
    block_size = n if block == "n" else block
    D = dense_rows(g, src, directed, limit)
    excl = (axis == 1) if exclude_self is None else exclude_self
    want, want_at = reference(D, src, reduction, axis, ignore_inf, excl, k)
    kw = dict(
        sources=np.array(src, dtype=np.int64),
        k=k,
        axis=axis,
        ignore_inf=ignore_inf,
        exclude_self=exclude_self,
        block_size=block_size,
        directed=directed,
        limit=limit,
    )
    saved = chunks.NEIGHBORS_MAX_K
    chunks.NEIGHBORS_MAX_K = 0 if force_blocks else saved
    try:
        if reduction in ("min", "max"):
            got, got_at = geodesic_reduce(g, reduction, return_index=True, **kw)
            np.testing.assert_array_equal(got_at, want_at)
        else:
            got = geodesic_reduce(g, reduction, **kw)
    finally:
        chunks.NEIGHBORS_MAX_K = saved
    if reduction == "topk":
        idx, dist = got
        assert idx.shape == dist.shape == ((len(src) if axis == 1 else n), k)
        np.testing.assert_array_equal(dist, want.reshape(dist.shape))
        np.testing.assert_array_equal(idx, want_at.reshape(idx.shape))
    elif reduction == "count":
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
    elif reduction in ("min", "max"):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want)
    else:  # summation order differs from the block-wise one
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(
    g=csr_graphs(max_n=25),
    directed=st.booleans(),
    limit=st.one_of(st.none(), st.floats(0, 5)),
    block=BLOCK_SIZES,
    dtype=st.sampled_from([np.float32, np.float64]),
    reuse=st.booleans(),
    data=st.data(),
)
def test_blocks_concatenate_to_geodesic(g, directed, limit, block, dtype, reuse, data):
    n = g.shape[0]
    src = data.draw(st.one_of(st.none(), st.lists(st.integers(0, n - 1), max_size=2 * n)))
    block_size = n if block == "n" else block
    want = geodesic(g, src, directed=directed, limit=limit, dtype=dtype)
    parts, ids = [], []
    for s, b in geodesic_blocks(
        g,
        src,
        block_size=block_size,
        directed=directed,
        limit=limit,
        dtype=dtype,
        reuse_buffer=reuse,
    ):
        assert b.dtype == dtype and b.shape == (s.size, n) and s.dtype == np.int64
        if block_size is not None:
            assert s.size <= block_size
        parts.append(b.copy())
        ids.append(s)
    m = n if src is None else len(src)
    got = np.concatenate(parts) if parts else np.zeros((0, n), dtype=dtype)
    np.testing.assert_array_equal(got, want.reshape(m, n))
    expected_ids = np.arange(n) if src is None else np.array(src, dtype=np.int64)
    np.testing.assert_array_equal(np.concatenate(ids) if ids else [], expected_ids)
    np.testing.assert_array_equal(got, dense_rows(g, expected_ids, directed, limit).astype(dtype))


def test_reuse_buffer_shares_memory_only_when_asked():
    g = sp.random(30, 30, density=0.1, random_state=2, format="csr")
    fresh = [b for _, b in geodesic_blocks(g, block_size=4)]
    assert len(fresh) == 8 and fresh[-1].shape == (2, 30)
    assert not any(np.shares_memory(fresh[0], b) for b in fresh[1:])
    np.testing.assert_array_equal(np.concatenate(fresh), geodesic(g))
    reused = [b for _, b in geodesic_blocks(g, block_size=4, reuse_buffer=True)]
    assert all(np.shares_memory(reused[0], b) for b in reused[1:])
    # Default block size: one block while 2**24 values fit.
    assert len(list(geodesic_blocks(g))) == 1


def test_default_block_size_follows_budget(monkeypatch):
    g = sp.random(30, 30, density=0.1, random_state=2, format="csr")
    monkeypatch.setattr(chunks, "BLOCK_VALUES", 30 * 7)
    sizes = [s.size for s, _ in geodesic_blocks(g)]
    assert sizes == [7, 7, 7, 7, 2]
    monkeypatch.setattr(chunks, "BLOCK_VALUES", 5)  # smaller than a row: one source per block
    assert {s.size for s, _ in geodesic_blocks(g, [1, 2, 3])} == {1}


def test_larger_knn_graph_threads_and_nearest_source():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1500, 3))
    g = latentgeo.knn_graph(X, 6)
    src = rng.choice(1500, 40, replace=False)
    D = dijkstra(g, directed=False, indices=src)
    # Distance from every node to its nearest source and which source: scipy's min_only.
    got, at = geodesic_reduce(g, "min", src, axis=0, return_index=True, block_size=9, n_threads=2)
    want, _, nearest = dijkstra(g, indices=src, min_only=True, return_predecessors=True)
    np.testing.assert_array_equal(got, want)
    assert latentgeo.connected_components(g)[0] == 1 and (at >= 0).all()
    pos = {int(s): r for r, s in enumerate(src)}
    rows = np.array([pos[int(s)] for s in at])
    np.testing.assert_array_equal(D[rows, np.arange(1500)], got)
    # The first source (in `sources` order) reaching the minimum; min_only may pick another tie.
    first = np.argmax(D == D.min(axis=0), axis=0)
    np.testing.assert_array_equal(rows, first)
    np.testing.assert_array_equal(D[[pos[int(s)] for s in nearest], np.arange(1500)], got)
    # Per-source mean and eccentricity, threads do not matter.
    one = geodesic_reduce(g, "mean", src, block_size=16, n_threads=1)
    two = geodesic_reduce(g, "mean", src, block_size=7, n_threads=2)
    np.testing.assert_allclose(one, two, rtol=1e-12)
    off = D.copy()
    off[np.arange(40), src] = np.nan
    np.testing.assert_allclose(one, np.nanmean(off, axis=1), rtol=1e-12)
    np.testing.assert_array_equal(geodesic_reduce(g, "max", src), D.max(axis=1))
    # Top-k: early-stopping neighbours equal the sorted full rows.
    idx, dist = geodesic_reduce(g, "topk", src, k=25)
    nidx, ndist = latentgeo.geodesic_neighbors(g, 25, sources=src, dtype=np.float64)
    np.testing.assert_array_equal(idx, nidx)
    np.testing.assert_array_equal(dist, ndist)


def test_scalar_source_and_empty_sets():
    # 0 - 1 joined, 2 isolated.
    g = sp.csr_matrix(([1.5], ([0], [1])), shape=(3, 3))
    assert geodesic_reduce(g, "min", 0) == 1.5
    assert np.ndim(geodesic_reduce(g, "mean", 1)) == 0
    assert geodesic_reduce(g, "min", 2) == np.inf
    assert geodesic_reduce(g, "max", 2) == -np.inf
    assert geodesic_reduce(g, "sum", 2) == 0.0
    assert geodesic_reduce(g, "count", 2) == 0
    assert np.isnan(geodesic_reduce(g, "mean", 2))
    assert geodesic_reduce(g, "min", 2, return_index=True) == (np.inf, -1)
    assert geodesic_reduce(g, "max", 0, ignore_inf=False, return_index=True) == (np.inf, -1)
    assert geodesic_reduce(g, "mean", 0, ignore_inf=False) == np.inf
    idx, dist = geodesic_reduce(g, "topk", 0, k=2)
    assert idx.tolist() == [1, -1] and dist.tolist() == [1.5, np.inf]
    idx, dist = geodesic_reduce(g, "topk", [0, 2], k=1, limit=1.0)
    assert idx.tolist() == [[-1], [-1]]
    assert geodesic_reduce(g, "count", [0, 1, 2], axis=0).tolist() == [2, 2, 1]
    assert geodesic_reduce(g, "count", [0], axis=0, exclude_self=True).tolist() == [0, 1, 0]
    assert geodesic_reduce(g, "min", []).shape == (0,)
    assert geodesic_reduce(g, "min", [], axis=0).tolist() == [np.inf] * 3


def test_progress(capsys):
    g = sp.random(30, 30, density=0.2, random_state=0, format="csr")
    geodesic_reduce(g, "mean", block_size=4, progress=True)
    assert "geodesic" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        ({"reduction": "median"}, ValueError, "reduction"),
        ({"axis": 2}, ValueError, "axis"),
        ({"axis": True}, ValueError, "axis"),
        ({"reduction": "topk"}, ValueError, "needs k"),
        ({"reduction": "topk", "k": 0}, ValueError, "k must be at least 1"),
        ({"reduction": "min", "k": 3}, ValueError, "only used"),
        ({"reduction": "mean", "return_index": True}, ValueError, "return_index"),
        ({"block_size": 0}, ValueError, "block_size"),
        ({"reduction": "topk", "k": 2, "block_size": 0}, ValueError, "block_size"),
        ({"limit": -1.0}, ValueError, "limit"),
        ({"limit": "1"}, TypeError, "limit"),
        ({"sources": [9]}, ValueError, "out of range"),
        ({"n_threads": 0}, ValueError, "n_threads"),
    ],
)
def test_reduce_bad_input(kwargs, exc, msg):
    g = sp.eye(4, format="csr")
    with pytest.raises(exc, match=msg):
        geodesic_reduce(g, **kwargs)


def test_blocks_bad_input_raises_at_call():
    g = sp.eye(4, format="csr")
    with pytest.raises(ValueError, match="block_size"):
        geodesic_blocks(g, block_size=0)
    with pytest.raises(ValueError, match="negative"):
        geodesic_blocks(sp.csr_matrix(np.array([[0, -1.0], [0, 0]])))
    with pytest.raises(ValueError, match="float32 or float64"):
        geodesic_blocks(g, dtype=np.int32)


def test_ties_go_to_first_source_and_smallest_node(monkeypatch):
    path = sp.csr_matrix(([1.0, 1.0], ([0, 1], [1, 2])), shape=(3, 3))  # 0 - 1 - 2
    for block_size in (1, 2, None):
        d, at = geodesic_reduce(
            path, "min", [0, 2], axis=0, return_index=True, block_size=block_size
        )
        assert d.tolist() == [0.0, 1.0, 0.0] and at.tolist() == [0, 0, 2]
        _, at = geodesic_reduce(path, "min", [2, 0], axis=0, return_index=True, block_size=1)
        assert at.tolist() == [0, 2, 2]
        idx, _ = geodesic_reduce(path, "topk", [2, 0], k=2, axis=0, block_size=block_size)
        assert idx.tolist() == [[0, 2], [2, 0], [2, 0]]
    # A star: all 299 leaves tie at distance 1 from the centre; ties by node id, both paths.
    n = 300
    star = sp.csr_matrix(
        (np.ones(n - 1), (np.zeros(n - 1, dtype=int), np.arange(1, n))), shape=(n, n)
    )
    for limit_k in (chunks.NEIGHBORS_MAX_K, 0):
        monkeypatch.setattr(chunks, "NEIGHBORS_MAX_K", limit_k)
        idx, dist = geodesic_reduce(star, "topk", [0, 7], k=40, block_size=1)
        assert idx[0].tolist() == list(range(1, 41)) and (dist[0] == 1).all()
        assert idx[1].tolist() == [0] + list(range(1, 7)) + list(range(8, 41))
    d, at = geodesic_reduce(star, "max", [5], return_index=True)
    assert d.tolist() == [2.0] and at.tolist() == [1]
