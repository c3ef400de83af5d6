"""Known answer: geodesics on a densely sampled Swiss roll against the unrolled arc length.

The circle (k = 2), the 4-neighbour grid and the line are covered in tests/test_geodesic.py.
"""

import numpy as np
import pytest

import latentgeo

T0, T1 = 1.5 * np.pi, 4.5 * np.pi  # scikit-learn's make_swiss_roll range


def arc(t):
    """Arc length of the spiral (t cos t, t sin t) from 0: [t sqrt(1 + t^2) + asinh t] / 2."""
    return 0.5 * (t * np.sqrt(1 + t * t) + np.arcsinh(t))


def arc_inverse(s):
    """t with arc(t) = s on [T0, T1], by bisection (arc is increasing)."""
    lo, hi = np.full_like(s, T0), np.full_like(s, T1)
    for _ in range(80):
        mid = (lo + hi) / 2
        below = arc(mid) < s
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


@pytest.fixture(scope="module")
def roll():
    """3,000 points uniform in the unrolled (arc length, height) rectangle; deterministic."""
    rng = np.random.default_rng(0)
    s = rng.uniform(arc(T0), arc(T1), 3000)
    h = rng.uniform(0.0, 10.0, 3000)
    t = arc_inverse(s)
    X = np.c_[t * np.cos(t), h, t * np.sin(t)]
    return X, s, h


def relative_errors(X, s, h, k, sources):
    g = latentgeo.knn_graph(X, k)
    assert latentgeo.connected_components(g)[0] == 1
    D = latentgeo.geodesic(g, sources, dtype=np.float64)
    true = np.hypot(s[sources, None] - s[None, :], h[sources, None] - h[None, :])
    chord = np.linalg.norm(X[sources, None, :] - X[None, :, :], axis=2)
    other = np.ones(D.shape, dtype=bool)
    other[np.arange(len(sources)), sources] = False
    return (D[other] - true[other]) / true[other], D[other], chord[other]


def test_swiss_roll_matches_unrolled_arc_length(roll):
    X, s, h = roll
    sources = np.linspace(0, len(X) - 1, 8).astype(int)
    rel, D, chord = relative_errors(X, s, h, 10, sources)
    assert np.median(rel) < 0.05  # measured 3.1 %
    assert np.percentile(rel, 95) < 0.10
    # No shortcut between the layers of the roll: a chord across a layer would be far shorter
    # than the arc; graph paths may only undercut the arc by the chord-vs-arc of single edges.
    assert rel.min() > -0.01
    # A path through the points is never shorter than the straight chord.
    assert (D >= chord * (1 - 1e-12)).all()
    # The chord itself is a poor geodesic here: the roll is strongly curved.
    assert np.median((D - chord) / D) > 0.2


def test_swiss_roll_error_shrinks_with_k(roll):
    X, s, h = roll
    sources = np.array([17, 1234, 2999])
    med10 = np.median(relative_errors(X, s, h, 10, sources)[0])
    med15 = np.median(relative_errors(X, s, h, 15, sources)[0])
    assert 0 < med15 < med10 < 0.05


def test_swiss_roll_chunked_agrees(roll):
    X, s, h = roll
    g = latentgeo.knn_graph(X, 10)
    sources = np.arange(0, 3000, 97)
    # Eccentricity within the roll (largest geodesic from each source) block by block.
    ecc = latentgeo.geodesic_reduce(g, "max", sources, block_size=5)
    true = np.hypot(s[sources, None] - s[None, :], h[sources, None] - h[None, :]).max(axis=1)
    np.testing.assert_array_less(true * 0.99, ecc)
    np.testing.assert_array_less(ecc, true * 1.08)
