"""Data shared by the whitening tests."""

import numpy as np


def make_data(n=400, d=6, seed=0, offset=3.0, dtype=np.float64):
    """Correlated, offset Gaussian data with a well-separated spectrum."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = 1.6 ** np.arange(d)[::-1]
    X = rng.normal(size=(n, d)) * scales @ q.T + offset * rng.normal(size=d)
    return X.astype(dtype)
