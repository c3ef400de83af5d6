"""EXACT at extreme logit gaps and tiny sigma: the Rust kernel (numpy input) and the array-API
formula agree at every finite input, values stay in [0, 1] with finite gradients where A
underflows, and two classes match the closed form ``Phi(Delta / (sigma sqrt 2))``."""

import math

import array_api_compat.numpy
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import log_ndtr
from support.strategies import examples

from latentgeo.losses import _expected_accuracy as E
from latentgeo.losses import exact_accuracy, exact_loss

# sigma from 1e-300 to 1e3 (log-uniform), logits of up to 5e5 sigma (gaps up to 1e6 sigma).
SIGMAS = st.floats(-300.0, 3.0).map(lambda e: 10.0**e)
UNITS = st.one_of(
    st.floats(-5e5, 5e5, allow_nan=False),
    st.floats(-30.0, 30.0, allow_nan=False),
    st.sampled_from([0.0, 1.0, -1.0, 1e3, -1e3, 1e6 / 2, -1e6 / 2]),
)


@st.composite
def heads(draw, max_classes=50):
    c = draw(st.integers(2, max_classes))
    sigma = draw(SIGMAS)
    units = np.array(draw(st.lists(UNITS, min_size=c, max_size=c)))
    y = draw(st.integers(0, c - 1))
    return units * sigma, y, sigma


def both_paths(f, y, sigma, margin=None, n_nodes=32):
    """log A and d log A / d f from the Rust kernel and from the array-API formula (numpy)."""
    args = (np.asarray(f, dtype=float)[None, :], np.array([y]), sigma, margin, n_nodes, True)
    la_r, g_r = E._exact_log_rust(*args)
    with np.errstate(over="ignore"):  # Delta / sigma may overflow (it is clipped then)
        # the wrapped namespace, as the library uses it (numpy < 2 lacks device= on arange)
        la_x, g_x = E._exact_log_xp(array_api_compat.numpy, *args)
    return la_r[0], g_r[0], la_x[0], g_x[0]


def assert_agree(la_r, g_r, la_x, g_x):
    # The two paths run the same rule; log A agrees relatively (A may be e^-1e12), and the
    # gradient relative to its largest entry.
    assert la_r <= 0.0 and la_x <= 0.0, (la_r, la_x)
    assert np.isfinite(la_r) and np.isfinite(la_x), (la_r, la_x)
    assert abs(la_r - la_x) <= 1e-9 * max(abs(la_x), 1e-3), (la_r, la_x)
    assert np.all(np.isfinite(g_r)) and np.all(np.isfinite(g_x)), (g_r, g_x)
    scale = np.abs(g_x).max()
    np.testing.assert_allclose(g_r, g_x, rtol=0, atol=1e-7 * scale + 1e-300)


@examples(150)
@given(heads())
def test_rust_and_array_api_agree_at_extreme_gaps_and_sigmas(head):
    f, y, sigma = head
    assert_agree(*both_paths(f, y, sigma))


@examples(60)
@given(heads(), st.sampled_from([0.0, 1.0, 1e3]))
def test_rust_and_array_api_agree_with_a_margin(head, margin_units):
    f, y, sigma = head
    assert_agree(*both_paths(f, y, sigma, margin=margin_units * sigma))


@examples(100)
@given(heads())
def test_public_values_in_unit_interval_with_finite_gradients(head):
    f, y, sigma = head
    acc, grad = exact_accuracy(f, np.array(y), sigma, return_grad=True)
    assert 0.0 <= float(acc) <= 1.0
    assert np.all(np.isfinite(grad))
    loss, lgrad = exact_loss(f, np.array(y), sigma, reduction="none", return_grad=True)
    assert 0.0 <= float(loss) <= 1.0 and np.all(np.isfinite(lgrad))


@examples(100)
@given(SIGMAS, st.floats(-1e6, 1e6, allow_nan=False), st.integers(0, 1))
def test_two_classes_match_the_closed_form(sigma, gap_units, y):
    # A = Phi(Delta / (sigma sqrt 2)); d log A / d f_y = lambda(x) / (sigma sqrt 2).
    f = np.zeros(2)
    f[y] = gap_units * sigma
    x = (f[y] - f[1 - y]) / (sigma * math.sqrt(2.0))
    want = log_ndtr(x)
    if x < -30.0:  # lambda(x) = -x / (1 - 1/x^2 + 3/x^4 - ...): no cancellation of x^2 / 2
        y2 = 1.0 / (x * x)
        lam = -x / (1.0 - y2 * (1.0 - y2 * (3.0 - y2 * (15.0 - 105.0 * y2))))
    else:
        lam = math.exp(-0.5 * x * x - 0.5 * math.log(2 * math.pi) - want)
    dwant = lam / (sigma * math.sqrt(2))
    la_r, g_r, la_x, g_x = both_paths(f, y, sigma)
    for la, g in ((la_r, g_r), (la_x, g_x)):
        assert abs(la - want) <= 1e-12 * max(abs(want), 1e-3), (la, want)
        # Where A is near 1 the gradient is a tiny tail term that the rule resolves to about
        # 1e-8 of itself (1e-22 at x = 10); where the label loses, to rounding.
        rel = 1e-6 if x > 0 else 1e-9
        assert g[y] == pytest.approx(dwant, rel=rel, abs=1e-300)
        assert g[1 - y] == pytest.approx(-dwant, rel=rel, abs=1e-300)


@pytest.mark.parametrize("sigma", [1e-9, 1e-30, 1e-250])
def test_worst_label_at_tiny_sigma_is_zero_not_one(sigma):
    # Logits [0, 1, 2] with label 0 once gave A = 1 and an all-NaN gradient (numpy input): a
    # rounding error made the Newton curvature positive and the Laplace width NaN.
    f = np.array([[0.0, 1.0, 2.0]]) * (sigma * 1e9)
    acc, grad = exact_accuracy(f, np.array([0]), sigma=sigma, return_grad=True)
    assert acc.tolist() == [0.0]
    assert np.all(np.isfinite(grad)) and np.all(grad == 0.0)
    # log A is the two-class value of the best rival, -(2e9)^2 / 4 = -1e18.
    la, g, la_x, g_x = both_paths(f[0], 0, sigma)
    assert la == pytest.approx(log_ndtr(-2e9 / math.sqrt(2)), rel=1e-12)
    assert_agree(la, g, la_x, g_x)
    # The best label: A = 1, gradient 0.
    acc, grad = exact_accuracy(f[:, ::-1].copy(), np.array([0]), sigma=sigma, return_grad=True)
    assert acc.tolist() == [1.0] and np.all(grad == 0.0)


def test_strict_array_api_agrees_at_extremes():
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(5)
    for sigma in (1e-9, 1e-300, 1.0):
        for c in (2, 7, 50):
            f = rng.normal(scale=3.0, size=(3, c)) * (1e6 * sigma if c == 7 else sigma)
            y = rng.integers(c, size=3)
            acc, grad = exact_accuracy(f, y, sigma, return_grad=True)
            acc_s, grad_s = exact_accuracy(xps.asarray(f), xps.asarray(y), sigma, return_grad=True)
            acc_s, grad_s = np.asarray(acc_s), np.asarray(grad_s)
            assert np.all((acc_s >= 0) & (acc_s <= 1)) and np.all(np.isfinite(grad_s))
            # The pure array-API log Phi has relative error 1.2e-7 (so A about 1e-6 relative).
            np.testing.assert_allclose(acc_s, acc, rtol=1e-5, atol=1e-12)
            la, la_s = (
                exact_loss(a, b, sigma, meanlog=True, reduction="none")
                for a, b in ((f, y), (xps.asarray(f), xps.asarray(y)))
            )
            np.testing.assert_allclose(np.asarray(la_s), la, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("sigma", [1e-310, 5e-324])
def test_gap_over_sigma_overflowing_gives_the_limits(sigma):
    # Delta / sigma overflows to inf: A is exactly 0 for the worst label and 1 for the best, with
    # finite (zero) gradients, on both paths.
    f = np.array([[0.0, 1.0, 2.0]])
    for y, want in ((0, 0.0), (2, 1.0)):
        for logits in (f, pytest.importorskip("array_api_strict").asarray(f)):
            acc, grad = exact_accuracy(logits, np.array([y]), sigma, return_grad=True)
            assert np.asarray(acc).tolist() == [want]
            assert np.all(np.asarray(grad) == 0.0)
    la, g, la_x, g_x = both_paths(f[0], 0, sigma)
    assert la == pytest.approx(la_x, rel=1e-12) and la < -1e299
