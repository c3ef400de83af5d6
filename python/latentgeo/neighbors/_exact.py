"""Exact distances of chosen pairs, bit for bit as the Rust kernel computes them, and exact kNN
that reads the data block by block (memory-mapped input, recall checks).

The Rust kernel ranks by an f64 value computed from the original rows with eight independent
accumulators (``sum_pairs`` in ``rust/neighbors/prepare.rs``) and orders by (value, index).
:func:`exact_keys` repeats that arithmetic in numpy, in the same order, for any (row, candidate)
pairs, so that re-ranked candidates of an approximate search are ordered and reported exactly as
the kernel would; block results are merged on the kernel's own values (``keys=True``).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .. import _core
from ._mapped import blocks, load_block

#: Query rows per chunk when gathering candidate rows (bounds the (rows, k, d) float64 temporary).
_GATHER_ROWS = 1024

#: Index value of an empty candidate slot (sorts after every real index).
_NO_INDEX = np.iinfo(np.int64).max


def row_norms(A: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row, summed in f64 in column order (the kernel's ``norm``)."""
    acc = np.zeros(A.shape[0])
    for j in range(A.shape[1]):
        v = A[:, j].astype(np.float64)
        acc += v * v
    return np.sqrt(acc)


def _sum8(t: np.ndarray) -> np.ndarray:
    """Sum over the last axis as ``sum_pairs`` does: eight lane accumulators over whole chunks of
    eight, combined pairwise, plus the remainder summed in order."""
    d = t.shape[-1]
    c = d // 8
    acc = np.zeros(t.shape[:-1] + (8,))
    main = t[..., : 8 * c].reshape(t.shape[:-1] + (c, 8))
    for i in range(c):
        acc += main[..., i, :]
    tail = np.zeros(t.shape[:-1])
    for j in range(8 * c, d):
        tail = tail + t[..., j]
    a = [acc[..., i] for i in range(8)]
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + tail


def exact_keys(Q, X, idx, metric, qnorms=None, xnorms=None) -> np.ndarray:
    """The kernel's f64 ranking value of query row i against data row ``idx[i, j]``.

    Euclidean metrics: squared distance; cosine: ``1 - cos`` (0 similarity for a zero row);
    inner product: minus the dot product. `qnorms` / `xnorms` (from :func:`row_norms`) are needed
    for cosine only; `X` may be a memory map (only the rows named in `idx` are read).
    """
    m, kk = idx.shape
    out = np.empty((m, kk))
    for s in range(0, m, _GATHER_ROWS):
        e = min(m, s + _GATHER_ROWS)
        q = np.asarray(Q[s:e], dtype=np.float64)[:, None, :]
        flat = idx[s:e].ravel()
        x = np.asarray(X[flat], dtype=np.float64).reshape(e - s, kk, -1)
        if metric in ("euclidean", "sqeuclidean"):
            t = q - x
            t *= t
            out[s:e] = _sum8(t)
            continue
        dot = _sum8(q * x)
        if metric == "inner_product":
            out[s:e] = -dot
        else:
            den = qnorms[s:e, None] * xnorms[flat].reshape(e - s, kk)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[s:e] = 1.0 - np.where(den > 0, dot / den, 0.0)
    return out


def report(keys: np.ndarray, metric: str, dtype) -> np.ndarray:
    """Reported distances (similarities for inner_product) of exact ranking values, in `dtype`."""
    if metric == "euclidean":
        out = np.sqrt(np.maximum(keys, 0.0))
    elif metric == "sqeuclidean":
        out = np.maximum(keys, 0.0)
    elif metric == "cosine":
        out = np.clip(keys, 0.0, 2.0)
    else:
        out = -keys
    return out.astype(dtype)


def select(idx: np.ndarray, keys: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per row, the `k` candidates smallest under (key, index); candidates must be distinct."""
    order = np.lexsort((idx, keys), axis=-1)[:, :k]
    return np.take_along_axis(idx, order, 1), np.take_along_axis(keys, order, 1)


def knn_blocked(
    X,
    k: int,
    metric: str,
    Q=None,
    exclude: bool = True,
    *,
    dtype,
    prepare,
    block_rows: int,
    n_threads: Optional[int] = None,
    bar=None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Exact kNN reading `X` (and `Q`) `block_rows` rows at a time: (indices, f64 keys).

    Each pair of a query block and a data block is one kernel call returning the exact f64
    ranking values (``keys=True``), and the candidates are merged under (key, index), so the
    result equals one kernel call over all the data. A self-join calls the kernel once per
    unordered pair of blocks (``_core.knn_pair`` ranks its tiles both ways, as the in-memory
    self-join does) and searches each diagonal block in itself. Peak memory: the output plus a
    few blocks.
    """
    self_join = Q is None
    src = X if self_join else Q
    m, n = src.shape[0], X.shape[0]
    best_i = np.full((m, k), _NO_INDEX, dtype=np.int64)
    best_k = np.full((m, k), np.inf)

    def merge(q0, q1, idx, keys):
        cand_i = np.concatenate([best_i[q0:q1], idx], axis=1)
        cand_k = np.concatenate([best_k[q0:q1], keys], axis=1)
        best_i[q0:q1], best_k[q0:q1] = select(cand_i, cand_k, k)

    qblocks = list(blocks(m, block_rows))
    for c0, c1 in blocks(n, block_rows):
        D = load_block(X, c0, c1, dtype, prepare)
        for q0, q1 in qblocks:
            if self_join and q0 < c0:  # that pair was ranked both ways already
                continue
            diag = self_join and q0 == c0
            Qb = D if diag else load_block(src, q0, q1, dtype, prepare)
            if self_join and not diag:
                ia, ka, ib, kb = _core.knn_pair(
                    Qb, D, k_a=min(k, c1 - c0), k_b=min(k, q1 - q0), metric=metric,
                    n_threads=n_threads,
                )  # fmt: skip
                merge(q0, q1, ia + c0, ka)
                merge(c0, c1, ib + q0, kb)
            else:
                kk = min(k, (c1 - c0) - (1 if diag and exclude else 0))
                if kk > 0:
                    idx, keys = _core.knn(  # keys: the exact f64 ranking values, mergeable
                        D,
                        k=kk,
                        metric=metric,
                        query=None if diag else Qb,
                        self_offset=0 if diag and exclude else None,
                        n_threads=n_threads,
                        keys=True,
                    )
                    merge(q0, q1, idx + c0, keys)
            if bar is not None:
                bar.update(1)
    return best_i, best_k
