"""Numerical checks: central finite differences."""

import numpy as np


def central_diff(f, x, h=1e-6):
    """Central finite differences of the scalar function f at x (float64)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g


def central_diff_rows(f, x, h=1e-5):
    """Central differences of a per-point scalar function f: (B, d) -> (B,), at every row of x."""
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        out[:, j] = (f(x + e) - f(x - e)) / (2 * h)
    return out
