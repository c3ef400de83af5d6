"""Whitening: bad knobs and data, and the state after a failed fit."""

import numpy as np
import pytest
import scipy.sparse as sp
from support.whitening import make_data

from latentgeo import Whitening

# ---------------------------------------------------------------------------------------------
# Bad input.


@pytest.mark.parametrize("name", ["beta", "gamma"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), float("inf")])
def test_knob_out_of_range(name, value):
    with pytest.raises(ValueError, match=f"{name} must be in \\[0, 1\\]"):
        Whitening(**{name: value}).fit(make_data(n=10))


@pytest.mark.parametrize("name", ["beta", "gamma"])
@pytest.mark.parametrize("value", ["1", None, True, [1.0]])
def test_knob_wrong_type(name, value):
    with pytest.raises(TypeError, match=name):
        Whitening(**{name: value}).fit(make_data(n=10))


def test_n_components_and_eps_errors():
    X = make_data(n=10, d=6)
    with pytest.raises(ValueError, match="n_components=7 is larger than the number of features"):
        Whitening(n_components=7).fit(X)
    with pytest.raises(ValueError, match="n_components must be at least 1"):
        Whitening(n_components=0).fit(X)
    with pytest.raises(TypeError, match="n_components"):
        Whitening(n_components=2.5).fit(X)
    with pytest.raises(TypeError, match="n_components"):
        Whitening(n_components=True).fit(X)
    for eps in (0.0, 1.0, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="eps must be in"):
            Whitening(eps=eps).fit(X)
    with pytest.raises(TypeError, match="eps"):
        Whitening(eps="small").fit(X)


def test_bad_data():
    w = Whitening()
    X = make_data(n=10)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite.*row 3, column 2"):
        w.fit(bad)
    with pytest.raises(ValueError, match="2-D"):
        w.fit(X[0])
    with pytest.raises(ValueError, match="empty"):
        w.fit(X[:0])
    with pytest.raises(TypeError, match="real numbers"):
        w.fit(X.astype(complex))
    with pytest.raises(TypeError, match="sparse"):
        w.fit(sp.csr_matrix(X))
    assert not hasattr(w, "mean_")
    w.fit(X)
    with pytest.raises(ValueError, match="X has 5 features, but Whitening is expecting 6"):
        w.transform(X[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        w.transform(bad)
    with pytest.raises(ValueError, match="Z has 5 features, but Whitening produces 6 columns"):
        w.inverse_transform(X[:, :5])


def test_failed_partial_fit_leaves_state_unchanged():
    X = make_data(n=50)
    w = Whitening(n_components=3).partial_fit(X[:30])
    before = (w.n_samples_seen_, w.mean_.copy(), w.covariance_.copy(), w.transform(X))
    bad = X[30:].copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        w.partial_fit(bad)
    with pytest.raises(ValueError, match="X has 4 features"):
        w.partial_fit(X[30:, :4])
    w.set_params(beta=2.0)
    with pytest.raises(ValueError, match="beta must be in"):
        w.partial_fit(X[30:])
    w.set_params(beta=1.0)
    assert w.n_samples_seen_ == before[0]
    np.testing.assert_array_equal(w.mean_, before[1])
    np.testing.assert_array_equal(w.covariance_, before[2])
    np.testing.assert_array_equal(w.transform(X), before[3])
    # ... and a later good chunk gives the same result as fitting everything.
    w.partial_fit(X[30:])
    np.testing.assert_allclose(w.transform(X), Whitening(n_components=3).fit(X).transform(X))


def test_failed_fit_keeps_previous_fit():
    X = make_data(n=50)
    w = Whitening().fit(X)
    before = w.transform(X)
    with pytest.raises(ValueError):
        w.fit(np.full((3, 6), np.nan))
    np.testing.assert_array_equal(w.transform(X), before)


@pytest.mark.parametrize("e", [-130, -100, 100])
def test_float32_data_of_extreme_magnitude_is_whitened_finitely(e):
    """Tiny or huge float32 data: the kernel would overflow float32, so the transform runs in
    float64 and rounds the (moderate) output (issue 13)."""
    base = np.array([[1, 0.5], [2, -1], [1.5, 3], [3, 0], [1, 1], [2.5, 2]])
    X = np.ldexp(base, e).astype(np.float32)
    w = Whitening(n_components=1).fit(X)
    Z = w.transform(X)
    assert Z.dtype == np.float32 and np.isfinite(Z).all()
    ref = Whitening(n_components=1).fit(base).transform(base)
    np.testing.assert_allclose(Z, ref, rtol=1e-5, atol=1e-5)
    back = w.inverse_transform(Z)
    assert back.dtype == np.float32 and np.isfinite(back).all()
