"""Deterministic built-in examples (generated, nothing is downloaded)."""

from __future__ import annotations

import numpy as np

from ._validate import check_choice, check_int

__all__ = ["make_example", "EXAMPLE_KINDS"]

EXAMPLE_KINDS = ("embeddings", "softmax")


def make_example(n: int = 2000, d: int = 64, seed: int = 0, kind: str = "embeddings") -> np.ndarray:
    """A small synthetic matrix that behaves like a learned representation.

    Parameters
    ----------
    n : int
        Rows (points or classes).
    d : int
        Dimensions.
    seed : int
        Seed; the same arguments always give the same array.
    kind : {"embeddings", "softmax"}
        ``"embeddings"``: a mixture of 8 anisotropic Gaussian clusters with Zipf-like sizes
        (weights proportional to 1/rank), each with its own random rotation, overall scale and a
        slowly decaying spectrum (standard deviations ``i ** -0.35``, i = 1..d), all shifted by a
        common offset (the shared "mean direction" of real embeddings). With the defaults the
        10-occurrence is clearly skewed (hubs and antihubs are visible).

        ``"softmax"``: a (V = n, d) output-layer weight matrix: a common offset plus anisotropic
        Gaussian rows whose norms vary log-normally. The last ``max(1, n // 100)`` rows mimic
        under-trained tokens: each is a strictly positive convex combination of all the other
        rows, so it lies inside their convex hull and, without a bias, is unargmaxable.

    Returns
    -------
    ndarray of float32, shape (n, d)

    Examples
    --------
    >>> from latentgeo.datasets import make_example
    >>> X = make_example()
    >>> X.shape, X.dtype.name
    ((2000, 64), 'float32')
    """
    kind = check_choice(kind, "kind", EXAMPLE_KINDS)
    d = check_int(d, "d", low=1)
    rng = np.random.default_rng(check_int(seed, "seed", low=0))
    if kind == "embeddings":
        return _embeddings(check_int(n, "n", low=1), d, rng)
    return _softmax(check_int(n, "n", low=2), d, rng)


def _rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def _embeddings(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    n_clusters = 8
    weights = 1.0 / np.arange(1, n_clusters + 1)
    labels = rng.choice(n_clusters, size=n, p=weights / weights.sum())
    spectrum = np.arange(1, d + 1) ** -0.35
    offset = rng.standard_normal(d) * 2.0
    X = np.empty((n, d))
    for c in range(n_clusters):
        rows = labels == c
        center = rng.standard_normal(d)
        scale = rng.uniform(0.5, 1.5)
        noise = rng.standard_normal((int(rows.sum()), d)) * (scale * spectrum)
        X[rows] = offset + center + noise @ _rotation(d, rng).T
    return X.astype(np.float32)


def _softmax(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    n_under = max(1, n // 100)
    n_trained = n - n_under
    spectrum = np.arange(1, d + 1) ** -0.5
    offset = rng.standard_normal(d) * 0.5
    norms = np.exp(0.3 * rng.standard_normal((n_trained, 1)))
    W = offset + norms * (rng.standard_normal((n_trained, d)) * spectrum) @ _rotation(d, rng).T
    mix = rng.dirichlet(np.ones(n_trained), size=n_under)
    return np.concatenate([W, mix @ W]).astype(np.float32)
