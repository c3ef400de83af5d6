"""Brute-force float64 references for distances and nearest neighbours."""

import numpy as np


def brute_values(X, Q, metric):
    """f64 (len(Q), len(X)) matrices of ranking keys (smaller is nearer) and reported values."""
    X = np.asarray(X, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    diff = Q[:, None, :] - X[None, :, :]
    sq = (diff * diff).sum(-1)
    dot = Q @ X.T
    if metric == "euclidean":
        return sq, np.sqrt(sq)
    if metric == "sqeuclidean":
        return sq, sq
    if metric == "cosine":
        nq = np.linalg.norm(Q, axis=1)[:, None]
        nx = np.linalg.norm(X, axis=1)[None, :]
        den = nq * nx
        cos = np.divide(dot, den, out=np.zeros_like(dot), where=den > 0)
        return 1.0 - cos, np.clip(1.0 - cos, 0.0, 2.0)
    return -dot, dot


def pairwise(X, metric):
    """f64 matrix of the distances between the rows of X (euclidean, sqeuclidean or cosine)."""
    return brute_values(X, X, metric)[1]


def knn_from_matrix(D, k, exclude_self=True):
    """(indices, values) of the k smallest entries of each row of D, ties to the lower index;
    with `exclude_self` the diagonal (a row's own index) is never chosen."""
    D = np.array(D, dtype=np.float64)
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, axis=1)
