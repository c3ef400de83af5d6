"""Exact streaming statistics and the eigen-decomposition behind :class:`Whitening`."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._validate import (
    check_int,
    check_real,
    magnitude_exponent,
)

# Elements per block when transforming (4 MB in float32: the centred block stays in cache for
# the GEMM that reads it).
_BLOCK_ELEMENTS = 1 << 20

# Elements per float64 block when accumulating statistics (16 MB: the shifted block is written
# and read back by the SYRK while it is still in the last-level cache).
_STATS_ELEMENTS = 1 << 21


# Sigma_beta counts as zero when its largest eigenvalue is at most this times the mean squared
# norm of the rows (a relative spread of 1e-12, below what float64 round-off can resolve).
_ZERO_COVARIANCE = 1e-24


def _check_unit(value, name: str) -> float:
    """A real number in [0, 1]."""
    return check_real(value, name, low=0, high=1)


def _check_eps(value) -> float:
    return check_real(value, "eps", low=0, low_open=True, high=1, high_open=True)


def _check_n_components(value, n_features: Optional[int]) -> Optional[int]:
    """None or an integer in [1, n_features] (upper bound only checked when known)."""
    if value is None:
        return None if n_features is None else n_features
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"n_components must be None or an integer, got {value!r}")
    value = check_int(value, "n_components", low=1)
    if n_features is not None and value > n_features:
        raise ValueError(
            f"n_components={value} is larger than the number of features d={n_features}; "
            "whitening can keep at most d columns"
        )
    return value


def _block_stats(X: np.ndarray):
    """(n, mean, M2) of the rows of X in float64, block by block (exact merging).

    Each block is widened to float64 into one reused buffer (a plain copy, then in-place
    operations: faster than mixed-dtype ufuncs), centred at its own mean, and its scatter is a
    float64 SYRK; the blocks are merged with the Chan-Golub-LeVeque formulas, so data whose mean
    drifts from block to block loses no accuracy.
    """
    n, d = X.shape
    rows = max(1, _STATS_ELEMENTS // d)
    buf = np.empty((min(rows, n), d))
    n_total = 0
    mean = np.zeros(d)
    m2 = np.zeros((d, d))
    for start in range(0, n, rows):
        block = X[start : start + rows]
        n_b = block.shape[0]
        c = buf[:n_b]
        c[...] = block
        mean_b = c.mean(axis=0)
        c -= mean_b
        m2 += c.T @ c  # numpy calls SYRK for a matrix times its own transpose
        if n_total:  # the merge, in place
            delta = mean_b - mean
            m2 += np.outer(delta, delta * (n_total * n_b / (n_total + n_b)))
            mean += delta * (n_b / (n_total + n_b))
        else:
            mean = mean_b
        n_total += n_b
    return n_total, mean, m2


def _merge(n_a: int, mean_a, m2_a, n_b: int, mean_b, m2_b):
    """Chan-Golub-LeVeque merge of two (n, mean, M2) states."""
    if n_a == 0:
        return n_b, mean_b, m2_b
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + np.outer(delta, delta) * (n_a * n_b / n)
    return n, mean, m2


def _symmetrize(m: np.ndarray) -> np.ndarray:
    return 0.5 * (m + m.T)


@dataclass(frozen=True)
class _Decomposition:
    eigenvalues: np.ndarray  # (d,) raw, descending
    vectors: np.ndarray  # (d, d) columns, signs fixed
    regularized: np.ndarray  # (d,) eigenvalues after the floor
    rank: int  # eigenvalues above the floor


def _decompose(mean: np.ndarray, cov: np.ndarray, beta: float, eps: float) -> _Decomposition:
    """Eigen-decomposition of Sigma_beta = cov + (1 - beta)^2 mu mu^T (descending, signs fixed)."""
    sigma = cov + (1.0 - beta) ** 2 * np.outer(mean, mean)
    w, v = np.linalg.eigh(_symmetrize(sigma))
    w = w[::-1].copy()
    v = v[:, ::-1].copy()
    cols = np.arange(v.shape[1])
    pivot = np.argmax(np.abs(v), axis=0)
    signs = np.where(v[pivot, cols] < 0, -1.0, 1.0)
    v *= signs
    top = float(w[0])
    # Scale of the data about the origin: a covariance this far below it is round-off.
    second_moment = float(np.trace(cov) + mean @ mean)
    if top > _ZERO_COVARIANCE * second_moment:
        floor = eps * top
        rank = int(np.count_nonzero(w > floor))
        reg = np.maximum(w, floor)
    else:  # a (numerically) zero matrix: no scale information, keep a pure rotation
        rank = 0
        reg = np.ones_like(w)
    return _Decomposition(eigenvalues=w, vectors=v, regularized=reg, rank=rank)


def _scales(dec: _Decomposition, gamma: float, k: int) -> np.ndarray:
    return dec.regularized[:k] ** (-0.5 * gamma)


def _work_dtype(dt: np.dtype, *arrays: np.ndarray) -> np.dtype:
    """float32 input is transformed in float32 unless a coefficient is far outside its range
    (the statistics of very large or very small data): then in float64, rounded at the end."""
    if dt != np.float32:
        return dt
    m = magnitude_exponent(*arrays)
    return dt if abs(m) <= 100 else np.dtype(np.float64)


def _fit_dtype(out: np.ndarray, dt: np.dtype) -> np.ndarray:
    """`out` in `dt`; ValueError when finite values do not fit it."""
    if out.dtype == dt:
        return out
    with np.errstate(over="ignore"):
        narrow = out.astype(dt)
    if np.isinf(narrow).any() and np.isfinite(out).all():
        raise ValueError(
            f"the output does not fit in {dt} (largest magnitude {np.abs(out).max():.3g}); "
            "pass float64 data"
        )
    return narrow
