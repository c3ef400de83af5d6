"""Approximate kNN (HNSW graph of the optional ``usearch`` package), re-ranked exactly, with a
recall estimate from a seeded sample of rows checked by the exact kernel.

Where the time goes, and what makes it fast (n = 10^5 x 384 float32, 2 cores; benches/README):
the graph stores int8 rows (a quarter of the memory traffic of float32, the backend's VNNI
kernels), 2k candidates per query make up for the rounding; points are inserted and searched
grouped by a k-means centroid (after a random tenth inserted first), so consecutive searches
reuse the cache; the exact re-rank works in cache-sized chunks on all threads.

Only the candidate *sets* come from the backend: every returned distance is recomputed in
float64 by :func:`._exact.exact_keys` (the exact path's own arithmetic) and each row is ordered
by (distance, index), so the result has the exact path's types, self rule and tie rule, and a
neighbour found by both paths has the same distance in both.
"""

from __future__ import annotations

import math
import numbers
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp

from .._json import plain
from .._validate import check_int
from ._exact import _NO_INDEX, exact_keys, knn_blocked, row_norms, select
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
    "recall_sample": 300,
    "seed": 0,
}

#: Values of the ``index_dtype`` option: how the HNSW index stores the vectors.
INDEX_DTYPES = ("int8", "float32")

_INSTALL = "pip install 'latentgeo[ann]'"
_USEARCH_METRIC = {
    "euclidean": "l2sq",
    "sqeuclidean": "l2sq",
    "cosine": "cos",
    "inner_product": "ip",
}
#: Rows added to / searched in the index per call (bounds the copies of a memory-mapped input).
_CHUNK_ROWS = 65_536
#: Data rows per block of the exact checks (one kernel call each).
_CHECK_BLOCK = 32_768
#: Query rows per call of the exact re-rank (keeps its float64 temporaries in cache).
_RERANK_ROWS = 64
#: Rows converted to index coordinates at a time (bounds the float64 temporary).
_ENCODE_ROWS = 4096
#: Rows sampled (seeded) to fit the index coordinates.
_CODEC_SAMPLE = 16_384
#: Quantile of the sampled magnitudes mapped to the int8 limit 127 (larger values are clipped).
_CLIP_QUANTILE = 1 - 1e-3
#: Most groups (centroids) that order the insertions and the queries.
_MAX_GROUPS = 512
#: Share of the points inserted first, in random order, before the others group by group.
_RANDOM_SHARE = 0.1
_USEARCH_DTYPE = {"int8": "i8", "float32": "f32"}
_NUMPY_DTYPE = {"int8": np.int8, "float32": np.float32}


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
        Rows for which the backend returned fewer than k usable neighbours and which were
        therefore computed exactly.
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
    for name, low in (("connectivity", 2), ("expansion_add", 1), ("recall_sample", 0)):
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


def require_backend():
    """The ``usearch.index`` module, or an ImportError that says how to install it."""
    try:
        from usearch import index
    except ImportError as exc:
        raise ImportError(
            "method='approximate' needs the optional HNSW backend usearch, which is not "
            f"installed: {_INSTALL}"
        ) from exc
    return index


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
    params = {
        "connectivity": options["connectivity"],
        "expansion_add": options["expansion_add"],
        "expansion_search": ef,
        "candidates": count,
        "index_dtype": options["index_dtype"],
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
        n_exact_rows=int(missing.size),
    )
    return idx, keys, info


def search_sizes(k: int, n: int, exclude: bool, options) -> Tuple[int, int]:
    """(candidates per query, search beam width ef) for `k` neighbours among `n` points."""
    base = options["candidates"] or (2 * k if options["index_dtype"] == "int8" else k)
    count = min(n, max(base, k) + (1 if exclude else 0))
    ef = max(options["expansion_search"] or max(128, 2 * (k + 1)), count)
    return count, ef


def _threads(n_threads) -> int:
    return n_threads or os.cpu_count() or 1


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


class HnswIndex:
    """An HNSW graph (usearch) over the rows of `X`, stored in the coordinates of a
    :class:`_Codec` (int8 by default), searched by :func:`approx_search`.

    It pickles (the graph is saved to bytes and restored, so a restored index answers the same);
    building it is the expensive part of an approximate search.
    """

    def __init__(self, X, metric, options, n_threads=None, bar=None):
        uindex = require_backend()
        n, d = X.shape
        self.metric = metric
        self.shape = (n, d)
        self.settings = _index_settings(options)
        self.codec = _Codec.fit(X, metric, options["index_dtype"], options["seed"])
        self.index = uindex.Index(
            ndim=d,
            metric=_USEARCH_METRIC[metric],
            dtype=_USEARCH_DTYPE[options["index_dtype"]],
            connectivity=options["connectivity"],
            expansion_add=options["expansion_add"],
        )
        threads = _threads(n_threads)
        V = self.codec.encode(X, np.arange(n))
        rng = np.random.default_rng(options["seed"])
        self.centroids = _kmeans(V, min(_MAX_GROUPS, math.isqrt(n)), rng)
        self.labels = _assign(V, self.centroids)
        # A random tenth first (the long-range links), then the rest group by group: searches
        # of nearby points in a row reuse the cache, and the local links come out better.
        first = rng.random(n) < _RANDOM_SHARE
        grouped = np.argsort(self.labels, kind="stable")
        insert = np.concatenate([np.flatnonzero(first), grouped[~first[grouped]]])
        for s, e in blocks(n, _CHUNK_ROWS):
            part = insert[s:e]
            self.index.add(part.astype(np.uint64), V[part], threads=threads)
            if bar is not None:
                bar.update(1)

    def query_order(self, Q, self_join: bool) -> np.ndarray:
        """The rows of `Q` (the indexed rows themselves when `self_join`) grouped by their
        nearest centroid: searching nearby queries one after another reuses the cache (about
        3x faster than searching them in input order)."""
        if self_join:
            labels = self.labels
        else:
            labels = np.concatenate(
                [
                    _assign(self.codec.encode(Q, np.arange(s, e)), self.centroids)
                    for s, e in blocks(Q.shape[0], _CHUNK_ROWS)
                ]
                or [np.empty(0, np.int32)]
            )
        return np.argsort(labels, kind="stable")

    def matches(self, X, metric, options) -> bool:
        """Whether this index serves a search of `X` with `metric` and `options`."""
        return (
            self.shape == tuple(X.shape)
            and self.metric == metric
            and self.settings == _index_settings(options)
        )

    def candidates(self, Q, rows, count, ef, threads):
        """(keys, valid) of the `count` nearest indexed rows of the rows `rows` of `Q`."""
        self.index.expansion_search = ef
        found = self.index.search(self.codec.encode(Q, rows), count, threads=threads)
        return _found(found, rows.size, count)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["index"] = bytes(self.index.save())
        return state

    def __setstate__(self, state):
        uindex = require_backend()
        state = dict(state)
        saved = state.pop("index")
        self.__dict__.update(state)
        self.index = uindex.Index.restore(bytearray(saved))


def _index_settings(options) -> tuple:
    return tuple(options[name] for name in ("connectivity", "expansion_add", "index_dtype", "seed"))


class _Codec:
    """The index coordinates of data rows. Euclidean metrics: rows centred on the mean of a
    seeded sample and scaled by one magnitude; cosine: each row scaled by its largest magnitude
    (cosine ignores the scale of a row); inner product: all rows scaled by one magnitude (its
    ranking ignores a common scale). ``int8`` then rounds to [-127, 127]: the magnitude is the
    ``_CLIP_QUANTILE`` quantile of the sample, so the rare larger values are clipped instead of
    coarsening the grid of all the others. ``float32`` keeps values in about [-1, 1]. Computed
    in float64, so any finite input is safe; the candidates do not depend on the exact path's
    power-of-two rescaling."""

    def __init__(self, metric, index_dtype, center, scale):
        self.metric, self.index_dtype, self.center, self.scale = metric, index_dtype, center, scale

    @classmethod
    def fit(cls, X, metric, index_dtype, seed):
        top = 127.0 if index_dtype == "int8" else 1.0
        n = X.shape[0]
        if metric == "cosine" or n == 0:
            return cls(metric, index_dtype, None, top)
        rows = np.arange(n)
        if n > _CODEC_SAMPLE:
            rows = np.sort(np.random.default_rng(seed).choice(n, _CODEC_SAMPLE, replace=False))
        S = _Rows(X, np.float64, _same)[rows]
        center = S.mean(axis=0) if metric in ("euclidean", "sqeuclidean") else None
        if center is not None:
            S -= center
        np.abs(S, out=S)
        mag = float(np.quantile(S, _CLIP_QUANTILE)) if index_dtype == "int8" else float(S.max())
        if not (math.isfinite(mag) and mag > 0):
            mag = float(S.max()) if math.isfinite(float(S.max())) and S.max() > 0 else 1.0
        return cls(metric, index_dtype, center, top / mag)

    def encode(self, A, rows) -> np.ndarray:
        """Rows `rows` (indices) of `A` (an array or memory map) in index coordinates."""
        out = np.empty((rows.size, A.shape[1]), dtype=_NUMPY_DTYPE[self.index_dtype])
        gather = _Rows(A, np.float64, _same)
        for a, b in blocks(rows.size, _ENCODE_ROWS):
            B = gather[rows[a:b]]
            if self.center is not None:
                B -= self.center
            if self.center is None and self.metric == "cosine":
                top = np.abs(B).max(axis=1, keepdims=True) if B.shape[1] else np.ones((b - a, 1))
                top[top == 0] = 1.0
                B *= self.scale / top
            else:
                B *= self.scale
            if self.index_dtype == "int8":
                np.rint(B, out=B)
                np.clip(B, -127, 127, out=B)
            out[a:b] = B
        return out


def _same(A):
    return A


def _kmeans(V, c: int, rng, iterations: int = 4) -> np.ndarray:
    """`c` centroids (float32) of a seeded sample of the rows of `V`, by a few Lloyd steps."""
    n = V.shape[0]
    c = max(1, min(c, n))
    size = min(n, max(32 * c, 4096))
    S = V[np.sort(rng.choice(n, size, replace=False))].astype(np.float32)
    C = S[rng.choice(size, c, replace=False)].copy()
    for _ in range(iterations):
        lab = _assign(S, C)
        counts = np.bincount(lab, minlength=c)
        onehot = sp.csr_matrix((np.ones(size, np.float32), (lab, np.arange(size))), (c, size))
        sums = onehot @ S
        full = counts > 0
        C[full] = sums[full] / counts[full, None]
    return C


def _assign(V, C) -> np.ndarray:
    """Index of the nearest centroid of each row of `V`."""
    cc = np.einsum("ij,ij->i", C, C)
    out = np.empty(V.shape[0], dtype=np.int32)
    for s, e in blocks(V.shape[0], _ENCODE_ROWS):
        out[s:e] = np.argmin(cc - 2.0 * (V[s:e].astype(np.float32) @ C.T), axis=1)
    return out


def _found(matches, m: int, count: int):
    """(keys, valid) of usearch search results as (m, count) arrays; a search of one row returns
    ``Matches`` (only the keys found), of several ``BatchMatches`` (padded, with ``counts``)."""
    keys = np.asarray(matches.keys).astype(np.int64).reshape(m, -1)[:, :count]
    counts = getattr(matches, "counts", None)
    counts = np.full(m, keys.shape[1]) if counts is None else np.asarray(counts).reshape(m)
    cand = np.zeros((m, count), dtype=np.int64)
    cand[:, : keys.shape[1]] = keys
    ok = np.arange(count)[None, :] < np.minimum(counts, keys.shape[1])[:, None]
    return cand, ok


class _Rows:
    """Row gathering from `A` (possibly a memory map) converted and prepared like the blocks."""

    def __init__(self, A, dtype, prepare):
        self.A, self.dtype, self.prepare = A, dtype, prepare

    def __getitem__(self, rows):
        order = np.argsort(rows, kind="stable")
        out = np.empty((rows.size, self.A.shape[1]), dtype=self.dtype)
        out[order] = self.prepare(np.asarray(self.A[rows[order]], dtype=self.dtype))
        release(self.A)
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
