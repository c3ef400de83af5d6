"""The analytic Gaussian-mixture data model: closed forms against independent references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from latentgeo.diffusion import GaussianMixture


def random_mixture(rng, k, d, kind="full"):
    w = rng.dirichlet(np.ones(k))
    mu = rng.normal(scale=2.0, size=(k, d))
    if kind == "full":
        a = rng.normal(size=(k, d, d))
        cov = a @ a.transpose(0, 2, 1) / d + 0.2 * np.eye(d)
    elif kind == "diag":
        cov = rng.uniform(0.2, 2.0, size=(k, d))
    else:
        cov = rng.uniform(0.2, 2.0, size=k)
    return GaussianMixture(w, mu, cov, kind)


def scipy_log_prob(g, x, s, sigma):
    """Reference log p_t via scipy on the full covariances s^2 Sigma + sigma^2 I."""
    cov = g.full_covariances()
    terms = [
        np.log(g.weights[k])
        + multivariate_normal(s * g.means[k], s * s * cov[k] + sigma**2 * np.eye(g.dim)).logpdf(x)
        for k in range(g.n_components)
    ]
    return logsumexp(np.stack(terms).reshape(g.n_components, -1), axis=0)


def fd_gradient(f, x, h=1e-5):
    """Central differences of a per-point scalar function f: (B, d) -> (B,)."""
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        out[:, j] = (f(x + e) - f(x - e)) / (2 * h)
    return out


kinds = st.sampled_from(["full", "diag", "spherical"])
levels = st.tuples(st.floats(0.05, 1.5), st.floats(0.0, 2.0))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.integers(1, 5), d=st.integers(1, 5), kind=kinds, lv=levels)
def test_log_prob_matches_scipy(seed, k, d, kind, lv):
    rng = np.random.default_rng(seed)
    g = random_mixture(rng, k, d, kind)
    s, sigma = lv
    x = rng.normal(scale=3.0, size=(20, d))
    np.testing.assert_allclose(
        g.log_prob(x, s, sigma), scipy_log_prob(g, x, s, sigma), rtol=1e-10, atol=1e-10
    )


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.integers(1, 4), d=st.integers(1, 4), kind=kinds, lv=levels)
def test_score_matches_finite_differences(seed, k, d, kind, lv):
    rng = np.random.default_rng(seed)
    g = random_mixture(rng, k, d, kind)
    s, sigma = lv
    x = rng.normal(scale=2.0, size=(15, d))
    fd = fd_gradient(lambda y: g.log_prob(y, s, sigma), x)
    np.testing.assert_allclose(g.score(x, s, sigma), fd, rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.integers(1, 4), d=st.integers(1, 4), kind=kinds, lv=levels)
def test_divergence_matches_finite_difference_jacobian_trace(seed, k, d, kind, lv):
    rng = np.random.default_rng(seed)
    g = random_mixture(rng, k, d, kind)
    s, sigma = lv
    a, c = rng.normal(size=2)
    x = rng.normal(scale=2.0, size=(15, d))
    h = 1e-5
    trace = np.zeros(len(x))
    for j in range(d):
        e = np.zeros(d)
        e[j] = h
        vp = a * (x + e) + c * g.score(x + e, s, sigma)
        vm = a * (x - e) + c * g.score(x - e, s, sigma)
        trace += (vp[:, j] - vm[:, j]) / (2 * h)
    np.testing.assert_allclose(g.pf_divergence(x, s, sigma, a, c), trace, rtol=1e-5, atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.integers(1, 4), d=st.integers(1, 4), kind=kinds, lv=levels)
def test_denoiser_is_tweedie(seed, k, d, kind, lv):
    rng = np.random.default_rng(seed)
    g = random_mixture(rng, k, d, kind)
    s, sigma = lv
    x = rng.normal(scale=2.0, size=(10, d))
    out = g.evaluate(x, s, sigma, score=True, denoise=True)
    np.testing.assert_allclose(out["denoise"], (x + sigma**2 * out["score"]) / s, rtol=1e-12)


def test_denoiser_is_the_exact_posterior_mean_for_one_gaussian():
    rng = np.random.default_rng(3)
    d = 3
    a = rng.normal(size=(d, d))
    cov = a @ a.T + 0.1 * np.eye(d)
    mu = rng.normal(size=d)
    g = GaussianMixture([1.0], mu[None], cov[None])
    s, sigma = 0.7, 0.9
    x = rng.normal(size=(8, d))
    # Joint Gaussian conditioning: E[x0 | xt] = mu + s Sigma (s^2 Sigma + sigma^2 I)^-1 (x - s mu).
    c = s * s * cov + sigma**2 * np.eye(d)
    expected = mu + (s * cov @ np.linalg.solve(c, (x - s * mu).T)).T
    np.testing.assert_allclose(g.denoise(x, s, sigma), expected, rtol=1e-12, atol=1e-12)


def test_data_density_at_s1_sigma0_and_defaults():
    rng = np.random.default_rng(5)
    g = random_mixture(rng, 3, 2)
    x = rng.normal(size=(30, 2))
    ref = logsumexp(
        [
            np.log(g.weights[k]) + multivariate_normal(g.means[k], g.covariances[k]).logpdf(x)
            for k in range(3)
        ],
        axis=0,
    )
    np.testing.assert_allclose(g.log_prob(x), ref, rtol=1e-12)
    np.testing.assert_allclose(g.log_prob(x, 1.0, 0.0), ref, rtol=1e-12)


def test_per_point_levels_match_scalar_levels_and_marginal():
    rng = np.random.default_rng(7)
    g = random_mixture(rng, 4, 3)
    x = rng.normal(size=(50, 3))
    s = np.where(np.arange(50) < 20, 0.9, 0.4)
    sigma = np.where(np.arange(50) < 20, 0.2, 1.1)
    per = g.evaluate(x, s, sigma, log_prob=True, score=True, divergence=(0.3, -0.5))
    for lo, hi, sv, gv in ((0, 20, 0.9, 0.2), (20, 50, 0.4, 1.1)):
        one = g.evaluate(x[lo:hi], sv, gv, log_prob=True, score=True, divergence=(0.3, -0.5))
        for key in one:
            np.testing.assert_array_equal(per[key][lo:hi], one[key])
        np.testing.assert_allclose(g.marginal(sv, gv).log_prob(x[lo:hi]), one["log_prob"])
    # A scalar s with per-point sigma broadcasts.
    np.testing.assert_array_equal(g.log_prob(x, 0.9, sigma)[:20], per["log_prob"][:20])


def test_results_do_not_depend_on_threads_or_batch_split():
    rng = np.random.default_rng(11)
    g = random_mixture(rng, 8, 2)
    g1 = GaussianMixture(g.weights, g.means, g.covariances, n_threads=1)
    x = rng.normal(size=(5000, 2))
    full = g.score(x, 0.8, 0.5)
    np.testing.assert_array_equal(full, g1.score(x, 0.8, 0.5))
    np.testing.assert_array_equal(full[1234:1241], g.score(x[1234:1241], 0.8, 0.5))


def test_sample_moments():
    g = GaussianMixture(
        [0.3, 0.7], [[0.0, 0.0], [4.0, -1.0]], [[[1.0, 0.5], [0.5, 2.0]], [[0.5, 0.0], [0.0, 0.2]]]
    )
    x, labels = g.sample(200_000, np.random.default_rng(0), return_labels=True)
    assert x.shape == (200_000, 2)
    mean = g.weights @ g.means
    np.testing.assert_allclose(x.mean(0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(x[labels == 0].T), g.covariances[0], atol=0.03)
    assert abs((labels == 0).mean() - 0.3) < 0.005


def test_immutable_and_weights_renormalised():
    g = GaussianMixture([0.5, 0.5 + 1e-9], [[0.0], [1.0]], [1.0, 2.0], "spherical")
    assert abs(g.weights.sum() - 1.0) < 1e-15
    with pytest.raises(AttributeError):
        g.dim = 3
    with pytest.raises(ValueError):
        g.means[0, 0] = 1.0


@pytest.mark.parametrize(
    "args, match",
    [
        (([-0.2, 1.2], [[0.0], [1.0]], [1.0, 1.0], "spherical"), "non-negative"),
        (([0.5, 0.6], [[0.0], [1.0]], [1.0, 1.0], "spherical"), "sum to 1"),
        (([0.5, 0.5], [[0.0], [1.0]], [1.0, -1.0], "spherical"), "semi-definite"),
        (([1.0], [[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]], "full"), "semi-definite"),
        (([1.0], [[0.0, 0.0]], [[[1.0, 0.1], [0.0, 1.0]]], "full"), "symmetric"),
        (([0.5, 0.5], [[0.0], [1.0], [2.0]], [1.0, 1.0], "spherical"), "dimension mismatch"),
        (([1.0], [[0.0, 0.0]], [[1.0, 1.0, 1.0]], "diag"), "dimension mismatch"),
        (([1.0], [[0.0, np.nan]], [1.0], "spherical"), "NaN"),
        (([np.nan], [[0.0]], [1.0], "spherical"), "NaN"),
        (([1.0], [[0.0]], [np.inf], "spherical"), "NaN"),
        (([1.0], [[0.0]], [1.0], "banana"), "covariance_type"),
    ],
)
def test_bad_parameters_raise(args, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(*args)


def test_bad_evaluation_input_raises():
    g = GaussianMixture([0.4, 0.6], [[0.0, 0.0], [1.0, 1.0]], [1.0, 2.0], "spherical")
    with pytest.raises(ValueError, match="dimension mismatch"):
        g.score(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        g.score(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        g.score(np.zeros((2, 2)), 1.0, -0.5)
    with pytest.raises(ValueError, match="length 2"):
        g.score(np.zeros((2, 2)), [1.0, 0.5, 0.2])
    with pytest.raises(ValueError, match="s != 0"):
        g.denoise(np.zeros((2, 2)), 0.0, 1.0)
    singular = GaussianMixture([1.0], [[0.0, 0.0]], [[[1.0, 1.0], [1.0, 1.0]]])
    with pytest.raises(ValueError, match="singular"):
        singular.log_prob(np.zeros((1, 2)))
    assert np.isfinite(singular.log_prob(np.zeros((1, 2)), 1.0, 0.1)).all()
