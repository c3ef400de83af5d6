"""The HNSW index of the approximate kNN (the optional ``usearch`` package): vectors stored in
int8 (or float32) coordinates, inserted and searched grouped by a k-means centroid.

It pickles (the graph is saved to bytes and restored). See :mod:`._approx` for the search that
re-ranks its candidates exactly.
"""

from __future__ import annotations

import math
import os

import numpy as np
import scipy.sparse as sp

from ._mapped import blocks, release

_INSTALL = "pip install 'latentgeo[ann]'"
_USEARCH_METRIC = {
    "euclidean": "l2sq",
    "sqeuclidean": "l2sq",
    "cosine": "cos",
    "inner_product": "ip",
}
#: Rows added to / searched in the index per call (bounds the copies of a memory-mapped input).
_CHUNK_ROWS = 65_536
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


def _threads(n_threads) -> int:
    return n_threads or os.cpu_count() or 1


class HnswIndex:
    """An HNSW graph (usearch) over the rows of `X`, stored in the coordinates of a
    :class:`_Codec` (int8 by default), searched by :func:`._approx.approx_search`.

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
