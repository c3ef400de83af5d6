"""EXACT at large C against independent references.

``A = integral phi(u) prod_{j != y} Phi(a_j + u) du``, ``a_j = min(f_y - f_j, margin) / sigma``,
is recomputed here by scipy's adaptive quadrature (``integrate.quad``) of the log-space integrand
(``scipy.special.log_ndtr`` summed over the classes, taken relative to its mode, so the product of
up to 999 CDFs neither underflows nor loses the far tail); gradients are 5-point central
differences of that reference. At moderate C the orthant form ``P(D > 0)``,
``D ~ N(Delta / sigma, I + 11^T)``, is also computed by Genz's algorithm
(``scipy.stats.multivariate_normal.cdf``).

Tolerances come from the "Measured accuracy" section of :func:`latentgeo.losses.exact_accuracy`:
with the default 32 nodes, absolute error of A at most 2e-8 and of its gradient at most 1e-7
(documented for 2 to 40 classes); the 100-node rule is the docstring's ground truth and is held to
the reference's own accuracy. Each test states the errors measured on its cases.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, optimize, stats
from scipy.special import log_ndtr
from support.strategies import examples

from latentgeo.losses import exact_accuracy, exact_loss

# Documented accuracy of the default 32-node rule (float64), measured there on 2 to 40 classes.
DOC_A_ERR = 2e-8
DOC_GRAD_ERR = 1e-7
# Beyond 40 classes the docstring states nothing; on random N(0, 9) heads (5 x 150 draws, sigma
# log-uniform on [0.05, 20]) the 32-node rule was measured at up to 7.2e-8 in A (C = 1000) and
# 5.1e-7 in the gradient (C = 50, sigma = 3, label ahead by 2.2 sigma): these bounds hold that
# with a margin of about 1.5 to 2.
LARGE_A_ERR = 1e-7
LARGE_GRAD_ERR = 1e-6
# The documented bound of the 32-node rule on the tied crowd f = (gap, 0, ..., 0), label 0, over
# gaps 0 to 10 (the docstring's table): (largest C, absolute error of A).
CROWD_A_ERR = (
    (5, 2e-10),
    (10, 2e-8),
    (20, 6e-7),
    (40, 5e-6),
    (100, 3e-5),
    (300, 1.5e-4),
    (1000, 5e-4),
    (5000, 1.2e-3),
)


def crowd_tolerance(c):
    return next(tol for top, tol in CROWD_A_ERR if c <= top)


def default_rule_tolerances(c):
    """(A, gradient) absolute tolerances of the 32-node rule at C classes."""
    return (DOC_A_ERR, DOC_GRAD_ERR) if c <= 40 else (LARGE_A_ERR, LARGE_GRAD_ERR)


# ---------------------------------------------------------------------------------------------
# The independent reference.


def _scaled_gaps(f, y, sigma, margin):
    f = np.asarray(f, dtype=float)
    delta = f[y] - np.delete(f, y)
    if margin is not None:
        delta = np.minimum(delta, margin)
    return delta / sigma


def quad_log_exact(f, y, sigma=1.0, margin=None):
    """log A by scipy.integrate.quad of exp(g(u) - g(c)), g = log phi + sum log Phi, c its mode.

    g is concave, so Brent's method finds c; the integral is split at c and runs to 60 Laplace
    widths on each side (relative tolerance 1e-13). log A = g(c) + log(integral)."""
    a = _scaled_gaps(f, y, sigma, margin)

    def g(u):
        return -0.5 * u * u - 0.5 * math.log(2 * math.pi) + float(log_ndtr(a + u).sum())

    opt = optimize.minimize_scalar(lambda u: -g(u), bracket=(-1.0, 1.0), method="brent", tol=1e-12)
    c, gc = float(opt.x), -float(opt.fun)
    h = 1e-4
    curvature = -(g(c + h) - 2 * gc + g(c - h)) / h**2
    width = 1.0 / math.sqrt(max(curvature, 1e-300))
    total = 0.0
    for lo, hi in ((c - 60 * width, c), (c, c + 60 * width)):
        val, _ = integrate.quad(
            lambda u: math.exp(g(u) - gc), lo, hi, epsabs=0.0, epsrel=1e-13, limit=500
        )
        total += val
    return gc + math.log(total)


def quad_exact(f, y, sigma=1.0, margin=None):
    return math.exp(quad_log_exact(f, y, sigma, margin))


def quad_grad(fun, f, idx, step):
    """5-point central differences of the scalar fun at f, for the coordinates idx."""
    out = np.empty(len(idx))
    for n, k in enumerate(idx):
        vals = []
        for m in (-2, -1, 1, 2):
            x = np.array(f, dtype=float)
            x[k] += m * step
            vals.append(fun(x))
        out[n] = (vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * step)
    return out


def random_head(c, seed):
    """N(0, 9) logits (the docstring's test distribution) and the classes to check the gradient
    at: the label, the four largest logits and three random ones."""
    rng = np.random.default_rng(seed)
    f = rng.normal(scale=3.0, size=c)
    order = np.argsort(-f)
    return f, order, rng


# ---------------------------------------------------------------------------------------------
# The reference itself.


@pytest.mark.parametrize("gap", [-40.0, -5.0, 0.3, 2.0, 8.0])
def test_reference_two_classes_closed_form(gap):
    # C = 2: log A = log Phi(Delta / (sigma sqrt 2)); measured relative error <= 3e-15.
    want = float(log_ndtr(gap / math.sqrt(2)))
    assert quad_log_exact([gap, 0.0], 0) == pytest.approx(want, rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("c", [50, 200])
def test_reference_probabilities_over_labels_sum_to_one(c):
    # measured |sum - 1| <= 3e-16 (also at C = 1000, which takes 25 s)
    f, _, _ = random_head(c, c)
    total = math.fsum(quad_exact(f, y, 1.0) for y in range(c))
    assert total == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Values and gradients at large C.

LARGE_C = [10, 40, 50, 200, 1000]
SIGMAS = [0.05, 0.3, 1.0, 3.0, 20.0]


@pytest.mark.parametrize("c", LARGE_C)
def test_values_match_quadrature(c):
    """Random heads, the top, second and median label, five sigmas from 0.05 to 20.

    Measured max |A - A_quad| (C = 10, 40, 50, 200, 1000): 100 nodes <= 1e-15 at every C;
    32 nodes 3.4e-13, 5.0e-12, 1.6e-11, 4.2e-10, 2.9e-9. Relative error of log A (-log A up to
    ~1e4 for the median label at sigma = 0.05): 100 nodes <= 2.5e-15, 32 nodes <= 1.3e-8."""
    f, order, _ = random_head(c, 11 * c)
    a_tol32, _ = default_rule_tolerances(c)
    for sigma in SIGMAS:
        for y in (int(order[0]), int(order[1]), int(order[c // 2])):
            log_ref = quad_log_exact(f, y, sigma)
            lab = np.array(y)
            for n_nodes, a_tol, log_rel in ((100, 1e-13, 1e-13), (32, a_tol32, 1e-7)):
                a = float(exact_accuracy(f, lab, sigma, n_nodes=n_nodes))
                assert a == pytest.approx(math.exp(log_ref), rel=0, abs=a_tol), (sigma, y, n_nodes)
                log_a = -float(exact_loss(f, lab, sigma, meanlog=True, n_nodes=n_nodes))
                assert log_a == pytest.approx(log_ref, rel=log_rel, abs=log_rel), (sigma, y)


@pytest.mark.parametrize("c", LARGE_C)
@pytest.mark.parametrize("sigma", [0.3, 1.0, 3.0])
def test_gradients_match_differences_of_quadrature(c, sigma):
    """d A / d f at the label, the four largest logits and three random classes.

    The reference differences (step 0.01 sigma) are accurate to about 1e-10. Measured max error
    (C = 10, 40, 50, 200, 1000): 100 nodes <= 8e-11; 32 nodes 5.7e-11, 2.0e-9, 9.6e-9, 8.3e-9,
    1.3e-7 (the last above the documented 1e-7, which is stated for C <= 40)."""
    f, order, rng = random_head(c, 13 * c + int(10 * sigma))
    _, g_tol32 = default_rule_tolerances(c)
    for y in (int(order[0]), int(order[1])):
        idx = sorted({y, *order[:4].tolist(), *rng.integers(c, size=3).tolist()})
        want = quad_grad(lambda x, y=y: quad_exact(x, y, sigma), f, idx, 1e-2 * sigma)
        for n_nodes, tol in ((100, 1e-9), (32, g_tol32)):
            a, g = exact_accuracy(f, np.array(y), sigma, n_nodes=n_nodes, return_grad=True)
            np.testing.assert_allclose(g[idx], want, rtol=0, atol=tol, err_msg=f"{y} {n_nodes}")
            assert abs(g.sum()) < 1e-14  # shift invariance


@pytest.mark.parametrize("margin", [0.5, 2.0])
@pytest.mark.parametrize("c", [50, 1000])
def test_margin_values_and_gradients(c, margin):
    """Differences clipped at the margin: values and gradients (zero for the classes behind by
    more than the margin). Measured max errors of A / gradient: 100 nodes 3e-14 / 1e-10;
    32 nodes 1.8e-11 / 1.5e-11 (C = 50, margin 0.5), 9.6e-9 / 1.4e-8 (50, 2.0), 3.3e-10 /
    4.6e-11 (1000, 0.5), 5.3e-8 / 4.0e-8 (1000, 2.0)."""
    f, order, rng = random_head(c, 17 * c)
    sigma = 1.0
    for y in (int(order[0]), int(order[2]), int(order[c // 2])):
        ref = quad_exact(f, y, sigma, margin)
        idx = sorted({y, *order[:4].tolist(), *rng.integers(c, size=3).tolist()})
        # no class exactly at the clipping kink: central differences are valid
        assert np.all(np.abs(f[y] - f[idx] - margin) > 0.05)
        want = quad_grad(lambda x, y=y: quad_exact(x, y, sigma, margin), f, idx, 1e-2)
        for n_nodes, a_tol, g_tol in ((100, 1e-12, 1e-9), (32, *default_rule_tolerances(c))):
            a, g = exact_accuracy(
                f, np.array(y), sigma, margin=margin, n_nodes=n_nodes, return_grad=True
            )
            assert float(a) == pytest.approx(ref, rel=0, abs=a_tol)
            np.testing.assert_allclose(g[idx], want, rtol=0, atol=g_tol)
            behind = np.flatnonzero(f[y] - f > margin)
            assert np.all(g[behind] == 0)


@pytest.mark.parametrize("c", [200, 1000])
def test_far_tail_log_accuracy_and_gradient(c):
    """The worst label at small sigma: A underflows (log A from -1.2e3 to -5.3e4), -log A and its
    gradient stay accurate. Measured relative error of log A <= 6e-16 (32 and 100 nodes);
    gradient of -log A against 5-point differences of the log reference: <= 2.3e-11 relative to
    its largest entry."""
    f, order, rng = random_head(c, 19 * c)
    y = int(order[-1])
    for sigma in (0.05, 0.3):
        log_ref = quad_log_exact(f, y, sigma)
        assert log_ref < -500
        idx = sorted({y, *order[:3].tolist(), *rng.integers(c, size=3).tolist()})
        want = quad_grad(lambda x, s=sigma: -quad_log_exact(x, y, s), f, idx, 1e-3 * sigma)
        for n_nodes in (100, 32):
            loss, g = exact_loss(
                f, np.array(y), sigma, meanlog=True, n_nodes=n_nodes, return_grad=True
            )
            assert -float(loss) == pytest.approx(log_ref, rel=1e-13)
            assert np.all(np.isfinite(g))
            scale = np.abs(want).max()
            np.testing.assert_allclose(g[idx], want, rtol=0, atol=1e-9 * scale)


# ---------------------------------------------------------------------------------------------
# Genz at moderate C.


@pytest.mark.parametrize("c, sigma, seed", [(10, 2.0, 3), (12, 2.0, 4), (16, 1.5, 5), (20, 1.5, 6)])
def test_genz_orthant_probability(c, sigma, seed):
    """P(D > 0) by scipy's Genz algorithm at requested absolute error 1e-6 (it does not reach
    1e-8 in 19 dimensions in reasonable time), for the three largest logits (A from 5e-4 to
    0.91). Measured over Genz seeds 0-2: |Genz - quad| <= 4.7e-7; |EXACT - quad| <= 2.5e-12."""
    f, order, _ = random_head(c, seed)
    for y in (int(order[0]), int(order[1]), int(order[2])):
        a = (f[y] - np.delete(f, y)) / sigma
        k = len(a)
        cov = np.eye(k) + np.ones((k, k))
        tol = {"abseps": 1e-6, "releps": 0, "maxpts": 200_000 * k}
        try:  # scipy >= 1.10 takes the tolerances (and the seed) at construction
            genz = float(stats.multivariate_normal(mean=-a, cov=cov, seed=0, **tol).cdf(0 * a))
            err = 1e-6
        except TypeError:  # older scipy: at the call, and its Fortran Genz (measured 1.3e-6 off
            np.random.seed(0)  # at C = 16 with scipy 1.8) reports a statistical error only
            genz = float(stats.multivariate_normal.cdf(0 * a, mean=-a, cov=cov, **tol))
            err = 3e-6
        got = float(exact_accuracy(f, np.array(y), sigma))
        assert got == pytest.approx(genz, rel=0, abs=err + DOC_A_ERR)
        assert genz == pytest.approx(quad_exact(f, y, sigma), rel=0, abs=err)


# ---------------------------------------------------------------------------------------------
# Known gap: a label ahead of a crowd of tied classes.


@pytest.mark.parametrize(
    "c, gap, n_nodes",
    [
        (10, 3.4, 32),  # measured 9.5e-9: within the documented 2e-8
        pytest.param(
            40,
            3.6,
            32,
            marks=pytest.mark.xfail(
                strict=True,
                reason="measured |A - A_quad| = 2.5e-6 (A = 0.90) at C = 40, above the 2e-8 of "
                "random heads (documented as the tied-crowd degradation; 48 nodes 8.9e-8, "
                "64 nodes 1.6e-9)",
            ),
        ),
        pytest.param(
            1000,
            4.6,
            100,
            marks=pytest.mark.xfail(
                strict=True,
                reason="measured |A - A_quad| = 1.6e-4 with 32 nodes, 3.8e-7 even with 100 nodes "
                "(A = 0.90), the docstring's ground-truth rule (documented as the tied-crowd "
                "degradation)",
            ),
        ),
    ],
)
def test_label_ahead_of_a_tied_crowd(c, gap, n_nodes):
    """f = (gap, 0, ..., 0), label 0, sigma 1: A = integral phi(u) Phi(gap + u)^(C-1) du.

    The integrand is strongly skewed for large C (a power of Phi), so the Laplace-scaled
    Gauss-Hermite rule converges slowly; random heads (the docstring's test set) do not show it.
    The worst gaps were found by a sweep of 41 gaps in [0, 8]."""
    f = np.zeros(c)
    f[0] = gap
    ref = quad_exact(f, 0, 1.0)
    # the reference agrees with a plain quad of the closed form to 1e-14
    plain, _ = integrate.quad(
        lambda u: stats.norm.pdf(u) * stats.norm.cdf(gap + u) ** (c - 1),
        -12,
        12,
        epsabs=1e-15,
        epsrel=1e-13,
        limit=500,
    )
    assert plain == pytest.approx(ref, rel=0, abs=1e-13)
    tol = DOC_A_ERR if n_nodes == 32 else 1e-12
    assert float(exact_accuracy(f, np.array(0), 1.0, n_nodes=n_nodes)) == pytest.approx(
        ref, rel=0, abs=tol
    )


@examples(30)
@given(
    st.one_of(st.integers(2, 50), st.integers(2, 5000)),
    st.one_of(st.floats(0.0, 10.0), st.floats(2.5, 5.0)),
)
def test_tied_crowd_within_the_documented_bound(c, gap):
    """The tied crowd at any C from 2 to 5000 and gap from 0 to 10 (sigma 1) stays within the
    docstring's table of the 32-node rule's error (gaps 2.5 to 5 hold the worst cases)."""
    f = np.zeros(c)
    f[0] = gap
    ref = quad_exact(f, 0, 1.0)
    got = float(exact_accuracy(f, np.array(0), 1.0))
    assert got == pytest.approx(ref, rel=0, abs=crowd_tolerance(c)), (c, gap)


def test_train_preset_meets_its_documented_error():
    """n_nodes="train" (20 nodes): error at most 1e-6 in A and in the gradient on random heads
    (the docstring's 2 to 40 classes, N(0, 9) logits, sigma 0.05 to 20, and N(0, 4) logits with
    10 to 1,000 classes), against the 100-node rule."""
    from latentgeo.losses import N_NODES_PRESETS

    rng = np.random.default_rng(5)
    heads = []
    for _ in range(400):
        c = int(rng.integers(2, 41))
        heads.append((rng.normal(0, 3, size=(1, c)), rng.integers(0, c, 1), rng.uniform(0.05, 20)))
    for c in (10, 100, 1000):
        heads.append((rng.normal(0, 2, size=(64, c)), rng.integers(0, c, 64), 1.0))
    for f, y, sigma in heads:
        a, g = exact_accuracy(f, y, sigma, n_nodes="train", return_grad=True)
        a20, g20 = exact_accuracy(f, y, sigma, n_nodes=N_NODES_PRESETS["train"], return_grad=True)
        assert np.array_equal(a, a20) and np.array_equal(g, g20)
        ra, rg = exact_accuracy(f, y, sigma, n_nodes=100, return_grad=True)
        np.testing.assert_allclose(a, ra, rtol=0, atol=1e-6)
        np.testing.assert_allclose(g, rg, rtol=0, atol=1e-6)
    f, y = heads[0][0], heads[0][1]
    assert np.array_equal(exact_loss(f, y, n_nodes="precise"), exact_loss(f, y, n_nodes=64))
    with pytest.raises(ValueError, match="unknown n_nodes 'fast'"):
        exact_accuracy(f, y, n_nodes="fast")
