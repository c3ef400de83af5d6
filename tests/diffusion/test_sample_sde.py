"""Stochastic samplers (ancestral, DDIM with eta > 0, Euler-Maruyama, predictor-corrector)
against known answers.

With one Gaussian component the score is affine in x, so DDPM ancestral sampling and
Euler-Maruyama are affine maps plus Gaussian noise: exact mean/variance recursions in numpy.
The counter-based noise is exposed (``latentgeo._core.diffusion_normals``), so stochastic
samplers can be replayed exactly in numpy (see ../shared/notes/diffusion.md, sections 4-5).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.diffusion import (
    GMM,
    VP3,
    exact_start,
    mixture_moments,
    step_noise,
)

from latentgeo import _core
from latentgeo.diffusion import (
    DiscreteDDPM,
    GaussianMixture,
    prior_sample,
    reverse_mean_var,
    reverse_variance,
    sample,
    time_grid,
)

# ---------------------------------------------------------------------------------------------
# 4. DDPM ancestral sampling and DDIM with eta > 0, replayed with the same noise


def test_ancestral_on_consecutive_indices_is_the_ddpm_posterior_step():
    """steps = T: each step is N(mean, beta_tilde) of reverse_mean_var(..., "posterior")."""
    chain = DiscreteDDPM()
    n, seed = 6, 11
    got = sample(chain, GMM, shape=(n, 2), method="ancestral", steps=chain.T, seed=seed)
    x = prior_sample(chain, (n, 2), seed)
    for i, t in enumerate(range(chain.T - 1, -1, -1)):
        x0 = GMM.denoise(x, chain.s(t), chain.sigma(t))
        mean, var = reverse_mean_var(x, x0, t, chain, "posterior")
        x = mean + math.sqrt(var) * step_noise(seed, i, n, 2)
    assert reverse_variance(0, chain) == 0.0  # the last step is the denoiser x_0
    np.testing.assert_allclose(got.x, x, rtol=1e-10, atol=1e-10)
    assert got.nfe == chain.T and got.t is None


@pytest.mark.parametrize("eta", [0.0, 0.4, 1.0])
def test_ddim_with_eta_on_a_strided_chain_replays_in_numpy(eta):
    """x' = sqrt(ab') x0 + sqrt(1 - ab' - c^2) eps + c z with
    c = eta sqrt((1 - ab') / (1 - ab)) sqrt(1 - ab / ab') (Song et al. 2021, eq. 16)."""
    chain = DiscreteDDPM()
    n, seed = 5, 7
    times = time_grid(chain, 25, "quadratic").astype(int)
    got = sample(chain, GMM, shape=(n, 2), method="ddim", eta=eta, grid=times, seed=seed)
    ab = chain.alpha_bar
    x = prior_sample(chain, (n, 2), seed)
    for i, (t, t2) in enumerate(zip(times[:-1], times[1:])):
        x0 = GMM.denoise(x, chain.s(t), chain.sigma(t))
        eps = (x - math.sqrt(ab[t]) * x0) / math.sqrt(1 - ab[t])
        c = eta * math.sqrt((1 - ab[t2]) / (1 - ab[t]) * (1 - ab[t] / ab[t2]))
        x = math.sqrt(ab[t2]) * x0 + math.sqrt(1 - ab[t2] - c * c) * eps
        x = x + c * step_noise(seed, i, n, 2)
    x = GMM.denoise(x, chain.s(times[-1]), chain.sigma(times[-1]))
    np.testing.assert_allclose(got.x, x, rtol=1e-10, atol=1e-10)


def test_ancestral_equals_ddim_with_eta_one():
    for proc, steps in ((VP3, 30), (DiscreteDDPM(T=100), 40)):
        a = sample(proc, GMM, shape=(20, 2), method="ancestral", steps=steps, seed=5)
        b = sample(proc, GMM, shape=(20, 2), method="ddim", eta=1.0, steps=steps, seed=5)
        np.testing.assert_array_equal(a.x, b.x)


def ancestral_moments(chain, mu, lam, variance, start=(0.0, 1.0)):
    """Exact mean and variance after DDPM ancestral sampling (steps = T, prior N(0, 1)) of 1-D
    Gaussian data N(mu, lam) with the exact score.

    The denoiser is affine, ``x0(x) = mu + k (x - s mu)`` with ``k = s lam / c``, so a step is
    ``x' = A x + b + N(0, v)``. ``variance``: "posterior" (fixed_small, beta_tilde), "beta"
    (fixed_large) or "exact" (beta_tilde + coef1^2 Var[x0 | x_t], the true reverse kernel).
    The last step (t = 0) is the denoiser, without noise.
    """
    m, v_tot = start
    ab = chain.alpha_bar
    for t in range(chain.T - 1, -1, -1):
        s = math.sqrt(ab[t])
        k = s * lam / (ab[t] * lam + 1 - ab[t])
        c1, c2 = chain.posterior_mean_coef1[t], chain.posterior_mean_coef2[t]
        a, b = c1 * k + c2, c1 * (mu - k * s * mu)
        if variance == "exact":
            v = chain.posterior_variance[t] + c1 * c1 * lam * (1 - k * s)
        else:
            v = 0.0 if t == 0 else reverse_variance(t, chain, variance)
        m, v_tot = a * m + b, a * a * v_tot + v
    return m, v_tot


def test_ddpm_variance_choices_on_gaussian_data_known_answer():
    """Known answer 6: with lam = 0.3 the default chain gives 0.2957 (fixed_small), 0.3 (exact
    reverse kernel) and 0.3008 (fixed_large)."""
    chain = DiscreteDDPM()
    small = ancestral_moments(chain, 0.0, 0.3, "posterior")[1]
    exact = ancestral_moments(chain, 0.0, 0.3, "exact")[1]
    large = ancestral_moments(chain, 0.0, 0.3, "beta")[1]
    assert small == pytest.approx(0.2957, abs=1e-4)
    assert exact == pytest.approx(0.3, abs=1e-8)
    assert large == pytest.approx(0.3008, abs=1e-4)
    assert small < exact < large


def test_ancestral_sample_moments_match_the_exact_recursion():
    """On a short chain (T = 100) fixed_small is far too narrow (0.2653 instead of 0.3); the
    samples (n = 100k) must match the recursion, not the data, within 4 standard errors."""
    chain = DiscreteDDPM(T=100, beta_start=1e-3, beta_end=0.2)
    mu, lam, n = 0.5, 0.3, 100_000
    g = GaussianMixture([1.0], [[mu]], [lam], "spherical")
    m, v = ancestral_moments(chain, mu, lam, "posterior")
    x = sample(chain, g, shape=(n, 1), method="ancestral", steps=chain.T, seed=1).x[:, 0]
    se_m, se_v = math.sqrt(v / n), v * math.sqrt(2 / (n - 1))
    assert abs(x.mean() - m) < 4 * se_m
    assert abs(x.var(ddof=1) - v) < 4 * se_v
    assert v == pytest.approx(0.2653, abs=1e-4) and abs(x.var() - lam) > 20 * se_v


# ---------------------------------------------------------------------------------------------
# 6. Euler-Maruyama: exact recursion on 1-D Gaussian data, weak order 1


def em_moments(process, mu, lam, grid, r, start):
    """Exact mean and variance of Euler-Maruyama on the reverse family ``r`` for N(mu, lam) data:
    ``x' = x + h (f x + (1 + r^2) g^2 (x - s mu) / (2 c)) + r sqrt(g^2 |h|) z``."""
    t = grid[:-1]
    h = np.diff(grid)
    s, sig = process.s(t), process.sigma(t)
    f = process.f(np.ones((len(t), 1)), t)[:, 0]
    g2 = process.g(t) ** 2
    k = 0.5 * (1 + r * r) * g2 / (s * s * lam + sig * sig)
    a, b = 1 + h * (f + k), -h * k * s * mu
    m, v = start
    for i in range(len(h)):
        m, v = a[i] * m + b[i], a[i] * a[i] * v + r * r * g2[i] * abs(h[i])
    return m, v


@pytest.mark.parametrize("r", [1.0, 0.5])
def test_euler_maruyama_samples_match_the_exact_recursion(r):
    mu, lam, n, steps = 0.5, 0.3, 200_000, 40
    g = GaussianMixture([1.0], [[mu]], [lam], "spherical")
    s1, sg1 = VP3.s(1.0), VP3.sigma(1.0)
    c1 = s1 * s1 * lam + sg1 * sg1
    x_T = s1 * mu + math.sqrt(c1) * np.random.default_rng(0).standard_normal((n, 1))
    m, v = em_moments(VP3, mu, lam, time_grid(VP3, steps), r, (s1 * mu, c1))
    x = sample(VP3, g, x_T, method="euler_maruyama", r=r, steps=steps, seed=2).x[:, 0]
    assert abs(x.mean() - m) < 4 * math.sqrt(v / n)
    assert abs(x.var(ddof=1) - v) < 4 * v * math.sqrt(2 / (n - 1))
    if r == 1.0:  # 40 steps are coarse: the recursion (and the samples) are off the data
        c0 = VP3.s(VP3.t_min) ** 2 * lam + VP3.sigma(VP3.t_min) ** 2
        assert abs(v - c0) > 10 * v * math.sqrt(2 / (n - 1))


@pytest.mark.parametrize("r", [1.0, 0.5])
def test_euler_maruyama_is_weakly_first_order(r):
    """The variance error of the exact recursion halves when the steps double (known answer 5:
    ratios 2.05 -> 2.01). With r = 0.5 the error is smaller and reaches the asymptotic regime
    later (log2 ratios 1.25, 1.15, 1.08 from 100 steps), hence 400 to 3200 steps."""
    mu, lam = 0.5, 0.3
    s1, sg1 = VP3.s(1.0), VP3.sigma(1.0)
    c1 = s1 * s1 * lam + sg1 * sg1
    c0 = VP3.s(VP3.t_min) ** 2 * lam + VP3.sigma(VP3.t_min) ** 2
    errs = [
        em_moments(VP3, mu, lam, time_grid(VP3, n), r, (s1 * mu, c1))[1] - c0
        for n in (400, 800, 1600, 3200)
    ]
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - 1) < 0.2), (errs, rates)


# ---------------------------------------------------------------------------------------------
# 7. stochastic samplers reproduce the GMM moments


@pytest.mark.parametrize(
    "kw",
    [
        dict(method="euler_maruyama", r=1.0),
        dict(method="euler_maruyama", r=0.5),
        dict(method="ancestral"),
        dict(method="ddim", eta=0.5),
        dict(method="pc", steps=200, denoise_final=True),
    ],
    ids=["em-r1", "em-r0.5", "ancestral", "ddim-eta0.5", "pc"],
)
def test_sde_samplers_reproduce_the_mixture_moments(kw):
    """n = 20k samples from the process prior with 400 steps (pc: 200 predictor + 200 corrector
    evaluations). Tolerance: 4 Monte-Carlo standard errors plus a discretisation allowance of
    0.015 (means) and 0.03 (covariance entries; the variances are 1.6 and 2.7). The measured
    biases at these step counts are below 0.015 and 0.025 (the largest: ancestral's
    fixed_small variance), while a broken noise scale or drift moves them by 0.1-1."""
    n = 20_000
    kw = {"steps": 400, **kw}
    x = sample(VP3, GMM, shape=(n, 2), seed=21, **kw).x
    mean, cov = mixture_moments(GMM)
    dev = x - x.mean(axis=0)
    se_mean = np.sqrt(np.diag(cov) / n)
    prods = dev[:, :, None] * dev[:, None, :]
    se_cov = prods.reshape(n, 4).std(axis=0).reshape(2, 2) / math.sqrt(n)
    assert np.all(np.abs(x.mean(axis=0) - mean) < 4 * se_mean + 0.015), x.mean(axis=0) - mean
    got_cov = np.cov(x.T)
    assert np.all(np.abs(got_cov - cov) < 4 * se_cov + 0.03), got_cov - cov


def test_pc_replays_in_numpy():
    """Corrector ``x += e score + sqrt(2 e) z_c`` with ``e = 2 (s_t / s_t')^2 (snr sigma_t)^2``
    (noise: stream "corrector", counter ``step * n_corrector + j``), then an Euler-Maruyama
    predictor with r = 1 (stream "step", counter ``step``)."""
    n, seed, snr, nc = 6, 13, 0.2, 2
    grid = time_grid(VP3, 5)
    x_T = exact_start(VP3, GMM, n, 0)
    got = sample(VP3, GMM, x_T, method="pc", grid=grid, snr=snr, n_corrector=nc, seed=seed)
    assert got.nfe == 5 * (nc + 1)
    x = x_T.copy()
    for i, (t, t2) in enumerate(zip(grid[:-1], grid[1:])):
        s, sig = VP3.s(t), VP3.sigma(t)
        e = 2 * (s / VP3.s(t2)) ** 2 * (snr * sig) ** 2
        for j in range(nc):
            z = _core.diffusion_normals(
                seed, stream="corrector", first_index=0, step=i * nc + j, n=n, d=2
            )
            x = x + e * GMM.score(x, s, sig) + math.sqrt(2 * e) * z
        h, beta = t2 - t, VP3.beta(t)
        x = x + h * (-0.5 * beta * x - beta * GMM.score(x, s, sig))
        x = x + math.sqrt(beta * abs(h)) * step_noise(seed, i, n, 2)
    np.testing.assert_allclose(got.x, x, rtol=1e-11, atol=1e-11)


def test_langevin_corrector_keeps_a_gaussian_marginal():
    """Known answer 9: Langevin steps with the exact score leave p_t invariant, up to the O(e)
    bias of unadjusted Langevin. On 1-D Gaussian data the chain is affine: with ``c`` the
    marginal variance, ``x' - m = (1 - e / c) (x - m) + sqrt(2 e) z``, whose variance recursion
    tends to ``c / (1 - e / (2 c))``. Thirty corrector steps at t = 0.5 (and a negligible
    predictor step) from the exact marginal match that recursion within Monte-Carlo error."""
    mu, lam, n, snr, nc = 0.5, 0.3, 50_000, 0.2, 30
    g = GaussianMixture([1.0], [[mu]], [lam], "spherical")
    t, t2 = 0.5, 0.5 - 1e-9
    s, sig = VP3.s(t), VP3.sigma(t)
    c = s * s * lam + sig * sig
    x_t = s * mu + math.sqrt(c) * np.random.default_rng(3).standard_normal((n, 1))
    x = sample(VP3, g, x_t, method="pc", grid=[t, t2], n_corrector=nc, snr=snr, seed=4).x[:, 0]
    e = 2 * (s / VP3.s(t2)) ** 2 * (snr * sig) ** 2
    v = c
    for _ in range(nc):
        v = (1 - e / c) ** 2 * v + 2 * e
    assert abs(v - c / (1 - e / (2 * c))) < 1e-3  # (nearly) at the chain's stationary variance
    assert abs(x.mean() - s * mu) < 4 * math.sqrt(v / n)
    assert abs(x.var(ddof=1) - v) < 4 * v * math.sqrt(2 / (n - 1))
