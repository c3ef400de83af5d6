"""Accuracy of Whitening against a float64 numpy reference on ill-conditioned, offset data.

Error measure (as in benches/bench_whitening.py): ``max |Z - Z_ref| / max_j rms(Z_ref[:, j])``,
the largest deviation in units of the output's scale (1 for whitened columns), after matching
column signs. Z_ref is the direct formula in float64 on the same numbers (float32 data widened).
"""

import numpy as np
import pytest

from latentgeo import Whitening


def ill_conditioned(n=4000, d=48, offset=100.0, seed=3):
    """Random rotation of a spectrum 1 ... 0.1 (8 leading directions) then 1e-3 ... 1e-10: a
    covariance of condition number 1e10, with a mean 100x the largest spread."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    lam = np.concatenate([np.geomspace(1.0, 0.1, 8), np.geomspace(1e-3, 1e-10, d - 8)])
    return rng.normal(size=(n, d)) * np.sqrt(lam) @ q.T + offset * rng.normal(size=d)


def reference(X, beta, gamma, k):
    """(x - beta mu) U Lambda^(-gamma/2) in float64, Sigma_beta with 1/N."""
    X = np.asarray(X, dtype=np.float64)
    Y = X - beta * X.mean(axis=0)
    w, U = np.linalg.eigh(Y.T @ Y / len(X))
    w, U = w[::-1], U[:, ::-1]
    return Y @ U[:, :k] * w[:k] ** (-gamma / 2)


def relative_error(Z, ref):
    Z = Z.astype(np.float64)
    signs = np.sign(np.einsum("ij,ij->j", Z, ref))
    signs[signs == 0] = 1
    rms = np.sqrt((ref * ref).mean(axis=0)).max()
    return float(np.abs(Z * signs - ref).max() / rms)


@pytest.mark.parametrize("beta, gamma", [(1, 1), (0, 0), (0.5, 0.5), (1, 0)])
@pytest.mark.parametrize("dtype, bound", [(np.float32, 1e-5), (np.float64, 1e-10)])
def test_error_against_float64_reference(dtype, bound, beta, gamma):
    X = ill_conditioned().astype(dtype)
    k = 8
    ref = reference(X, beta, gamma, k)
    w = Whitening(beta=beta, gamma=gamma, n_components=k)
    for Z in (w.fit_transform(X), w.fit(X).transform(X)):
        assert Z.dtype == dtype
        assert relative_error(Z, ref) <= bound


@pytest.mark.parametrize("dtype, bound", [(np.float32, 1e-5), (np.float64, 1e-10)])
def test_streaming_error_against_float64_reference(dtype, bound):
    X = ill_conditioned(offset=1000.0, seed=4).astype(dtype)
    w = Whitening(n_components=8)
    for chunk in np.array_split(X, 7):
        w.partial_fit(chunk)
    assert relative_error(w.transform(X), reference(X, 1, 1, 8)) <= bound


def test_covariance_over_many_blocks_matches_numpy():
    """More rows than one accumulation block (2**21 elements), float32 with a mean 1e4 times
    the spread that drifts along the rows: the blockwise float64 statistics equal np.cov."""
    rng = np.random.default_rng(5)
    d = 16
    n = 3 * (1 << 21) // d + 17
    X = rng.normal(size=(n, d)) * np.linspace(1, 0.2, d) + 1e4
    X += np.linspace(0, 3, n)[:, None]
    X = X.astype(np.float32)
    w = Whitening().fit(X)
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(w.mean_, X64.mean(axis=0), rtol=1e-15)
    cov = np.cov(X64.T, bias=True)
    np.testing.assert_allclose(w.covariance_, cov, rtol=0, atol=1e-12 * np.abs(cov).max())


def test_transform_is_deterministic():
    X = ill_conditioned().astype(np.float32)
    w = Whitening(n_components=8).fit(X)
    a, b = w.transform(X), w.transform(X.copy())
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(w.fit_transform(X), a)
