"""``_core.witness_top_scores`` (the GEMM and scan of verify()'s float32 pass) against numpy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.strategies import SEEDS, examples

from latentgeo import _core


def _reference(W, a, b, X, s, ks):
    T = X.astype(np.float64) @ W.T.astype(np.float64) + np.outer(s, a) + b
    T[np.arange(len(ks)), ks] = -np.inf
    order = np.argsort(-T, axis=1, kind="stable")
    return T, order


@examples(25)
@given(
    seed=SEEDS,
    V=st.integers(1, 1200),
    d=st.integers(1, 40),
    m=st.integers(1, 300),
)
def test_top_two_agree_with_numpy(seed, V, d, m):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((V, d)).astype(np.float32)
    a, b = rng.random(V).astype(np.float32), rng.standard_normal(V).astype(np.float32)
    X = rng.standard_normal((m, d)).astype(np.float32)
    s = rng.random(m).astype(np.float32)
    ks = rng.integers(0, V, m)
    top, arg, second = _core.witness_top_scores(W, a, b, X, s, ks)
    assert top.dtype == second.dtype == np.float32 and arg.dtype == np.int64
    T, order = _reference(W, a, b, X, s, ks)
    tol = 1e-4 * (1 + np.abs(T[np.isfinite(T)]).max(initial=0))
    for c in range(m):
        if V == 1:
            assert (top[c], arg[c], second[c]) == (-np.inf, -1, -np.inf)
            continue
        best = T[c, order[c, 0]]
        assert abs(top[c] - best) <= tol and abs(T[c, arg[c]] - best) <= tol
        assert arg[c] != ks[c]
        if V > 2:
            assert abs(second[c] - T[c, order[c, 1]]) <= tol
        else:
            assert second[c] == -np.inf


def test_bad_shapes_are_errors():
    W = np.zeros((4, 3), np.float32)
    v4, x = np.zeros(4, np.float32), np.zeros((2, 3), np.float32)
    s, ks = np.zeros(2, np.float32), np.array([0, 3])
    with pytest.raises(ValueError, match="outside the 4 rows"):
        _core.witness_top_scores(W, v4, v4, x, s, ks + 1)
    with pytest.raises(ValueError, match="columns"):
        _core.witness_top_scores(W, v4, v4, np.zeros((2, 2), np.float32), s, ks)
    with pytest.raises(ValueError, match="row terms"):
        _core.witness_top_scores(W, v4[:3], v4, x, s, ks)
    with pytest.raises(ValueError, match="2 witnesses"):
        _core.witness_top_scores(W, v4, v4, x, s, ks[:1])
