"""Geodesic distances in blocks of sources, and reductions that never build the full matrix.

All-pairs geodesics on n = 100,000 nodes are 40 GB in float32; most uses need only a summary
of each row (nearest other node, mean distance, the k nearest) or of each column (distance to
the nearest of a set of sources). :func:`geodesic_blocks` hands out the rows a block of sources
at a time and :func:`geodesic_reduce` folds them into per-source or per-target results, so
memory stays at one block of ``block_size * n`` values.
"""

from __future__ import annotations

from typing import Iterator, Optional, Tuple

import numpy as np

from .. import _core
from .._progress import Progress
from .._validate import (
    check_choice,
    check_int,
    check_n_threads,
)
from ..neighbors._gate import _as_csr, _as_sources, _core_csr
from ._dijkstra import _check_dtype, _check_limit, _narrow, _wide, geodesic_neighbors

#: Accepted values of ``reduction`` in :func:`geodesic_reduce`.
GEODESIC_REDUCTIONS = ("min", "max", "mean", "sum", "count", "topk")


#: Values per block when ``block_size=None`` (64 MB of float32, 128 MB of float64).
BLOCK_VALUES = 1 << 24


#: Per-source top-k uses the early-stopping :func:`latentgeo.geodesic_neighbors` up to this k.
NEIGHBORS_MAX_K = 1024


class _BlockProgress:
    """Forwards the Rust core's per-call ``(done, total)`` to one bar over all blocks."""

    def __init__(self, bar: Progress, offset: int, total: int):
        self.bar, self.offset, self.total = bar, offset, total

    def __call__(self, done: int, total: int) -> None:
        self.bar(self.offset + int(done), self.total)


def _block_size(block_size, n: int, m: int) -> int:
    if block_size is None:
        return max(1, min(max(m, 1), BLOCK_VALUES // max(n, 1)))
    return check_int(block_size, "block_size", low=1)


def _iter_blocks(graph, sources, block_size, directed, limit, dt, n_threads, reuse, progress):
    """Validate once, then yield (source ids, block); the shared engine of this module."""
    dt = _check_dtype(dt)
    n_threads = check_n_threads(n_threads)
    limit = _check_limit(limit)
    n, indptr, indices, weights = _as_csr(graph)
    src, _ = _as_sources(sources, n)
    b = _block_size(block_size, n, src.size)
    indptr, indices, weights = _core_csr(n, indptr, indices, weights, bool(directed))

    def gen():
        m = src.size
        buf = np.empty((min(b, m), n), dtype=dt) if reuse and m else None
        wide = np.empty((min(b, m), n)) if _wide(dt, weights) and m else None
        with Progress(m, "geodesic", enabled=bool(progress)) as bar:
            for start in range(0, m, b):
                ids = src[start : start + b]
                out = buf[: ids.size] if buf is not None else np.empty((ids.size, n), dtype=dt)
                target = out if wide is None else wide[: ids.size]
                cb = _BlockProgress(bar, start, m)
                _core.dijkstra(
                    (n, indptr, indices, weights),
                    sources=ids,
                    out=target,
                    limit=limit,
                    n_threads=n_threads,
                    progress=cb,
                )
                if wide is not None:
                    _narrow(target, out)
                yield ids, out

    return n, src, gen()


def geodesic_blocks(
    graph,
    sources=None,
    *,
    block_size: Optional[int] = None,
    directed: bool = False,
    limit: Optional[float] = None,
    dtype=np.float32,
    n_threads: Optional[int] = None,
    reuse_buffer: bool = False,
    progress: bool = False,
) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Geodesic distance rows, `block_size` sources at a time.

    Equivalent to slicing ``latentgeo.geodesic(graph, sources, ...)`` into consecutive row
    blocks (bitwise: the same Dijkstra runs on the same graph), but only one block is held at a
    time. The graph is validated and symmetrised once, before the first block. Each block is
    computed in parallel over its sources (``n_threads``), so blocks should hold at least a few
    sources per thread.

    Parameters
    ----------
    graph : scipy.sparse matrix or array, or array_like, shape (n, n)
        Edge weights with the conventions of :func:`latentgeo.geodesic`.
    sources : None, int or 1-D array of int
        Source nodes in output order (repeats allowed); ``None``: all nodes. An int is one
        source (a single block of one row).
    block_size : int, optional
        Sources per block (the last block may be shorter). Default: as many as fit in
        :data:`BLOCK_VALUES` (2**24) values, i.e. ``2**24 // n`` (at least 1).
    directed, limit, dtype, n_threads
        As in :func:`latentgeo.geodesic`.
    reuse_buffer : bool
        ``False`` (default): every block is a new array that the caller may keep. ``True``:
        every block is a view of one buffer of ``block_size * n`` values that the next block
        overwrites, so peak memory stays at one block; copy a block to keep it past the next
        iteration. (Reductions such as :func:`geodesic_reduce` use this internally.)
    progress : bool
        Show one progress bar over all blocks on stderr.

    Yields
    ------
    source_ids : ndarray of int64, shape (b,)
        The sources of the block (a slice of `sources`).
    block : ndarray of `dtype`, shape (b, n)
        ``block[r, j]``: geodesic distance from ``source_ids[r]`` to ``j``, ``inf`` when
        unreachable or beyond `limit`.

    Raises
    ------
    ValueError, TypeError
        As :func:`latentgeo.geodesic` for a bad graph, source, dtype or limit, and for
        ``block_size < 1``; raised at the call, before any block is computed.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, latentgeo
    >>> line = sp.csr_array(([1.0, 2.0], ([0, 1], [1, 2])), shape=(3, 3))
    >>> for ids, block in latentgeo.geodesic_blocks(line, block_size=2, dtype=np.float64):
    ...     print(ids.tolist(), block.tolist())
    [0, 1] [[0.0, 1.0, 3.0], [1.0, 0.0, 2.0]]
    [2] [[3.0, 2.0, 0.0]]
    """
    _, _, blocks = _iter_blocks(
        graph, sources, block_size, directed, limit, dtype, n_threads, reuse_buffer, progress
    )
    return blocks


def _row_topk(block: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """The k smallest finite entries of each row by (value, column), padded with -1 / inf."""
    kk = min(k, block.shape[1])
    order = np.argsort(block, axis=1, kind="stable")[:, :kk]
    dist = np.take_along_axis(block, order, axis=1)
    idx = np.where(np.isfinite(dist), order, -1)
    if kk < k:
        pad = k - kk
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        dist = np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf)
    return idx.astype(np.int64), np.where(idx >= 0, dist, np.inf)


def geodesic_reduce(
    graph,
    reduction: str = "min",
    sources=None,
    *,
    k: Optional[int] = None,
    axis: int = 1,
    ignore_inf: bool = True,
    exclude_self: Optional[bool] = None,
    return_index: bool = False,
    block_size: Optional[int] = None,
    directed: bool = False,
    limit: Optional[float] = None,
    n_threads: Optional[int] = None,
    progress: bool = False,
):
    """Reduce the geodesic distance matrix ``D[sources, :]`` without building it.

    ``D`` (shape (m, n), m = len(sources)) is computed block by block with
    :func:`geodesic_blocks` (float64, one reused buffer of ``block_size * n`` values) and each
    block is folded into the result, so memory is one block plus the result. ``axis=1``
    reduces each source's row over the targets; ``axis=0`` reduces each target's column over
    the sources (e.g. the distance from every node to its nearest source). Results equal the
    same reduction of the dense :func:`latentgeo.geodesic` matrix in float64.

    Parameters
    ----------
    graph : scipy.sparse matrix or array, or array_like, shape (n, n)
        Edge weights with the conventions of :func:`latentgeo.geodesic`.
    reduction : {"min", "max", "mean", "sum", "count", "topk"}
        Over the entries that count (see `ignore_inf` and `exclude_self`): the smallest, the
        largest, their mean, their sum, how many there are, or the `k` smallest with their
        indices. Empty sets give ``min = inf``, ``max = -inf``, ``sum = 0``, ``count = 0``,
        ``mean = nan``; ``topk`` pads with index -1 and distance ``inf``.
    sources : None, int or 1-D array of int
        Source nodes (rows of ``D``); ``None``: all nodes. With ``axis=1`` an int gives a
        scalar result (or 1-D arrays of length `k` for ``"topk"``).
    k : int, optional
        Entries kept by ``"topk"`` (required there, refused otherwise), ``k >= 1``.
    axis : {1, 0}
        ``1``: one result per source (reduce over targets). ``0``: one result per node
        (reduce over the sources).
    ignore_inf : bool
        ``True`` (default): unreachable entries (``inf``, including those beyond `limit`) are
        left out, so ``"mean"`` is the mean distance to reachable nodes and ``"max"`` the
        largest finite distance (the eccentricity within the component). ``False``: they count,
        so ``"max"``, ``"mean"`` and ``"sum"`` are ``inf`` as soon as one is unreachable.
        ``"min"`` and ``"topk"`` are unaffected (inf entries never win).
    exclude_self : bool, optional
        Leave out the entry of a source with itself (``D[r, sources[r]] = 0``). Default
        ``True`` for ``axis=1`` (e.g. ``"min"`` is the distance to the nearest *other* node;
        other nodes at distance 0 still count) and ``False`` for ``axis=0`` (a node that is a
        source is at distance 0 from the nearest source).
    return_index : bool
        For ``"min"`` and ``"max"``: also return where the extreme is reached: a node id for
        ``axis=1`` (ties: the smallest node id), a source node id for ``axis=0`` (ties: the
        first in `sources`); -1 where the result is not finite (an empty set, or an
        unreachable entry counted with ``ignore_inf=False``).
    block_size : int, optional
        Sources per block, as in :func:`geodesic_blocks`.
    directed, limit, n_threads, progress
        As in :func:`latentgeo.geodesic`.

    Returns
    -------
    values : ndarray of float64 (int64 for "count"), shape (m,) for axis=1 or (n,) for axis=0
        The reduction. For ``"topk"``, a pair ``(indices, distances)`` of shape (m, k) or (n, k)
        instead, nearest first: for ``axis=1`` the k nearest target nodes of each source (ties
        by node id; exactly :func:`latentgeo.geodesic_neighbors` when `exclude_self`), for
        ``axis=0`` the k nearest sources of each node as node ids (ties by position in
        `sources`).
    index : ndarray of int64, same shape, only with `return_index`

    Raises
    ------
    ValueError
        Unknown reduction or axis, a missing or invalid `k`, `return_index` with a reduction
        other than "min"/"max", and every error of :func:`latentgeo.geodesic`.

    Notes
    -----
    Per-source ``"topk"`` with ``exclude_self`` and ``k <=`` :data:`NEIGHBORS_MAX_K` runs
    :func:`latentgeo.geodesic_neighbors` (each search stops after k settled nodes; `limit` is
    applied to its result), which returns the same answer as reducing full rows.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, latentgeo
    >>> line = sp.csr_array(([1.0, 2.0], ([0, 1], [1, 2])), shape=(3, 3))
    >>> latentgeo.geodesic_reduce(line, "min").tolist()  # nearest other node
    [1.0, 1.0, 2.0]
    >>> latentgeo.geodesic_reduce(line, "mean").tolist()
    [2.0, 1.5, 2.5]
    >>> latentgeo.geodesic_reduce(line, "min", sources=[0], axis=0).tolist()  # to node 0
    [0.0, 1.0, 3.0]
    """
    reduction = check_choice(reduction, "reduction", GEODESIC_REDUCTIONS)
    if isinstance(axis, (bool, np.bool_)) or axis not in (0, 1):
        raise ValueError(f"axis must be 1 (per source) or 0 (per target), got {axis!r}")
    if reduction == "topk":
        if k is None:
            raise ValueError("reduction='topk' needs k")
        k = check_int(k, "k", low=1)
    elif k is not None:
        raise ValueError(f"k is only used with reduction='topk', not {reduction!r}")
    if return_index and reduction not in ("min", "max"):
        raise ValueError(f"return_index applies to 'min' and 'max', not {reduction!r}")
    if exclude_self is None:
        exclude_self = axis == 1
    limit = _check_limit(limit)
    if block_size is not None:
        check_int(block_size, "block_size", low=1)

    use_neighbors = reduction == "topk" and axis == 1 and exclude_self and k <= NEIGHBORS_MAX_K
    if use_neighbors and k < _as_csr(graph)[0]:
        idx, dist = geodesic_neighbors(
            graph,
            k,
            sources=sources,
            directed=directed,
            dtype=np.float64,
            n_threads=n_threads,
            progress=progress,
        )
        if limit is not None:
            beyond = dist > limit
            idx, dist = np.where(beyond, -1, idx), np.where(beyond, np.inf, dist)
        return idx, dist

    n, src, blocks = _iter_blocks(
        graph, sources, block_size, directed, limit, np.float64, n_threads, True, progress
    )
    scalar = axis == 1 and sources is not None and np.ndim(sources) == 0
    fill = {"min": np.inf, "max": -np.inf, "sum": 0.0, "mean": 0.0, "count": 0.0, "topk": np.inf}
    fill = fill[reduction]
    size = src.size if axis == 1 else n
    acc = np.full(size, fill if reduction in ("min", "max") else 0.0)
    cnt = np.zeros(size, dtype=np.int64)
    arg = np.full(size, -1, dtype=np.int64)
    if reduction == "topk":
        top_idx = np.full((size, k), -1, dtype=np.int64)
        top_d = np.full((size, k), np.inf)

    start = 0
    for ids, block in blocks:
        b = ids.size
        rows = np.arange(b)
        valid = np.isfinite(block) if ignore_inf or reduction in ("min", "topk") else None
        if exclude_self:
            if valid is None:
                valid = np.ones(block.shape, dtype=bool)
            valid[rows, ids] = False
        if valid is not None:
            np.copyto(block, fill, where=~valid)
        if reduction == "count":
            if valid is not None:
                part = valid.sum(axis=axis)
            else:
                part = np.full(b, n) if axis == 1 else np.full(n, b)
        if axis == 1:
            sl = slice(start, start + b)
            if reduction in ("min", "max"):
                where = block.argmin(axis=1) if reduction == "min" else block.argmax(axis=1)
                acc[sl] = block[rows, where]
                arg[sl] = where
            elif reduction in ("sum", "mean"):
                acc[sl] = block.sum(axis=1)
                cnt[sl] = valid.sum(axis=1) if valid is not None else n
            elif reduction == "count":
                cnt[sl] = part
            else:
                top_idx[sl], top_d[sl] = _row_topk(block, k)
        else:
            if reduction in ("min", "max"):
                where = block.argmin(axis=0) if reduction == "min" else block.argmax(axis=0)
                best = block[where, np.arange(n)]
                better = best < acc if reduction == "min" else best > acc
                acc[better] = best[better]
                arg[better] = ids[where[better]]
            elif reduction in ("sum", "mean"):
                acc += block.sum(axis=0)
                cnt += valid.sum(axis=0) if valid is not None else b
            elif reduction == "count":
                cnt += part
            else:
                # Running best first (earlier sources, sorted), then this block in source order:
                # a stable sort on distance breaks ties by position in `sources`.
                cand_d = np.concatenate([top_d, block.T], axis=1)
                cand_i = np.concatenate([top_idx, np.broadcast_to(ids, (n, b))], axis=1)
                order = np.argsort(cand_d, axis=1, kind="stable")[:, :k]
                top_d = np.take_along_axis(cand_d, order, axis=1)
                top_idx = np.where(np.isfinite(top_d), np.take_along_axis(cand_i, order, 1), -1)
        start += b

    if reduction == "topk":
        if scalar:
            return top_idx[0], top_d[0]
        return top_idx, top_d
    if reduction == "count":
        result = cnt
    elif reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            result = acc / cnt
    else:
        result = acc
    arg[~np.isfinite(result)] = -1
    if scalar:
        result, arg = result[0], arg[0]
    if return_index:
        return result, arg
    return result
