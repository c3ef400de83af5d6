"""The one graph gate: user graphs (scipy.sparse or dense) validated and converted to CSR, the
symmetrisation rules, source lists, and connected components.

Two entry points share the same checks (:func:`_check_shape_dtype`, :func:`_check_weights`):
:func:`as_graph`, the canonical form of the kNN-graph tools (sparse only, parallel edges keep
their smallest weight), and :func:`_as_csr`, scipy csgraph's conventions for Dijkstra (dense
input with 0/inf for "no edge", COO duplicates summed by ``tocsr()``).
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


def _check_shape_dtype(shape, dtype) -> None:
    """A square (n, n) graph of real weights."""
    if dtype.kind not in "biuf":
        raise TypeError(f"graph weights must be real numbers, got dtype {dtype}")
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"graph must be a square (n, n) matrix, got shape {shape}")


def _check_structure(graph) -> None:
    """Raise ValueError if a sparse matrix's stored structure is inconsistent: scipy's
    constructors accept out-of-range indices and index pointers that run backwards, which would
    otherwise give a wrong graph (or worse) further down."""
    fmt = graph.format
    if fmt in ("csr", "csc"):
        major, minor = graph.shape if fmt == "csr" else graph.shape[::-1]
        line, other = ("row", "column") if fmt == "csr" else ("column", "row")
        indptr = np.asarray(graph.indptr)
        indices = np.asarray(graph.indices)
        ok = (
            indptr.shape == (major + 1,)
            and indptr[0] == 0
            and not (np.diff(indptr) < 0).any()
            and indptr[-1] <= indices.size
            and np.asarray(graph.data).size >= indptr[-1]
        )
        if not ok:
            raise ValueError(
                f"graph is a malformed {fmt.upper()} matrix: its index pointer must start at 0, "
                f"never decrease and end within its {indices.size} stored entries"
            )
        idx = indices[: int(indptr[-1])]
        bad = (idx < 0) | (idx >= minor)
        if bad.any():
            p = int(np.argmax(bad))
            at = int(np.searchsorted(indptr, p, side="right") - 1)
            raise ValueError(
                f"graph has {other} index {int(idx[p])} in {line} {at}, out of range for a "
                f"({graph.shape[0]}, {graph.shape[1]}) matrix"
            )
    elif fmt == "coo":
        for name, ix, size in (
            ("row", graph.row, graph.shape[0]),
            ("column", graph.col, graph.shape[1]),
        ):
            ix = np.asarray(ix)
            bad = (ix < 0) | (ix >= size)
            if bad.any():
                raise ValueError(
                    f"graph has {name} index {int(ix[np.argmax(bad)])}, out of range for a "
                    f"({graph.shape[0]}, {graph.shape[1]}) matrix"
                )


def _check_weights(w: np.ndarray, row_col) -> None:
    """Raise ValueError naming the first NaN, infinite or negative weight of `w`; ``row_col(i)``
    gives the (row, column) of entry i."""
    bad = ~(w >= 0) | np.isinf(w)
    if bad.any():
        i = int(np.argmax(bad))
        v = float(w[i])
        r, c = row_col(i)
        kind = "NaN" if np.isnan(v) else ("negative" if v < 0 else "infinite")
        value = "" if kind == "NaN" else f" {v!r}"
        raise ValueError(
            f"graph has a {kind} weight{value} at ({r}, {c}); edge weights must be finite and "
            "non-negative"
        )


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
    _check_shape_dtype(graph.shape, graph.dtype)
    _check_structure(graph)
    how = "none" if symmetrize is None else check_choice(symmetrize, "symmetrize", _SYMMETRIZE)
    n = int(graph.shape[0])
    coo = graph.tocoo()
    rows = np.asarray(coo.row, dtype=np.int64)
    cols = np.asarray(coo.col, dtype=np.int64)
    w = np.asarray(coo.data, dtype=np.float64)
    _check_weights(w, lambda i: (rows[i], cols[i]))
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
        _check_shape_dtype(graph.shape, graph.dtype)
        _check_structure(graph)
        shape = graph.shape
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
        _check_shape_dtype(arr.shape, arr.dtype)
        arr = np.asarray(arr, dtype=np.float64)
        g = sp.csr_array(np.where(np.isposinf(arr), 0.0, arr))
        weights, indptr, indices = g.data, g.indptr, g.indices
        shape = arr.shape
    n = int(shape[0])
    indptr = np.asarray(indptr)
    _check_weights(
        weights, lambda p: (int(np.searchsorted(indptr, p, side="right") - 1), int(indices[p]))
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
