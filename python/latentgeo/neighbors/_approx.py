"""Approximate kNN (HNSW graph of the optional ``usearch`` package), re-ranked exactly, with a
recall estimate from a seeded sample of rows checked by the exact kernel.

Where the time goes, and what makes it fast (n = 10^5 x 384 float32, 2 cores; benches/README):
the graph stores int8 rows (a quarter of the memory traffic of float32, the backend's VNNI
kernels), 2k candidates per query make up for the rounding; points are inserted and searched
grouped by a k-means centroid (after a random tenth inserted first), so consecutive searches
reuse the cache; the exact re-rank works in cache-sized chunks on all threads.

A self-join is then refined by NN-descent's local join (``_core.knn_refine``, a few rounds):
rows whose graph search ended in the wrong region (their lists pile onto a few far points and
inflate hubness) are brought back by the reverse neighbours that did find them. On 10^5 points
in 1,000 clusters it raised recall@10 from 0.961 to 0.994 at ef 64 and the skewness of N_10
came from 2.85 to 1.795 (exact: 1.791), for about a tenth of the search time. Rows still lost
after it (:func:`lost_rows`: whole regions the graph search missed, which no reverse neighbour
reaches) are searched again exactly, and their new lists spread by another refinement.

Only the candidate *sets* come from the backend: every returned distance is recomputed in
float64 by :func:`._exact.exact_keys` (the exact path's own arithmetic) and each row is ordered
by (distance, index), so the result has the exact path's types, self rule and tie rule, and a
neighbour found by both paths has the same distance in both.
"""

from __future__ import annotations

import math
import numbers
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

from .. import _core
from .._json import plain
from .._validate import check_int
from ._exact import _NO_INDEX, exact_keys, knn_blocked, row_norms, select
from ._hnsw import _CHUNK_ROWS, HnswIndex, _Rows, _same, _threads, require_backend
from ._mapped import blocks, load_block, release

#: Values of the `method` option of :func:`latentgeo.knn` and the functions built on it.
KNN_METHODS = ("exact", "approximate")

#: The options of ``method="approximate"`` and their defaults (``None``: chosen from k).
APPROX_DEFAULTS = {
    "connectivity": 16,
    "expansion_add": 128,
    "expansion_search": None,
    "candidates": None,
    "index_dtype": "int8",
    "refine": 3,
    "recall_sample": 300,
    "seed": 0,
}

#: Values of the ``index_dtype`` option: how the HNSW index stores the vectors.
INDEX_DTYPES = ("int8", "float32")

#: Data rows per block of the exact checks (one kernel call each).
_CHECK_BLOCK = 32_768
#: Query rows per call of the exact re-rank (keeps its float64 temporaries in cache).
_RERANK_ROWS = 64


@dataclass(frozen=True)
class ApproxInfo:
    """How an approximate kNN was computed, and how good it is.

    Attributes
    ----------
    backend : str
        The library and its version, e.g. ``"usearch 2.26.6"``.
    params : dict
        The HNSW parameters used (``connectivity``, ``expansion_add``, ``expansion_search``),
        the candidates per query, the ``index_dtype`` and the number of threads.
    recall : float
        Estimated recall@k: the mean, over `n_checked` rows drawn without replacement with
        `seed`, of the fraction of each row's exact k neighbours that the result holds
        (NaN when ``recall_sample=0``).
    recall_stderr : float
        Standard error of `recall` (with the finite-population correction; 0 when every row
        was checked, NaN for fewer than two rows). It is also 0 when no checked row missed a
        neighbour; the share of rows with misses is then below about ``3 / n_checked`` (95 %,
        the rule of three), which bounds the recall deficit.
    n_checked : int
        Rows checked against the exact kernel.
    seed : int
        Seed of the row sample.
    n_exact_rows : int
        Rows computed exactly: those for which the backend returned fewer than k usable
        neighbours, and (self-joins) the rows found lost after the refinement (see
        :func:`lost_rows`; ``params["lost_rows"]`` counts them).
    """

    backend: str
    params: dict = field(default_factory=dict)
    recall: float = math.nan
    recall_stderr: float = math.nan
    n_checked: int = 0
    seed: int = 0
    n_exact_rows: int = 0

    def to_dict(self) -> dict:
        """Plain-Python form (NaN becomes None)."""
        return plain(dict(self.__dict__))


def check_method(method, options) -> Tuple[str, Optional[dict]]:
    """The method name and its complete options (None for ``"exact"``), or a clear error."""
    if not isinstance(method, str) or method not in KNN_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of 'exact', 'approximate'")
    if method == "exact":
        if options:
            raise ValueError(
                f"method_options {sorted(options)} only apply to method='approximate'; the exact "
                "method takes none"
            )
        return method, None
    opts = dict(APPROX_DEFAULTS)
    if options is not None:
        if not isinstance(options, dict):
            raise TypeError(f"method_options must be a dict, got {type(options).__name__}")
        unknown = sorted(set(options) - set(APPROX_DEFAULTS))
        if unknown:
            raise ValueError(
                f"unknown method_options {unknown} for method='approximate'; expected some of "
                f"{sorted(APPROX_DEFAULTS)}"
            )
        opts.update(options)
    for name, low in (
        ("connectivity", 2),
        ("expansion_add", 1),
        ("refine", 0),
        ("recall_sample", 0),
    ):
        opts[name] = check_int(opts[name], name, low=low)
    for name in ("expansion_search", "candidates"):
        if opts[name] is not None:
            opts[name] = check_int(opts[name], name, low=1)
    if opts["index_dtype"] not in INDEX_DTYPES:
        raise ValueError(f"index_dtype must be one of {INDEX_DTYPES}, got {opts['index_dtype']!r}")
    seed = opts["seed"]
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    opts["seed"] = int(seed)
    return method, opts


def approx_search(
    X, k, metric, Q, exclude, *, dtype, prepare, options, n_threads, bar=None, index=None
):
    """Approximate kNN of `Q` (of `X` itself when None) among the rows of `X`.

    `X`, `Q`: checked arrays or memory maps, read in chunks; the exact re-rank reads them through
    :func:`load_block` with `dtype` and `prepare` (the exact path's rescaling). `index`: an
    :class:`HnswIndex` of `X` to search (e.g. kept by a fitted transformer); one is built when
    None or when it was built for another metric or other index options. Returns (indices,
    exact f64 keys, ApproxInfo).
    """
    require_backend()
    import usearch

    n = X.shape[0]
    self_join = Q is None
    src = X if self_join else Q
    m = src.shape[0]
    excl = exclude and self_join
    if index is None or not index.matches(X, metric, options):
        index = HnswIndex(X, metric, options, n_threads, bar)
    elif bar is not None:
        bar.update(len(range(0, n, _CHUNK_ROWS)))
    count, ef = search_sizes(k, n, excl, options)
    threads = _threads(n_threads)
    cosine = metric == "cosine"
    rows = _Rows(X, dtype, prepare)
    xnorms = _norms(X, dtype, prepare) if cosine else None
    idx = np.empty((m, k), dtype=np.int64)
    keys = np.empty((m, k))
    order = index.query_order(src, self_join)
    for s, e in blocks(m, _CHUNK_ROWS):
        q = order[s:e]
        cand, ok = index.candidates(src, q, count, ef, threads)
        ok &= (cand >= 0) & (cand < n)
        if excl:
            ok &= cand != q[:, None]
        cand = np.where(ok, cand, 0)
        Qb = _Rows(src, dtype, prepare)[q]
        qn = (xnorms[q] if self_join else row_norms(Qb)) if cosine else None
        ck = np.where(ok, _rerank(Qb, rows, cand, metric, qn, xnorms, threads), np.inf)
        cand = np.where(ok, cand, _NO_INDEX)
        idx[q], keys[q] = select(cand, ck, k)
        if bar is not None:
            bar.update(1)
    missing = np.flatnonzero(idx[:, -1] == _NO_INDEX)
    if missing.size:
        idx[missing], keys[missing] = exact_rows(
            X, src, missing, k, metric, self_join, exclude, dtype, prepare, n_threads
        )
    changes, lost = [], np.empty(0, dtype=np.int64)
    if self_join and options["refine"] and n > 1:
        A = _whole(X, dtype, prepare)
        refine = dict(
            metric=metric,
            rounds=options["refine"],
            reverse=k,
            exclude_self=exclude,
            order=order,
            n_threads=n_threads,
        )
        idx, keys, changes = _core.knn_refine(A, idx, keys, **refine)
        lost = lost_rows(idx, keys, metric)
        if lost.size:  # searched again exactly, then their new lists spread to their region
            idx[lost], keys[lost] = exact_rows(
                X, src, lost, k, metric, self_join, exclude, dtype, prepare, n_threads
            )
            fresh = np.zeros(idx.shape, dtype=bool)
            fresh[lost] = True
            idx, keys, more = _core.knn_refine(A, idx, keys, fresh=fresh, **refine)
            changes = list(changes) + list(more)
        release(X)
    params = {
        "connectivity": options["connectivity"],
        "expansion_add": options["expansion_add"],
        "expansion_search": ef,
        "candidates": count,
        "index_dtype": options["index_dtype"],
        "refine": options["refine"] if self_join else 0,
        "refine_changes": [int(c) for c in changes],
        "lost_rows": int(lost.size),
        "n_threads": n_threads,
    }
    recall, stderr, n_checked = estimate_recall(
        X, src, idx, k, metric, self_join, exclude, dtype, prepare, n_threads, options
    )
    info = ApproxInfo(
        backend=f"usearch {getattr(usearch, '__version__', '(unknown version)')}",
        params=params,
        recall=recall,
        recall_stderr=stderr,
        n_checked=n_checked,
        seed=options["seed"],
        n_exact_rows=int(missing.size + lost.size),
    )
    return idx, keys, info


#: A row whose k-th ranking value exceeds this multiple of the median k-th value of its found
#: neighbours is lost (4: twice the distance, for squared distances and 1 - cos).
LOST_RATIO = 4.0
#: Most rows searched again exactly, as a share of the rows (the most distant first).
LOST_SHARE = 0.05


def lost_rows(idx: np.ndarray, keys: np.ndarray, metric: str) -> np.ndarray:
    """Rows whose graph search ended in the wrong region: their k-th neighbour is more than
    twice as far as the k-th neighbours of the points they found (which, in the wrong region,
    sit among their own kind). Sorted; at most ``LOST_SHARE`` of the rows, the most distant
    first; none for the inner product (its values are not distances). A genuinely isolated
    point may be listed too: searching it exactly costs time, not accuracy.

    On 10^6 points in 1,000 clusters (ef 128, after the refinement) this listed 17,261 rows,
    all with recall 0 (of 17,502 such rows), and no row with recall above 0.
    """
    m = idx.shape[0]
    if metric == "inner_product" or m == 0:
        return np.empty(0, dtype=np.int64)
    kth = keys[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = kth / np.median(kth[idx], axis=1)
    lost = np.flatnonzero(ratio > LOST_RATIO)
    cap = max(1, int(LOST_SHARE * m))
    if lost.size > cap:
        lost = np.sort(lost[np.argsort(-ratio[lost], kind="stable")[:cap]])
    return lost


def search_sizes(k: int, n: int, exclude: bool, options) -> Tuple[int, int]:
    """(candidates per query, search beam width ef) for `k` neighbours among `n` points."""
    base = options["candidates"] or (2 * k if options["index_dtype"] == "int8" else k)
    count = min(n, max(base, k) + (1 if exclude else 0))
    ef = max(options["expansion_search"] or max(128, 2 * (k + 1)), count)
    return count, ef


def _rerank(Qb, rows, cand, metric, qn, xnorms, threads) -> np.ndarray:
    """:func:`exact_keys` of the candidates, `_RERANK_ROWS` query rows per call (its float64
    temporaries then stay in cache: 3-5x faster than large chunks), on `threads` threads."""
    m = cand.shape[0]
    out = np.empty(cand.shape)

    def part(s):
        e = min(m, s + _RERANK_ROWS)
        out[s:e] = exact_keys(
            Qb[s:e], rows, cand[s:e], metric, None if qn is None else qn[s:e], xnorms
        )

    starts = range(0, m, _RERANK_ROWS)
    if threads > 1 and m > _RERANK_ROWS:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(part, starts))
    else:
        for s in starts:
            part(s)
    return out


def _whole(X, dtype, prepare) -> np.ndarray:
    """All of `X` as one array of `dtype` through `prepare`: `X` itself (a memory map too) when
    that changes nothing, else a prepared copy in memory (rows outside the safe magnitudes).
    The refinement reads a memory map's rows at random; its pages stay in the page cache
    (clean, reclaimable) and are released from the process after."""
    if isinstance(X, np.memmap) and X.dtype == dtype:
        unchanged = True  # a pass over the blocks unless the preparation is the identity
        for s, e in blocks(X.shape[0], _CHUNK_ROWS) if prepare is not _same else ():
            b = np.asarray(X[s:e])
            unchanged = prepare(b) is b
            release(X)
            if not unchanged:
                break
        if unchanged:
            return X
    if not isinstance(X, np.memmap):
        return prepare(np.ascontiguousarray(X, dtype=dtype))
    out = np.empty(X.shape, dtype=dtype)
    for s, e in blocks(X.shape[0], _CHUNK_ROWS):
        out[s:e] = load_block(X, s, e, dtype, prepare)
    return out


def _norms(X, dtype, prepare) -> np.ndarray:
    return np.concatenate(
        [row_norms(load_block(X, s, e, dtype, prepare)) for s, e in blocks(X.shape[0], _CHUNK_ROWS)]
    )


def exact_rows(X, src, rows, k, metric, self_join, exclude, dtype, prepare, n_threads):
    """Exact (indices, keys) of the given rows of `src` (the queries) among the rows of `X`."""
    Q = _Rows(src, dtype, prepare)[np.asarray(rows)]
    drop = self_join and exclude
    kk = k + 1 if drop else k
    idx, keys = knn_blocked(
        X,
        kk,
        metric,
        Q,
        False,
        dtype=dtype,
        prepare=prepare,
        block_rows=_CHECK_BLOCK,
        n_threads=n_threads,
    )
    if not drop:
        return idx, keys
    keep = idx != np.asarray(rows)[:, None]
    keep[keep.all(axis=1), -1] = False  # self not among the k + 1: drop the farthest instead
    return idx[keep].reshape(-1, k), keys[keep].reshape(-1, k)


def estimate_recall(X, src, idx, k, metric, self_join, exclude, dtype, prepare, n_threads, options):
    """(recall, standard error, rows checked) of `idx` on a seeded sample of its rows."""
    m = idx.shape[0]
    s = min(options["recall_sample"], m)
    if s == 0:
        return math.nan, math.nan, 0
    rows = np.sort(np.random.default_rng(options["seed"]).choice(m, size=s, replace=False))
    truth, _ = exact_rows(X, src, rows, k, metric, self_join, exclude, dtype, prepare, n_threads)
    hits = (idx[rows][:, :, None] == truth[:, None, :]).any(axis=2).sum(axis=1) / k
    recall = float(hits.mean())
    if s == m:
        stderr = 0.0
    elif s > 1:
        stderr = float(hits.std(ddof=1) / math.sqrt(s) * math.sqrt(1 - s / m))
    else:
        stderr = math.nan
    return recall, stderr, s
