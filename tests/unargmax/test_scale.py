"""Verdicts do not depend on the scale of (W, b), and verify() rejects a wrong certificate or
witness at any scale (issue 13)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.strategies import SEEDS, examples

import latentgeo


def _head(seed, dtype, bias):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((60, 4))
    W[:6] *= 0.3  # planted rows pulled inside the hull
    b = rng.standard_normal(60) * 0.1 if bias else None
    return W.astype(dtype), b


SCALES32 = [1e-30, 1e-23, 1e-12, 1.0, 1e12, 1e30]
SCALES64 = [1e-300, 1e-170, 1e-50, 1.0, 1e50, 1e170, 1e300]


@examples(6)
@given(SEEDS, st.booleans())
def test_float32_verdicts_are_scale_invariant(seed, bias):
    W, b = _head(seed, np.float32, bias)
    base = latentgeo.unargmaxable(W, b)
    assert base.verify()
    for s in SCALES32:
        rep = latentgeo.unargmaxable(W * np.float32(s), None if b is None else b * s)
        np.testing.assert_array_equal(rep.status, base.status)
        assert rep.verify(raise_on_failure=True)


@examples(6)
@given(SEEDS, st.booleans())
def test_float64_verdicts_are_scale_invariant(seed, bias):
    W, b = _head(seed, np.float64, bias)
    base = latentgeo.unargmaxable(W, b)
    for s in SCALES64:
        rep = latentgeo.unargmaxable(W * s, None if b is None else b * s)
        np.testing.assert_array_equal(rep.status, base.status)
        assert rep.verify(raise_on_failure=True)
        assert np.all(np.isfinite(rep.witness(int(rep.argmaxable[0]))))
    for e in (-990, -500, -60, 60, 500, 990):
        # A power-of-two scale is exact: the same witnesses, margins scaled exactly.
        rep = latentgeo.unargmaxable(np.ldexp(W, e), None if b is None else np.ldexp(b, e))
        np.testing.assert_array_equal(rep.margin, np.ldexp(base.margin, e))
        k = int(rep.argmaxable[0])
        np.testing.assert_array_equal(rep.witness(k), base.witness(k))


@pytest.mark.parametrize("s", SCALES64)
def test_verify_rejects_a_wrong_certificate_at_any_scale(s):
    W, _ = _head(0, np.float64, False)
    rep = latentgeo.unargmaxable(W * s)
    k = int(rep.unargmaxable[0])
    i = int(np.flatnonzero(rep.classes == k)[0])
    idx, lam = rep._certificates[i]
    assert rep.verify()
    # A certificate that does not reproduce w_k: drop its largest weight.
    keep = lam != lam.max()
    rep._certificates[i] = (idx[keep], lam[keep])
    assert not rep.verify()
    with pytest.raises(ValueError, match=f"certificate of class {k}"):
        rep.verify(raise_on_failure=True)


@pytest.mark.parametrize("s", SCALES64)
def test_verify_rejects_a_wrong_witness_at_any_scale(s):
    W, _ = _head(1, np.float64, False)
    rep = latentgeo.unargmaxable(W * s)
    k = int(rep.argmaxable[0])
    i = int(np.flatnonzero(rep.classes == k)[0])
    other = int(rep.argmaxable[1])
    rep._witnesses[i] = rep.witness(other)  # wins for another class, not for k
    assert not rep.verify()
