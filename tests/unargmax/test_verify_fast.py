"""verify()'s certified float32 pass accepts and rejects exactly what the float64 test does on
witnesses away from the rounding boundary, and hands the ones near it to float64 (issue 18)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.strategies import SEEDS, examples

from latentgeo import unargmaxable
from latentgeo.unargmax import _verify


def _float64_failures(rep):
    """The witness test of before the float32 pass: every witness by float64 scores."""
    W = rep._W.astype(np.float64)
    b = np.zeros(rep.V) if rep._b is None else rep._b.astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", W, W))
    test = _verify._Float64Test(W, b, norms, rep.d)
    out = []
    for i in np.flatnonzero(rep.status == "argmaxable"):
        k = int(rep.classes[i])
        x = rep._witnesses[i] if i in rep._witnesses else rep._alpha[i] * W[k]
        if not test.ok(k, x, rep.margin[i], rep.stage[i] == "screen"):
            out.append(int(i))
    return out


def _fast_failures(rep):
    W = rep._W
    b = np.zeros(rep.V) if rep._b is None else rep._b.astype(np.float64)
    arg = np.flatnonzero(rep.status == "argmaxable")
    return [
        int(i)
        for i in _verify.witness_failures(
            W,
            b,
            rep.classes,
            arg,
            rep._witnesses,
            rep._alpha,
            rep.margin,
            rep.bounds,
            lower=rep.stage == "screen",
            basis=rep._basis,
        )
    ]


def _head(seed, V=300, d=6, dtype=np.float32, bias=True):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((V, d)).astype(dtype)
    W[:5] = 0.4 * W[5:10] + 0.3 * W[10:15]  # interior rows: unargmaxable without bias
    b = (0.1 * rng.standard_normal(V)).astype(dtype) if bias else None
    return W, b


@examples(15)
@given(seed=SEEDS, dtype=st.sampled_from([np.float32, np.float64]), bias=st.booleans())
def test_fast_pass_agrees_with_the_float64_test(seed, dtype, bias):
    rep = unargmaxable(*_head(seed, dtype=dtype, bias=bias))
    assert _fast_failures(rep) == _float64_failures(rep) == []
    # Tamper with two screen witnesses (scaled `alpha w_k`, or whitened explicit vectors when
    # that screen ran first): one flipped, one with an inflated margin; and one explicit witness.
    arg = np.flatnonzero(rep.status == "argmaxable")
    screen = arg[rep.stage[arg] == "screen"]
    rng = np.random.default_rng(seed)
    picked = [int(i) for i in rng.choice(screen, size=2, replace=False)]
    if picked[0] in rep._witnesses:
        rep._witnesses[picked[0]] = -rep._witnesses[picked[0]]
    else:
        rep._alpha[picked[0]] = -rep._alpha[picked[0]]
    rep.margin[picked[1]] = 2 * rep.margin[picked[1]] + 1.0
    explicit = sorted(set(rep._witnesses) - set(picked))
    if explicit:
        rep._witnesses[explicit[0]] = -rep._witnesses[explicit[0]]
    fast, slow = _fast_failures(rep), _float64_failures(rep)
    assert fast == slow
    assert set(picked) <= set(fast)


def _count_float64_tests(monkeypatch):
    calls = []
    real = _verify._Float64Test.ok
    monkeypatch.setattr(
        _verify._Float64Test, "ok", lambda self, k, *a: calls.append(k) or real(self, k, *a)
    )
    return calls


def test_the_float32_pass_decides_almost_every_witness(monkeypatch):
    rep = unargmaxable(*_head(5, V=2000, d=16))
    calls = _count_float64_tests(monkeypatch)
    assert _fast_failures(rep) == []
    assert len(calls) <= 0.01 * (rep.status == "argmaxable").sum()


def test_a_witness_within_rounding_of_a_tie_is_decided_in_float64(monkeypatch):
    """Class 0 wins by 1e-12 relative: the float32 bound cannot decide, float64 can."""
    calls = _count_float64_tests(monkeypatch)
    d = 4
    w0 = np.array([1.0, 0.5, -0.25, 0.125])
    W = np.vstack([w0, w0 * (1 - 1e-12), -w0, np.eye(d)])
    x = w0.copy()
    b = np.zeros(len(W))
    m = float(W[0] @ x - W[1] @ x)
    assert 0 < m < 1e-10
    # Both a true margin (passes) and one claimed twice too large (fails) are decided in float64.
    for rep, want in [(m, []), (2 * m, [0])]:
        got = list(
            _verify.witness_failures(
                W,
                b,
                np.array([0]),
                np.array([0]),
                {0: x},
                None,
                np.array([rep]),
                None,
                lower=np.array([False]),
            )
        )
        assert got == want
    assert calls == [0, 0]


@pytest.mark.parametrize("scale", [2.0**-60, 1.0, 2.0**60])
def test_a_negative_margin_fails_at_any_scale(scale):
    W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]) * scale
    b = np.zeros(3)
    x = np.array([1.0, 1.0 + 1e-6])  # class 1 beats class 0
    got = list(
        _verify.witness_failures(
            W,
            b,
            np.array([0]),
            np.array([0]),
            {0: x},
            None,
            np.array([1e-6]),
            None,
            lower=np.array([False]),
        )
    )
    assert got == [0]


def test_blocks_do_not_change_the_answer(monkeypatch):
    rep = unargmaxable(*_head(3, V=700))
    arg = np.flatnonzero(rep.status == "argmaxable")
    flipped = [int(i) for i in arg[rep.stage[arg] == "screen"][::13]]
    assert len(flipped) >= 5
    for i in flipped:  # scaled or (whitened screen) explicit witnesses
        if i in rep._witnesses:
            rep._witnesses[i] = -rep._witnesses[i]
        else:
            rep._alpha[i] = -rep._alpha[i]
    want = _fast_failures(rep)
    monkeypatch.setattr(_verify, "BLOCK", 7)
    assert _fast_failures(rep) == want == _float64_failures(rep) == flipped


@pytest.mark.parametrize("screen", [False, True])
def test_tied_runners_up_are_checked_row_by_row(monkeypatch, screen):
    """Rows 1 and 2 tie for the largest other score (the top two are equal): the float32 pass
    lists every row that can attain the minimum margin and decides without float64."""
    calls = _count_float64_tests(monkeypatch)
    listed = []
    near = _verify._Float32Pass._near_top
    monkeypatch.setattr(
        _verify._Float32Pass,
        "_near_top",
        lambda self, *a: (listed.append(r.tolist()) or r for r in near(self, *a)),
    )
    W = np.array([[2.0, 0.0], [1.0, 0.5], [1.0, 0.5], [-1.0, 0.0], [0.0, -3.0]], np.float32)
    x = np.array([1.0, 0.0])
    m = 1.0  # z_0 - z_1 = z_0 - z_2
    # The reported margin passes; for a screen witness (a lower bound) so does a smaller one,
    # for another witness it fails; a claim twice too large fails either way.
    cases = [(m, []), (0.5 * m, [] if screen else [0]), (2 * m, [0])]
    for rep, want in cases:
        calls.clear()
        got = list(
            _verify.witness_failures(
                W, np.zeros(5), np.array([0]), np.array([0]), {0: x}, None, np.array([rep]),
                None, lower=np.array([screen]),
            )
        )  # fmt: skip
        assert got == want, (rep, screen)
        if not want:
            assert calls == []  # decided by the float32 pass
    assert listed and all(rows == [1, 2] for rows in listed)
