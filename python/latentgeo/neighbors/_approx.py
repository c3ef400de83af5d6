"""Approximate kNN (HNSW graph of the optional ``usearch`` package), re-ranked exactly, with a
recall estimate from a seeded sample of rows checked by the exact kernel.

Only the candidate *sets* come from the backend: every returned distance is recomputed in
float64 by :func:`._exact.exact_keys` (the exact path's own arithmetic) and each row is ordered
by (distance, index), so the result has the exact path's types, self rule and tie rule, and a
neighbour found by both paths has the same distance in both.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

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
    "recall_sample": 300,
    "seed": 0,
}

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


@dataclass(frozen=True)
class ApproxInfo:
    """How an approximate kNN was computed, and how good it is.

    Attributes
    ----------
    backend : str
        The library and its version, e.g. ``"usearch 2.26.6"``.
    params : dict
        The HNSW parameters used (``connectivity``, ``expansion_add``, ``expansion_search``) and
        the number of threads.
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
    if opts["expansion_search"] is not None:
        opts["expansion_search"] = check_int(opts["expansion_search"], "expansion_search", low=1)
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


def approx_search(X, k, metric, Q, exclude, *, dtype, prepare, options, n_threads, bar=None):
    """Approximate kNN of `Q` (of `X` itself when None) among the rows of `X`.

    `X`, `Q`: checked arrays or memory maps, read in chunks through :func:`load_block` with
    `dtype` and `prepare` (the exact path's rescaling). Returns (indices, exact f64 keys,
    ApproxInfo).
    """
    uindex = require_backend()
    import usearch

    n, d = X.shape
    self_join = Q is None
    src = X if self_join else Q
    m = src.shape[0]
    excl = exclude and self_join
    count = min(n, k + 1 if excl else k)
    ef = options["expansion_search"] or max(64, 2 * count)
    threads = n_threads or 0
    index = uindex.Index(
        ndim=d,
        metric=_USEARCH_METRIC[metric],
        dtype="f32" if dtype == np.float32 else "f64",
        connectivity=options["connectivity"],
        expansion_add=options["expansion_add"],
        expansion_search=ef,
    )
    for s, e in blocks(n, _CHUNK_ROWS):
        index.add(
            np.arange(s, e, dtype=np.uint64), load_block(X, s, e, dtype, prepare), threads=threads
        )
        if bar is not None:
            bar.update(1)
    cosine = metric == "cosine"
    xnorms = _norms(X, dtype, prepare) if cosine else None
    idx = np.empty((m, k), dtype=np.int64)
    keys = np.empty((m, k))
    for s, e in blocks(m, _CHUNK_ROWS):
        Qb = load_block(src, s, e, dtype, prepare)
        cand, ok = _found(index.search(Qb, count, threads=threads), e - s, count)
        ok &= (cand >= 0) & (cand < n)
        if excl:
            ok &= cand != np.arange(s, e)[:, None]
        cand = np.where(ok, cand, 0)
        qn = (xnorms[s:e] if self_join else row_norms(Qb)) if cosine else None
        ck = np.where(
            ok, exact_keys(Qb, _Rows(X, dtype, prepare), cand, metric, qn, xnorms), np.inf
        )
        cand = np.where(ok, cand, _NO_INDEX)
        idx[s:e], keys[s:e] = select(cand, ck, k)
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
