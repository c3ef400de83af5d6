"""Geodesic distances and geodesic neighbours on Dask: the sources split into blocks, the checked
graph shipped to each worker once, one row block of the output per task.

Every row is one Dijkstra from its source, computed in float64 by the same kernel as
:func:`latentgeo.geodesic`, so rows do not depend on the blocks they are computed in. The
float32 range check (a finite distance that would round to inf) is the single-process one,
decided on the whole graph.
"""

from __future__ import annotations

from typing import Optional

import dask
import dask.array as da
import numpy as np

from .. import _core
from .._validate import check_int, check_n_threads
from ..geodesics._dijkstra import _check_dtype, _check_limit, _narrow, _wide
from ..neighbors._components import _geodesic_policy
from ..neighbors._gate import _as_csr, _as_sources, _core_csr
from ._inputs import aligned, ranges, shared
from ._threads import task_threads

#: Default sources per task.
DEFAULT_BLOCK_SOURCES = 256


def _sources_and_graph(graph, sources, directed, block_sources):
    n, indptr, indices, weights = _as_csr(graph)
    src, scalar = _as_sources(sources, n)
    csr = (n,) + tuple(_core_csr(n, indptr, indices, weights, directed))
    block = check_int(block_sources, "block_sources", low=1)
    return csr, src, scalar, block


def geodesic(
    graph,
    sources=None,
    *,
    directed: bool = False,
    limit: Optional[float] = None,
    dtype=np.float32,
    return_predecessors: bool = False,
    policy: str = "inf",
    X=None,
    metric: str = "euclidean",
    block_sources: int = DEFAULT_BLOCK_SOURCES,
    n_threads: Optional[int] = None,
):
    """:func:`latentgeo.geodesic` on Dask: a row-chunked lazy distance matrix.

    Parameters
    ----------
    graph, sources, directed, limit, dtype, return_predecessors, policy, X, metric
        As in :func:`latentgeo.geodesic` (the graph is checked and, for ``policy="connect"``,
        repaired here, once). The graph is sent to the workers once.
    block_sources : int
        Sources (output rows) per task: a task holds ``block_sources x n`` distances.
    n_threads : int, optional
        Rust threads per task (default: the worker's thread count under ``distributed``).

    Returns
    -------
    distances : dask.array.Array of `dtype`, shape (len(sources), n) or (n,)
        Chunked by `block_sources` rows, equal bit for bit to ``latentgeo.geodesic``; store it
        with ``to_zarr`` or :func:`dask.array.store` without holding it whole in memory.
    predecessors : dask.array.Array of int64, same shape, only if `return_predecessors`

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, latentgeo.scale
    >>> line = sp.csr_array(([1.0, 2.0], ([0, 1], [1, 2])), shape=(3, 3))
    >>> lazy = latentgeo.scale.geodesic(line, dtype=np.float64, block_sources=2)
    >>> lazy.chunks, lazy.compute(scheduler="synchronous")[2].tolist()
    (((2, 1), (3,)), [3.0, 2.0, 0.0])
    """
    dt = _check_dtype(dtype)
    n_threads = check_n_threads(n_threads)
    limit = _check_limit(limit)
    if not (isinstance(policy, str) and policy == "inf"):
        graph, sources = _geodesic_policy(graph, sources, policy, X, metric, n_threads)
    csr, src, scalar, block = _sources_and_graph(graph, sources, directed, block_sources)
    n = csr[0]
    wide = _wide(dt, csr[3])
    g = shared(csr, "graph")
    task = dask.delayed(_rows, pure=True, nout=2)
    dist, pred = [], []
    for lo, hi in ranges(src.size, block):
        out = task(g, src[lo:hi], dt, wide, limit, return_predecessors, n_threads)
        dist.append(da.from_delayed(out[0], shape=(hi - lo, n), dtype=dt))
        if return_predecessors:
            pred.append(da.from_delayed(out[1], shape=(hi - lo, n), dtype=np.int64))
    distances = da.concatenate(dist, axis=0)
    if scalar:
        distances = distances[0]
    if not return_predecessors:
        return distances
    predecessors = da.concatenate(pred, axis=0)
    return distances, predecessors[0] if scalar else predecessors


def _aligned_csr(csr):
    return (csr[0],) + tuple(aligned(a) for a in csr[1:])


def _rows(csr, src, dt, wide, limit, with_pred, n_threads):
    csr = _aligned_csr(csr)
    n = csr[0]
    shape = (src.size, n)
    out = np.empty(shape, dtype=dt)
    pred = np.empty(shape, dtype=np.int64) if with_pred else None
    target = np.empty(shape) if wide else out
    _core.dijkstra(
        csr,
        sources=aligned(src, np.int64),
        out=target,
        predecessors=pred,
        limit=limit,
        n_threads=task_threads(n_threads),
    )
    if target is not out:
        _narrow(target, out)
    return out, pred


def geodesic_neighbors(
    graph,
    k: int,
    *,
    sources=None,
    directed: bool = False,
    dtype=np.float32,
    block_sources: int = DEFAULT_BLOCK_SOURCES,
    n_threads: Optional[int] = None,
):
    """:func:`latentgeo.geodesic_neighbors` on Dask: lazy ``(indices, distances)``.

    Parameters
    ----------
    graph, k, sources, directed, dtype
        As in :func:`latentgeo.geodesic_neighbors` (the graph is checked here, once, and sent
        to the workers once).
    block_sources : int
        Sources (output rows) per task.
    n_threads : int, optional
        Rust threads per task (default: the worker's thread count under ``distributed``).

    Returns
    -------
    indices : dask.array.Array of int64, shape (len(sources), k) or (k,)
    distances : dask.array.Array of `dtype`, same shape
        Row-chunked by `block_sources`; equal bit for bit to ``latentgeo.geodesic_neighbors``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, latentgeo.scale
    >>> line = sp.csr_array(([1.0, 2.0], ([0, 1], [1, 2])), shape=(3, 3))
    >>> idx, dist = latentgeo.scale.geodesic_neighbors(line, 2, dtype=np.float64)
    >>> idx.compute(scheduler="synchronous").tolist()
    [[1, 2], [0, 2], [1, 0]]
    """
    dt = _check_dtype(dtype)
    n_threads = check_n_threads(n_threads)
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {k!r}")
    csr, src, scalar, block = _sources_and_graph(graph, sources, directed, block_sources)
    n, k = csr[0], int(k)
    if not 1 <= k < n:
        raise ValueError(
            f"k must satisfy 1 <= k < n = {n} (the source is not its own neighbour), got {k}"
        )
    wide = _wide(dt, csr[3])
    g = shared(csr, "graph")
    task = dask.delayed(_neighbor_rows, pure=True, nout=2)
    idx, dist = [], []
    for lo, hi in ranges(src.size, block):
        out = task(g, src[lo:hi], k, dt, wide, n_threads)
        idx.append(da.from_delayed(out[0], shape=(hi - lo, k), dtype=np.int64))
        dist.append(da.from_delayed(out[1], shape=(hi - lo, k), dtype=dt))
    indices, distances = da.concatenate(idx, axis=0), da.concatenate(dist, axis=0)
    if scalar:
        return indices[0], distances[0]
    return indices, distances


def _neighbor_rows(csr, src, k, dt, wide, n_threads):
    csr = _aligned_csr(csr)
    m = src.size
    out_idx = np.empty((m, k), dtype=np.int64)
    out = np.empty((m, k), dtype=dt)
    target = np.empty((m, k)) if wide else out
    _core.geodesic_neighbors(
        csr,
        sources=aligned(src, np.int64),
        k=k,
        out_indices=out_idx,
        out=target,
        n_threads=task_threads(n_threads),
    )
    if target is not out:
        _narrow(target, out)
    return out_idx, out
