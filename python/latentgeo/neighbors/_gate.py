"""The one graph gate: user graphs (scipy.sparse or dense) validated and converted to CSR, the
symmetrisation rules, source lists, and connected components.
"""

from __future__ import annotations

import numbers
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from .._validate import (
    check_choice,
)

_SYMMETRIZE = ("union", "mutual", "none")


def as_graph(graph, *, symmetrize: Optional[str] = None) -> sp.csr_matrix:
    """Validate a user's sparse graph and return it in the canonical form used by latentgeo.

    Parameters
    ----------
    graph : scipy.sparse matrix or array, shape (n, n)
        Stored entries are edges with their weights; explicit zeros are zero-weight edges.
        Repeated (i, j) entries (possible in COO or non-canonical CSR) are parallel edges and
        only the smallest weight is kept (they are *not* summed as ``tocsr()`` would). Dense
        arrays are refused: they cannot tell a zero-weight edge from a missing one.
    symmetrize : {"union", "mutual", "none"}, optional
        As in :func:`knn_graph` (a symmetrised edge takes the smaller of its two weights).
        ``None`` or ``"none"`` keeps the graph as it is (directed). Self-loops are kept.

    Returns
    -------
    scipy.sparse.csr_matrix
        (n, n) float64 weights with sorted indices and no duplicate entries, explicit zeros kept.

    Raises
    ------
    TypeError
        If `graph` is not a scipy.sparse matrix or does not hold real numbers.
    ValueError
        If it is not square or has a NaN, infinite or negative weight.
    """
    if not sp.issparse(graph):
        raise TypeError(
            f"graph must be a scipy.sparse matrix, got {type(graph).__name__}; a dense array "
            "cannot tell a zero-weight edge from a missing one (build e.g. a scipy.sparse "
            "csr_matrix from the edge lists)"
        )
    if graph.ndim != 2 or graph.shape[0] != graph.shape[1]:
        raise ValueError(f"graph must be square (n, n), got shape {graph.shape}")
    if graph.dtype.kind not in "biuf":
        raise TypeError(f"graph weights must be real numbers, got dtype {graph.dtype}")
    how = "none" if symmetrize is None else check_choice(symmetrize, "symmetrize", _SYMMETRIZE)
    n = int(graph.shape[0])
    coo = graph.tocoo()
    rows = np.asarray(coo.row, dtype=np.int64)
    cols = np.asarray(coo.col, dtype=np.int64)
    w = np.asarray(coo.data, dtype=np.float64)
    bad = ~np.isfinite(w)
    if bad.any():
        i = int(np.argmax(bad))
        kind = "NaN" if np.isnan(w[i]) else "infinite"
        raise ValueError(f"graph has a {kind} weight at ({rows[i]}, {cols[i]})")
    neg = w < 0
    if neg.any():
        i = int(np.argmax(neg))
        raise ValueError(
            f"graph has a negative weight {float(w[i])!r} at ({rows[i]}, {cols[i]}); edge "
            "weights must be non-negative"
        )
    key, w = _symmetrize(rows * n + cols, w, n, how)
    return _to_csr(key, w, n)


def connected_components(graph, *, directed: bool = False) -> Tuple[int, np.ndarray]:
    """Connected components of a graph, numbered deterministically.

    Parameters
    ----------
    graph : scipy.sparse matrix, shape (n, n)
        Any graph :func:`as_graph` accepts; every stored entry (explicit zeros included) is an
        edge.
    directed : bool
        ``False``: edges are followed in both directions (weakly connected components).
        ``True``: strongly connected components of the directed graph.

    Returns
    -------
    n_components : int
        Number of components.
    labels : ndarray of int64, shape (n,)
        Component of each node. Components are numbered 0, 1, ... in the order of their smallest
        node, so node 0 is in component 0 and the labels depend only on the partition.
    """
    g = as_graph(graph)
    n_comp, labels = csgraph.connected_components(
        g, directed=bool(directed), connection="strong", return_labels=True
    )
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size:
        _, first = np.unique(labels, return_index=True)  # first node of each raw label
        relabel = np.empty(first.size, dtype=np.int64)
        relabel[np.argsort(first, kind="stable")] = np.arange(first.size)
        labels = relabel[labels]
    return int(n_comp), labels


def _dedupe_min(key: np.ndarray, w: np.ndarray):
    """Sort edges by key (row * n + col) and keep the smallest weight of each repeated key."""
    order = np.lexsort((w, key))
    key, w = key[order], w[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return key[first], w[first]


def _symmetrize(key: np.ndarray, w: np.ndarray, n: int, how: str):
    """Edge keys (sorted, unique) and weights after symmetrisation, by index arithmetic only.

    Sparse ``maximum``/``minimum`` or ``G + G.T`` would drop or merge explicit zeros, so the
    union and mutual graphs are built from the (row, col) keys directly.
    """
    if how == "union":
        rev = (key % n) * n + key // n
        key, w = np.concatenate([key, rev]), np.concatenate([w, w])
    key, w = _dedupe_min(key, w)
    if how == "mutual" and key.size:
        rev = (key % n) * n + key // n
        pos = np.minimum(np.searchsorted(key, rev), key.size - 1)
        found = key[pos] == rev
        key, w = key[found], np.minimum(w[found], w[pos[found]])
    return key, w


def _to_csr(key: np.ndarray, w: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR matrix from sorted unique keys row * n + col; nothing is dropped."""
    idx_dtype = np.int32 if max(n, key.size) < 2**31 - 1 else np.int64
    rows = key // n if n else key
    cols = (key % n if n else key).astype(idx_dtype)
    indptr = np.zeros(n + 1, dtype=idx_dtype)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    g = sp.csr_matrix((np.asarray(w, dtype=np.float64), cols, indptr), shape=(n, n))
    g.has_sorted_indices = True
    return g


_INT32_MAX = np.iinfo(np.int32).max


def _as_csr(graph):
    """(n, indptr int64, indices int32/int64, weights float64) of a square graph, validated.

    Sparse input is converted as scipy's csgraph converts it (``tocsr()``, so duplicate entries
    of a COO matrix are summed while duplicates stored in a CSR matrix stay separate arcs).
    Dense input follows scipy's dense csgraph convention: 0 and +inf mean "no edge".
    """
    if sp.issparse(graph):
        if graph.dtype.kind not in "biuf":
            raise TypeError(f"the graph must hold real numbers, got dtype {graph.dtype}")
        shape = graph.shape
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"the graph must be a square (n, n) matrix, got shape {shape}")
        g = graph.tocsr()
        weights = np.asarray(g.data, dtype=np.float64)
        indptr, indices = g.indptr, g.indices
    else:
        if isinstance(graph, np.ma.MaskedArray):
            raise TypeError(
                "masked arrays are not supported; pass a scipy.sparse matrix or a dense array "
                "with 0 (or inf) for missing edges"
            )
        arr = np.asarray(graph)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"the graph must be a scipy.sparse matrix or a real dense array, got dtype "
                f"{arr.dtype}"
            )
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f"the graph must be a square (n, n) matrix, got shape {arr.shape}")
        arr = np.asarray(arr, dtype=np.float64)
        if np.isnan(arr).any():
            r, c = np.argwhere(np.isnan(arr))[0]
            raise ValueError(f"the graph has a NaN weight at ({r}, {c})")
        g = sp.csr_array(np.where(np.isposinf(arr), 0.0, arr))
        weights, indptr, indices = g.data, g.indptr, g.indices
        shape = arr.shape
    n = int(shape[0])
    indptr = np.asarray(indptr)
    bad = ~(weights >= 0) | ~np.isfinite(weights)
    if bad.any():
        p = int(np.argmax(bad))
        row = int(np.searchsorted(indptr, p, side="right") - 1)
        w = weights[p]
        what = "NaN" if np.isnan(w) else ("negative" if w < 0 else "infinite")
        raise ValueError(
            f"edge ({row}, {int(indices[p])}) has a {what} weight {w}; geodesic needs finite "
            "weights >= 0"
        )
    return n, indptr, indices, weights


def _symmetrise(n, indptr, indices, weights):
    """CSR arrays of the union of G and G^T: i and j are joined when either arc is stored, with
    the smallest stored weight (duplicates included); rows sorted by column, self-loops dropped
    (they never shorten a path). The input arrays are not modified."""
    g = sp.csr_matrix((weights, indices, indptr), shape=(n, n))
    both = sp.hstack([g, g.T.tocsr()], format="csr")  # row u: G[u, :] then G^T[u, :] + n
    cols = both.indices.copy()
    cols[cols >= n] -= n
    c = sp.csr_matrix((both.data.copy(), cols, both.indptr), shape=(n, n))
    c.has_sorted_indices = False
    c.sort_indices()
    rows = np.repeat(np.arange(n, dtype=c.indices.dtype), np.diff(c.indptr))
    cols, data = c.indices, c.data
    first = np.ones(cols.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    starts = np.flatnonzero(first)
    data = np.minimum.reduceat(data, starts) if starts.size else data[:0]
    rows, cols = rows[starts], cols[starts]
    off_diagonal = rows != cols
    rows, cols, data = rows[off_diagonal], cols[off_diagonal], data[off_diagonal]
    out_indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=out_indptr[1:])
    return out_indptr, cols, data


def _as_sources(sources, n):
    """(1-D int64 array of sources, whether a single int was given)."""
    if sources is None:
        return np.arange(n, dtype=np.int64), False
    if isinstance(sources, numbers.Integral) and not isinstance(sources, (bool, np.bool_)):
        arr = np.array([int(sources)], dtype=np.int64)
        scalar = True
    else:
        arr = np.asarray(sources)
        if arr.ndim != 1:
            raise ValueError(
                f"sources must be None, an int or a 1-D array of ints, got shape {arr.shape}"
            )
        if arr.size == 0:
            arr = arr.astype(np.int64)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"sources must be integers, got dtype {arr.dtype}")
        scalar = False
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        s = int(arr[np.argmax(bad)])
        raise ValueError(f"source {s} is out of range for a graph with {n} nodes")
    return np.ascontiguousarray(arr, dtype=np.int64), scalar


def _core_csr(n, indptr, indices, weights, directed):
    """(indptr int64, indices int32/int64, weights float64), contiguous, as the Rust core takes
    them; symmetrised (union, smaller weight) unless `directed`."""
    if not directed:
        indptr, indices, weights = _symmetrise(n, indptr, indices, weights)
    idx_dtype = np.int32 if max(n, indices.size) <= _INT32_MAX else np.int64
    indices = np.ascontiguousarray(indices, dtype=idx_dtype)
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    return indptr, indices, weights
