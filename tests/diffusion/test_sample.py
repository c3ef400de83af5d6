"""Samplers (``latentgeo.diffusion.sample``) against known answers.

References (see ../shared/notes/diffusion.md, sections 4-5):

- Gaussian data: the probability-flow ODE is affine per eigendirection of the covariance,
  ``x_t - s_t mu = sqrt(c_t / c_T) (x_T - s_T mu)`` with ``c_t = s_t^2 lam + sigma_t^2``.
- Convergence orders against an adaptive reference at tolerance 1e-12.
- DDIM(eta = 0) is Euler on ``du / dsigma~ = eps`` with ``u = x / s``, ``sigma~ = sigma / s``.
- With one Gaussian component the score is affine in x, so DDPM ancestral sampling and
  Euler-Maruyama are affine maps plus Gaussian noise: exact mean/variance recursions in numpy.
- The counter-based noise is exposed (``latentgeo._core.diffusion_normals``), so stochastic
  samplers can be replayed exactly in numpy.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentgeo import _core
from latentgeo.diffusion import (
    EDM,
    GRIDS,
    SAMPLERS,
    VE,
    VP,
    DiscreteDDPM,
    GaussianMixture,
    ModelAdapter,
    NoiseProcess,
    SubVP,
    VPCosine,
    prior_sample,
    reverse_mean_var,
    reverse_variance,
    sample,
    time_grid,
)
from latentgeo.diffusion._grids import _schedule_args

# A 2-D mixture with three well-separated diagonal components (the prototype's test case).
GMM = GaussianMixture(
    [0.3, 0.5, 0.2],
    [[-2.0, 0.0], [1.5, 1.0], [0.5, -2.0]],
    [[0.3, 0.5], [0.4, 0.2], [0.6, 0.3]],
    "diag",
)
VP3 = VP(eps=1e-3)
CONTINUOUS = [VP(), SubVP(), VPCosine(), VE(), EDM()]
CONT_IDS = [type(p).__name__ for p in CONTINUOUS]
ODE_METHODS = ("euler", "heun", "midpoint", "rk4", "ddim", "dpmpp_2m", "dopri5")
SDE_METHODS = ("euler_maruyama", "ancestral", "pc")


def mixture_moments(g):
    """Mean and covariance of the data distribution of a GaussianMixture."""
    w, mu, cov = g.weights, g.means, g.full_covariances()
    mean = w @ mu
    dev = mu - mean
    return mean, np.einsum("k,kij->ij", w, cov) + np.einsum("k,ki,kj->ij", w, dev, dev)


def exact_start(process, g, n, seed):
    """n draws from the exact marginal p_T of g at t_max."""
    t = process.t_max
    return g.marginal(process.s(t), process.sigma(t)).sample(n, seed)


def eps_fn(process, g):
    """A callable eps model that is the exact GMM noise prediction -sigma * score."""

    def fn(x, t):
        s, sig = np.asarray(process.s(t)), np.asarray(process.sigma(t))
        return -sig[:, None] * g.score(x, s, sig)

    return fn


# ---------------------------------------------------------------------------------------------
# 1. Gaussian data: the flow map is affine


@pytest.mark.parametrize("proc", CONTINUOUS, ids=CONT_IDS)
def test_gaussian_flow_matches_the_affine_closed_form(proc):
    """dopri5 at 1e-11 from exact p_T reproduces the per-eigendirection affine flow to 1e-8.

    ``x_0 - s_0 mu = Q diag(sqrt(c_0 / c_T)) Q^T (x_T - s_T mu)``, ``c = s^2 lam + sigma^2``
    (for VE/EDM, s = 1: ``x(sigma) - mu = sqrt((lam + sigma^2) / (lam + sigma_T^2)) (...)``).
    """
    mu = np.array([1.0, -0.5])
    cov = np.array([[0.5, 0.3], [0.3, 0.4]])
    g = GaussianMixture([1.0], mu[None], cov[None], "full")
    lam, q = np.linalg.eigh(cov)
    t0, t1 = proc.t_min, proc.t_max
    (s0, sg0), (s1, sg1) = (proc.s(t0), proc.sigma(t0)), (proc.s(t1), proc.sigma(t1))
    x_T = exact_start(proc, g, 50, 0)
    res = sample(proc, g, x_T, method="dopri5", rtol=1e-11, atol=1e-11, max_steps=100_000)
    ratio = np.sqrt((s0**2 * lam + sg0**2) / (s1**2 * lam + sg1**2))
    want = s0 * mu + (x_T - s1 * mu) @ (q @ np.diag(ratio) @ q.T).T
    np.testing.assert_allclose(res.x, want, rtol=0, atol=1e-8)
    assert res.t == t0 and not res.stopped
    assert res.accepted.shape == (50,) and (res.accepted > 10).all()


def test_gaussian_flow_of_fixed_steppers_approaches_the_closed_form():
    """A 1-D Gaussian under VE: RK4 with 200 steps is within 1e-6 of the affine map."""
    proc = VE(eps=1e-3)
    mu, lam = 0.7, 0.2
    g = GaussianMixture([1.0], [[mu]], [lam], "spherical")
    x_T = np.linspace(-100, 100, 9)[:, None]
    sg0, sg1 = proc.sigma(proc.t_min), proc.sigma(proc.t_max)
    want = mu + np.sqrt((lam + sg0**2) / (lam + sg1**2)) * (x_T - mu)
    got = sample(proc, g, x_T, method="rk4", steps=200, grid="karras").x
    np.testing.assert_allclose(got, want, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# 2. convergence orders on a GMM


@pytest.fixture(scope="module")
def order_problem():
    x_T = exact_start(VP3, GMM, 32, 1)
    ref = sample(VP3, GMM, x_T, method="dopri5", rtol=1e-12, atol=1e-12, max_steps=100_000).x
    return x_T, ref


@pytest.mark.parametrize(
    "method, grid, steps, order",
    [
        ("euler", "uniform", (200, 400, 800), 1),
        ("ddim", "uniform", (100, 200, 400), 1),
        ("heun", "uniform", (100, 200, 400), 2),
        ("midpoint", "uniform", (100, 200, 400), 2),
        ("rk4", "uniform", (40, 80, 160), 4),
    ],
)
def test_convergence_order(order_problem, method, grid, steps, order):
    """Halving the step divides the error by 2^order: log2 ratios within 0.2 of the order.

    Step counts are in the asymptotic regime (Euler at 50 -> 100 steps gives 0.93); RK4's
    finest error (~1e-7) stays far above the reference's (~1e-11).
    """
    x_T, ref = order_problem
    errs = [
        np.abs(sample(VP3, GMM, x_T, method=method, steps=n, grid=grid).x - ref).max()
        for n in steps
    ]
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - order) < 0.2), (errs, rates)


def test_dpmpp_2m_is_second_order_on_a_logsnr_grid(order_problem):
    """DPM-Solver++ 2M: log2 ratios 1.94 and 1.98 at 80/160/320 logsnr steps (0.15 allowed: the
    multistep's first step is first order, a vanishing share of the error)."""
    x_T, ref = order_problem
    errs, nfes = [], []
    for n in (80, 160, 320):
        res = sample(VP3, GMM, x_T, method="dpmpp_2m", steps=n, grid="logsnr")
        errs.append(np.abs(res.x - ref).max())
        nfes.append(res.nfe)
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - 2) < 0.15), (errs, rates)
    assert nfes == [80, 160, 320]  # one evaluation per step


def test_nfe_per_step():
    x = np.zeros((3, 2))
    per_step = {"euler": 1, "heun": 2, "midpoint": 2, "rk4": 4, "ddim": 1, "dpmpp_2m": 1}
    per_step.update(euler_maruyama=1, ancestral=1)
    for method, k in per_step.items():
        assert sample(VP3, GMM, x, method=method, steps=7).nfe == 7 * k, method
        assert sample(VP3, GMM, x, method=method, steps=7, denoise_final=True).nfe == 7 * k + 1
    assert sample(VP3, GMM, x, method="pc", steps=7, n_corrector=2).nfe == 21


# ---------------------------------------------------------------------------------------------
# 3. DDIM(eta = 0) = Euler in the rescaled variables


def ddim_as_euler(process, g, x, grid, to_data):
    """Euler on du/dsigma~ = eps(x) with u = x / s, sigma~ = sigma / s, eps = -sigma * score."""
    x = x.copy()
    for t, t2 in zip(grid[:-1], grid[1:]):
        s, sig, s2, sig2 = process.s(t), process.sigma(t), process.s(t2), process.sigma(t2)
        eps = -sig * g.score(x, s, sig)
        x = s2 * (x / s + (sig2 / s2 - sig / s) * eps)
    if to_data:  # one more Euler step to sigma~ = 0, s = 1
        s, sig = process.s(grid[-1]), process.sigma(grid[-1])
        x = x / s - sig / s * (-sig * g.score(x, s, sig))
    return x


@pytest.mark.parametrize("grid", ["uniform", "logsnr"])
def test_ddim_is_euler_in_the_rescaled_variables(grid):
    x_T = exact_start(VP3, GMM, 20, 2)
    times = time_grid(VP3, 25, grid)
    for to_data in (False, True):
        got = sample(VP3, GMM, x_T, method="ddim", steps=25, grid=grid, denoise_final=to_data).x
        want = ddim_as_euler(VP3, GMM, x_T, times, to_data)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_ddim_is_euler_on_a_discrete_chain_with_an_integer_time_model():
    chain = DiscreteDDPM(T=200)
    seen = []

    def fn(x, t):
        seen.append(t.dtype)
        return eps_fn(chain, GMM)(x, t)

    x_T = prior_sample(chain, (16, 2), seed=3)
    times = time_grid(chain, 20)
    got = sample(chain, fn, x_T, method="ddim", steps=20)  # denoise_final defaults to True
    want = ddim_as_euler(chain, GMM, x_T, times, True)
    np.testing.assert_allclose(got.x, want, rtol=1e-12, atol=1e-12)
    # a discrete grid of 20 indices: 19 steps between them and one to the data
    assert got.t is None and got.nfe == 20 and set(seen) == {np.dtype(np.int64)}
    # the analytic model on the same chain gives the same samples
    np.testing.assert_allclose(
        sample(chain, GMM, x_T, method="ddim", steps=20).x, want, rtol=1e-12, atol=1e-12
    )


def test_first_order_dpm_solver_step_is_ddim():
    """DPM-Solver++ starts with a first-order step, which is DDIM (DPM-Solver-1)."""
    x_T = exact_start(VP3, GMM, 10, 4)
    for grid in ([1.0, 0.4], [0.6, 0.05]):
        a = sample(VP3, GMM, x_T, method="dpmpp_2m", grid=grid).x
        b = sample(VP3, GMM, x_T, method="ddim", grid=grid).x
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# 4. DDPM ancestral sampling and DDIM with eta > 0, replayed with the same noise


def step_noise(seed, step, n, d, first_index=0):
    return _core.diffusion_normals(
        seed, stream="step", first_index=first_index, step=step, n=n, d=d
    )


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


# ---------------------------------------------------------------------------------------------
# 8. reproducibility


def _samples(model, method, **kw):
    return sample(VP3, model, shape=(64, 2), method=method, steps=12, seed=9, eta=0.5, **kw).x


@pytest.mark.parametrize("method", ["euler_maruyama", "ancestral", "ddim", "pc", "dopri5"])
def test_samples_do_not_depend_on_batching_or_threads(method):
    base = _samples(GMM, method)
    for kw in (
        dict(batch_size=1),
        dict(batch_size=7),
        dict(batch_size=64),
        dict(n_threads=1),
        dict(n_threads=2, batch_size=7),
    ):
        np.testing.assert_array_equal(_samples(GMM, method, **kw), base, err_msg=str(kw))
    np.testing.assert_array_equal(_samples(GMM, method), base)  # same seed, same output


@pytest.mark.parametrize("method", ["euler_maruyama", "ancestral"])
def test_callable_samples_do_not_depend_on_batching(method):
    fn = eps_fn(VP3, GMM)
    base = _samples(fn, method)
    for b in (1, 7, 64):
        np.testing.assert_array_equal(_samples(fn, method, batch_size=b), base)
    np.testing.assert_allclose(base, _samples(GMM, method), rtol=1e-9, atol=1e-9)


def test_threads_do_not_change_large_batches():
    """Noise rows are drawn on several threads from 2^12 values, the element passes of the
    update run on several threads from 2^20 values."""
    for kw in (
        dict(shape=(9000, 2), method="euler_maruyama", steps=5, seed=1),
        dict(shape=(600_000, 2), method="heun", steps=2, seed=2),
    ):
        np.testing.assert_array_equal(
            sample(VP3, GMM, n_threads=1, **kw).x, sample(VP3, GMM, n_threads=2, **kw).x
        )


@pytest.mark.parametrize("method", SDE_METHODS)
def test_seeds_change_stochastic_samples(method):
    a = sample(VP3, GMM, shape=(8, 2), method=method, steps=5, seed=1).x
    b = sample(VP3, GMM, shape=(8, 2), method=method, steps=5, seed=2).x
    x = np.zeros((8, 2))
    c = sample(VP3, GMM, x, method=method, steps=5, seed=1).x
    d = sample(VP3, GMM, x, method=method, steps=5, seed=2).x
    assert not np.any(a == b) and not np.any(c == d)


def test_seed_of_a_deterministic_method_only_sets_the_prior():
    x = np.ones((4, 2))
    np.testing.assert_array_equal(sample(VP3, GMM, x, seed=1).x, sample(VP3, GMM, x, seed=2).x)


def test_prior_draws_are_keyed_by_row_index():
    full = prior_sample(VP3, (64, 2), seed=5)
    np.testing.assert_array_equal(prior_sample(VP3, (10, 2), seed=5, first_index=20), full[20:30])
    assert not np.array_equal(prior_sample(VP3, (64, 2), seed=6), full)
    np.testing.assert_array_equal(
        sample(VP3, GMM, shape=(64, 2), steps=3, seed=5, batch_size=7).x,
        sample(VP3, GMM, full, steps=3, seed=5).x,
    )
    ve = prior_sample(VE(), (64, 2), seed=5)  # scaled by the prior std
    np.testing.assert_allclose(ve, 50.0 * full, rtol=1e-15)
    multi = prior_sample(VP3, (4, 2, 3), seed=5)
    np.testing.assert_array_equal(multi.reshape(4, 6), prior_sample(VP3, (4, 6), seed=5))


def test_step_noise_follows_the_row_index():
    """Noise is keyed by (seed, row index, step), not by the row's content: one
    Euler-Maruyama step under VE with a zero score adds sqrt(g^2 |h|) diffusion_normals(...)."""
    proc = VE()
    grid = [1.0, 0.9]
    h = 0.1
    zero = lambda x, t: np.zeros_like(x)  # noqa: E731
    x = np.random.default_rng(0).normal(size=(10, 3))
    perm = np.random.default_rng(1).permutation(10)
    scale = math.sqrt(proc.g(1.0) ** 2 * h)
    want = step_noise(8, 0, 10, 3)
    for xs, kw in ((x, {}), (x[perm], {}), (x, dict(batch_size=3))):
        out = sample(proc, zero, xs, method="euler_maruyama", grid=grid, kind="score", seed=8, **kw)
        np.testing.assert_allclose((out.x - xs) / scale, want, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# 9. API behaviour


@pytest.mark.parametrize("proc", CONTINUOUS + [VP(eps=0.0)], ids=CONT_IDS + ["VP0"])
@pytest.mark.parametrize("kind", GRIDS)
def test_time_grid_kinds(proc, kind):
    if kind in ("logsnr", "karras") and proc.sigma(proc.t_min) == 0:
        with pytest.raises(ValueError, match="sigma > 0"):
            time_grid(proc, 10, kind)
        return
    grid = time_grid(proc, 10, kind)
    assert grid.shape == (11,) and grid.dtype == np.float64
    assert grid[0] == proc.t_max and grid[-1] == proc.t_min
    assert np.all(np.diff(grid) < 0)
    u = np.linspace(0, 1, 11)
    if kind == "uniform":
        np.testing.assert_allclose(grid, proc.t_max + u * (proc.t_min - proc.t_max), rtol=1e-11)
    elif kind == "quadratic":
        np.testing.assert_allclose(np.diff(np.sqrt(grid)), np.diff(np.sqrt(grid))[0], rtol=1e-9)
    elif kind == "logsnr":
        lam = proc.log_snr(grid)
        np.testing.assert_allclose(np.diff(lam), (lam[-1] - lam[0]) / 10, rtol=1e-8)
    else:
        sig = proc.sigma(grid) / proc.s(grid)
        hi, lo = sig[0], sig[-1]
        want = (hi ** (1 / 7) + u * (lo ** (1 / 7) - hi ** (1 / 7))) ** 7
        np.testing.assert_allclose(sig, want, rtol=1e-8)


def test_karras_grid_on_edm_is_the_karras_schedule():
    grid = time_grid(EDM(), 18, "karras")
    i = np.arange(19)
    want = (80 ** (1 / 7) + i / 18 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
    np.testing.assert_allclose(grid, want, rtol=1e-12)
    assert grid[0] == 80.0 and grid[-1] == 0.002
    grid3 = time_grid(EDM(), 18, "karras", rho=3.0)
    np.testing.assert_allclose(
        grid3[1], (80 ** (1 / 3) + (0.002 ** (1 / 3) - 80 ** (1 / 3)) / 18) ** 3, rtol=1e-12
    )


def test_time_grid_ends_and_errors():
    grid = time_grid(VP3, 4, t_start=0.8, t_end=0.2)
    np.testing.assert_allclose(grid, [0.8, 0.65, 0.5, 0.35, 0.2], rtol=1e-14)
    with pytest.raises(ValueError, match="larger"):
        time_grid(VP3, 4, t_start=0.2, t_end=0.8)
    with pytest.raises(ValueError, match="outside the domain"):
        time_grid(VP3, 4, t_start=1.5)
    with pytest.raises(ValueError, match="grid"):
        time_grid(VP3, 4, "cosine")
    with pytest.raises(ValueError, match="steps"):
        time_grid(VP3, 0)
    with pytest.raises(ValueError):
        time_grid(EDM(), 4, "karras", rho=0.0)


def test_discrete_time_grids():
    chain = DiscreteDDPM(T=50)
    grid = time_grid(chain, 10)
    np.testing.assert_array_equal(grid, np.round(np.linspace(49, 0, 10)))
    np.testing.assert_array_equal(time_grid(chain, 50), np.arange(49, -1, -1))
    quad = time_grid(chain, 20, "quadratic")
    assert quad[0] == 49 and quad[-1] == 0 and np.all(np.diff(quad) <= -1)
    assert np.all(quad == np.round(quad)) and np.all(np.diff(quad)[-5:] == -1)
    np.testing.assert_array_equal(time_grid(chain, 3, t_start=30, t_end=10), [30, 20, 10])
    assert time_grid(chain, 1).tolist() == [49.0]
    with pytest.raises(ValueError, match="exceeds"):
        time_grid(chain, 51)
    with pytest.raises(ValueError, match="uniform"):
        time_grid(chain, 5, "karras")
    with pytest.raises(ValueError, match="whole number"):
        time_grid(chain, 5, t_start=10.5)


def test_explicit_grids_equal_named_grids():
    x = exact_start(VP3, GMM, 5, 0)
    for kind in GRIDS:
        a = sample(VP3, GMM, x, steps=6, grid=kind)
        b = sample(VP3, GMM, x, grid=time_grid(VP3, 6, kind))
        np.testing.assert_array_equal(a.x, b.x)
    # a custom grid need not start at t_max; the result carries its last time
    res = sample(VP3, GMM, x, grid=[0.5, 0.3, 0.2])
    assert res.t == 0.2 and res.steps == 2
    chain = DiscreteDDPM(T=30)
    res = sample(chain, GMM, x, method="ddim", grid=np.array([29, 10, 3]))
    assert res.t is None and res.nfe == 3 and res.steps == 3
    res = sample(chain, GMM, x, method="ddim", grid=[29, 10, 3], denoise_final=False)
    assert res.t == 3.0 and res.nfe == 2
    # a one-index discrete grid is a single denoising evaluation
    one = sample(chain, GMM, x, method="ddim", grid=[7])
    np.testing.assert_allclose(one.x, GMM.denoise(x, chain.s(7), chain.sigma(7)), rtol=1e-13)


def test_save_every_trajectory():
    grid = time_grid(VP3, 10)
    res = sample(VP3, GMM, shape=(5, 2), method="euler_maruyama", steps=10, save_every=3, seed=1)
    assert res.trajectory.shape == (3, 5, 2)
    np.testing.assert_array_equal(res.trajectory_t, grid[[3, 6, 9]])
    res = sample(VP3, GMM, shape=(5, 2), steps=10, save_every=1, denoise_final=True)
    assert res.trajectory.shape == (11, 5, 2) and np.isnan(res.trajectory_t[-1])
    np.testing.assert_array_equal(res.trajectory_t[:-1], grid[1:])
    np.testing.assert_array_equal(res.trajectory[-1], res.x)
    # batching does not change the trajectory
    batched = sample(
        VP3, GMM, shape=(5, 2), steps=10, save_every=1, denoise_final=True, batch_size=2
    )
    np.testing.assert_array_equal(batched.trajectory, res.trajectory)
    # the saved states are the states a run with fewer steps ends in
    short = sample(VP3, GMM, shape=(5, 2), grid=grid[:5])
    np.testing.assert_array_equal(res.trajectory[3], short.x)
    assert sample(VP3, GMM, shape=(5, 2), steps=4).trajectory is None
    d = res.to_dict()
    assert "trajectory" not in d and "x" not in d and d["nfe"] == res.nfe
    assert np.isnan(d["trajectory_t"][-1])


def test_callback_info_and_early_stop():
    grid = time_grid(VP3, 10)
    infos = []

    def cb(info):
        infos.append(info)
        info["x"][:] = 1e9  # a copy: changing it has no effect
        return info["step"] == 4

    res = sample(VP3, GMM, shape=(5, 2), steps=10, method="heun", callback=cb)
    assert [i["step"] for i in infos] == [1, 2, 3, 4]
    assert [i["t"] for i in infos] == grid[1:5].tolist()
    assert all(i["first_index"] == 0 and i["x"].shape == (5, 2) for i in infos)
    assert res.stopped and res.steps == 4 and res.t == grid[4] and res.nfe == 8
    full = sample(VP3, GMM, shape=(5, 2), grid=grid[:5], method="heun")
    np.testing.assert_array_equal(res.x, full.x)

    def stop(info):
        if info["step"] == 3:
            raise StopIteration

    res = sample(VP3, GMM, shape=(5, 2), steps=10, method="ddim", callback=stop)
    assert res.stopped and res.steps == 3 and res.t == grid[3]
    # the denoising step reports t = None; a full run is not marked stopped
    ts = []
    res = sample(
        VP3, GMM, shape=(5, 2), steps=3, denoise_final=True, callback=lambda i: ts.append(i["t"])
    )
    assert ts[-1] is None and len(ts) == 4 and not res.stopped and res.steps == 4
    # batches report their first sample index
    firsts = []
    sample(
        VP3,
        GMM,
        shape=(5, 2),
        steps=2,
        batch_size=2,
        callback=lambda i: firsts.append((i["first_index"], i["x"].shape[0])),
    )
    assert sorted(set(firsts)) == [(0, 2), (2, 2), (4, 1)]


def test_dopri5_reports_steps_per_sample_and_stops():
    res = sample(VP3, GMM, shape=(6, 2), method="dopri5", rtol=1e-6, atol=1e-6)
    assert res.accepted.shape == (6,) and res.rejected.shape == (6,)
    assert (res.accepted > 0).all() and res.nfe > res.accepted.max()
    assert res.t == VP3.t_min and not res.stopped
    d = res.to_dict()
    json.dumps(d)
    assert d["accepted"] == res.accepted.tolist() and d["trajectory_t"] is None
    # tighter tolerances take more steps
    tight = sample(VP3, GMM, shape=(6, 2), method="dopri5", rtol=1e-9, atol=1e-9)
    assert (tight.accepted > res.accepted).all()
    infos = []

    def cb(info):
        infos.append(info)
        return info["step"] == 3

    res = sample(VP3, GMM, shape=(6, 2), method="dopri5", callback=cb)
    assert res.stopped and res.t is None and res.steps == 3
    assert infos[0]["t"].shape == (6,) and np.all(infos[-1]["t"] < VP3.t_max)
    # a given first step is used
    a = sample(VP3, GMM, shape=(6, 2), method="dopri5", first_step=1e-3)
    assert a.nfe != res.nfe and np.isfinite(a.x).all()


def test_progress_bar(capsys):
    sample(VP3, GMM, shape=(3, 2), steps=5, progress=True)
    sample(VP3, lambda x, t: -x, np.zeros((3, 2)), steps=5, kind="score", progress=True)
    bars = [line for line in capsys.readouterr().err.split("\n") if line]
    assert len(bars) == 2 and all("100.0%" in bar.split("\r")[-1] for bar in bars)


def test_float32_states():
    seen = []
    fn = eps_fn(VP3, GMM)

    def f32(x, t):
        seen.append((x.dtype, t.dtype))
        return fn(x.astype(np.float64), t).astype(np.float32)

    x = exact_start(VP3, GMM, 8, 0)
    res = sample(
        VP3,
        f32,
        x.astype(np.float32),
        steps=8,
        save_every=4,
        callback=lambda i: seen.append(("cb", i["x"].dtype)),
    )
    assert res.x.dtype == np.float32 and res.trajectory.dtype == np.float32
    assert set(seen) == {(np.dtype(np.float32), np.dtype(np.float64)), ("cb", np.dtype(np.float32))}
    ref = sample(VP3, GMM, x, steps=8).x
    np.testing.assert_allclose(res.x, ref, rtol=1e-4, atol=1e-4)
    # an analytic model also returns float32 for float32 input; int input gives float64
    assert sample(VP3, GMM, x.astype(np.float32), steps=2).x.dtype == np.float32
    assert sample(VP3, GMM, np.zeros((2, 2), dtype=int), steps=2).x.dtype == np.float64


def test_multi_axis_states_with_a_callable():
    seen = []

    def fn(x, t):
        seen.append(x.shape)
        return -x / (VP3.s(t) ** 2 * 0.5 + VP3.sigma(t) ** 2).reshape(-1, 1, 1)

    def flat(x, t):
        return fn(x.reshape(-1, 2, 3), t).reshape(-1, 6)

    x = np.random.default_rng(0).normal(size=(4, 2, 3))
    res = sample(VP3, fn, x, steps=6, kind="score", method="euler_maruyama", seed=3, save_every=3)
    assert res.x.shape == (4, 2, 3) and res.trajectory.shape == (2, 4, 2, 3)
    assert set(seen) == {(4, 2, 3)}
    ref = sample(VP3, flat, x.reshape(4, 6), steps=6, kind="score", method="euler_maruyama", seed=3)
    np.testing.assert_array_equal(res.x.reshape(4, 6), ref.x)
    assert sample(VP3, GMM, shape=(4, 2), steps=2).x.shape == (4, 2)
    with pytest.raises(ValueError, match="dimension mismatch"):
        sample(VP3, GMM, np.zeros((4, 1, 2)), steps=2)


def _conversions(process, g, kind):
    """A callable returning the exact GMM prediction in parametrisation `kind`."""

    def fn(x, t):
        s = np.asarray(process.s(t))[:, None]
        sig = np.asarray(process.sigma(t))[:, None]
        score = g.score(x, s[:, 0], sig[:, 0])
        eps = -sig * score
        x0 = (x + sig * sig * score) / s
        return {
            "score": score,
            "eps": eps,
            "x0": x0,
            "v": (s * eps - sig * x0) / np.sqrt(s * s + sig * sig),
        }[kind]

    return fn


@pytest.mark.parametrize(
    "proc", [VP3, VE(eps=1e-3), DiscreteDDPM(T=100)], ids=["VP", "VE", "discrete"]
)
@pytest.mark.parametrize("kind", ["score", "eps", "x0", "v"])
def test_model_kinds_are_converted_exactly(proc, kind):
    x = np.random.default_rng(0).normal(size=(10, 2))
    method = "ddim" if isinstance(proc, DiscreteDDPM) else "heun"
    kw = dict(method=method, steps=15, seed=1)
    want = sample(proc, GMM, x, **kw).x
    got = sample(proc, _conversions(proc, GMM, kind), x, kind=kind, **kw).x
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    adapter = ModelAdapter(_conversions(proc, GMM, kind), kind, proc)
    np.testing.assert_allclose(sample(proc, adapter, x, **kw).x, want, rtol=1e-10, atol=1e-10)


def test_model_adapter_for_another_process_is_rejected():
    adapter = ModelAdapter(lambda x, t: x, "eps", VP())
    with pytest.raises(ValueError, match="different process"):
        sample(VP3, adapter, np.zeros((2, 2)))
    sample(
        VP(eps=1e-3), ModelAdapter(lambda x, t: x, "eps", VP(eps=1e-3)), np.zeros((2, 2)), steps=2
    )  # equal parameters are the same process
    with pytest.raises(ValueError, match="different process"):
        sample(
            DiscreteDDPM(T=10),
            ModelAdapter(lambda x, t: x, "eps", DiscreteDDPM(T=10)),
            np.zeros((2, 2)),
            method="ddim",
        )


def test_discrete_chain_methods():
    chain = DiscreteDDPM(T=100)
    for method in ("ddim", "ancestral", "dpmpp_2m"):
        res = sample(chain, GMM, shape=(50, 2), method=method, steps=30, seed=2)
        assert res.x.shape == (50, 2) and np.isfinite(res.x).all() and res.t is None
        assert res.nfe == 30  # one evaluation per index
    # DPM-Solver++ 2M on all 100 indices is close to DDIM (same ODE, higher order)
    a = sample(chain, GMM, shape=(50, 2), method="dpmpp_2m", steps=100, seed=2).x
    b = sample(chain, GMM, shape=(50, 2), method="ddim", steps=100, seed=2).x
    assert np.abs(a - b).max() < 0.1


def test_sample_result_to_dict():
    res = sample(VP3, GMM, shape=(3, 2), steps=3)
    d = res.to_dict()
    assert d == {
        "t": VP3.t_min,
        "nfe": 6,
        "steps": 3,
        "stopped": False,
        "trajectory_t": None,
        "accepted": None,
        "rejected": None,
    }
    json.dumps(d)


# ---------------------------------------------------------------------------------------------
# 10. bad input


def test_unknown_names():
    x = np.zeros((2, 2))
    with pytest.raises(ValueError, match="method"):
        sample(VP3, GMM, x, method="rk45")
    with pytest.raises(ValueError, match="grid"):
        sample(VP3, GMM, x, grid="cosine")
    with pytest.raises(ValueError, match="kind"):
        sample(VP3, lambda x, t: x, x, kind="noise")


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=1.5), TypeError, "steps"),
        (dict(t_start=1.5), ValueError, "outside the domain"),
        (dict(t_end=0.0), ValueError, "outside the domain"),
        (dict(t_start=0.2, t_end=0.5), ValueError, "larger"),
        (dict(grid=[0.2, 0.5]), ValueError, "decreasing"),
        (dict(grid=[0.5]), ValueError, "two times"),
        (dict(grid=[1.5, 0.5]), ValueError, "outside the domain"),
        (dict(grid=[[0.5, 0.2]]), ValueError, "1-D"),
        (dict(grid=[0.5, np.nan]), ValueError, "NaN"),
        (dict(method="ddim", eta=-0.1), ValueError, "eta"),
        (dict(method="euler_maruyama", r=-1.0), ValueError, "r must"),
        (dict(method="pc", snr=-1.0), ValueError, "snr"),
        (dict(method="pc", n_corrector=-1), ValueError, "n_corrector"),
        (dict(eta=np.nan), ValueError, "eta"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(seed=2**64), ValueError, "seed"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(save_every=0), ValueError, "save_every"),
        (dict(n_threads=0), ValueError, "n_threads"),
        (dict(method="dopri5", save_every=2), ValueError, "save_every"),
        (dict(method="dopri5", rtol=-1.0), ValueError, "rtol"),
        (dict(method="dopri5", rtol=0.0, atol=0.0), ValueError, "rtol"),
        (dict(method="dopri5", first_step=0.0), ValueError, "first_step"),
        (dict(method="dopri5", max_steps=3), ValueError, "max_steps"),
        (dict(callback=3), TypeError, "callback"),
        (dict(shape=(2, 2)), ValueError, "not both"),
    ],
)
def test_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        sample(VP3, GMM, np.zeros((2, 2)), **kw)


@pytest.mark.parametrize(
    "x, exc, match",
    [
        (np.array([[0.0, np.nan]]), ValueError, "NaN"),
        (np.array([[0.0, np.inf]]), ValueError, "NaN or infinite"),
        (np.zeros(3), ValueError, "batch axis"),
        (np.zeros((0, 2)), ValueError, "empty"),
        (np.zeros((2, 2), dtype=complex), TypeError, "real"),
        (np.zeros((2, 3)), ValueError, "dimension mismatch"),
    ],
)
def test_bad_states(x, exc, match):
    with pytest.raises(exc, match=match):
        sample(VP3, GMM, x)


def test_missing_states():
    with pytest.raises(ValueError, match="shape"):
        sample(VP3, GMM)
    with pytest.raises(ValueError, match="shape"):
        sample(VP3, GMM, shape=(3,))


@pytest.mark.parametrize("method", ["euler", "dopri5", "ddim", "euler_maruyama"])
def test_non_finite_model_output_reports_the_step(method):
    def fn(x, t):
        out = -x.copy()
        if t[0] < 0.45:
            out[1, 0] = np.nan
        return out

    with pytest.raises(ValueError, match=r"NaN or infinite values at step \d+ .*sample 1"):
        sample(VP3, fn, np.ones((3, 2)), method=method, steps=10, kind="score")
    with pytest.raises(ValueError, match="step 6"):  # the 7th step starts at t = 0.4006
        sample(VP3, fn, np.ones((3, 2)), method="euler", steps=10, kind="score")


@pytest.mark.parametrize(
    "out, exc, match",
    [
        (lambda x: x[:, :1], ValueError, "shape"),
        (lambda x: x.T, ValueError, "shape"),
        (lambda x: np.full(x.shape, "a"), ValueError, "real numbers"),
        (lambda x: None, ValueError, "real numbers"),
        (lambda x: np.full(x.shape, np.inf), ValueError, "NaN or infinite"),
    ],
)
def test_bad_model_output(out, exc, match):
    with pytest.raises(exc, match=match):
        sample(VP3, lambda x, t: out(x), np.ones((3, 2)), steps=3)


def test_model_output_conversions_are_accepted():
    ref = sample(VP3, lambda x, t: -x, np.ones((3, 2)), steps=3, kind="score").x
    for fn in (
        lambda x, t: (-x).tolist(),
        lambda x, t: np.asfortranarray(-x),
        lambda x, t: (-x).astype(np.float32),
    ):
        got = sample(VP3, fn, np.ones((3, 2)), steps=3, kind="score").x
        np.testing.assert_allclose(got, ref, rtol=1e-6)


@pytest.mark.parametrize("f32", [False, True])
def test_model_may_keep_or_modify_its_inputs(f32):
    # The loop refills the x and t arrays it hands to the model only when the model kept no
    # reference to them: kept arrays keep their values, in-place changes do not leak back.
    x = np.random.default_rng(3).standard_normal((6, 3))
    x = x.astype(np.float32) if f32 else x
    copies, kept, views = [], [], []

    def copying(x, t):
        copies.append((x.copy(), t.copy()))
        return -0.5 * x

    def keeping(x, t):
        kept.append((x, t))
        return -0.5 * x

    def viewing(x, t):
        views.append(x[:, :1])
        return -0.5 * x

    def mutating(x, t):
        x *= 4.0
        t *= 0.0
        return -0.125 * x

    kw = dict(method="heun", steps=4, kind="score")
    want = sample(VP(), copying, x, **kw).x
    np.testing.assert_array_equal(sample(VP(), keeping, x, **kw).x, want)
    assert len(kept) == len(copies) == 8
    for (xa, ta), (xb, tb) in zip(kept, copies):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ta, tb)
    np.testing.assert_array_equal(sample(VP(), viewing, x, **kw).x, want)
    for v, (xb, _) in zip(views, copies):
        np.testing.assert_array_equal(v, xb[:, :1])
    np.testing.assert_array_equal(sample(VP(), mutating, x, **kw).x, want)

    def in_place(x, t):
        x *= -0.5
        return x

    np.testing.assert_array_equal(sample(VP(), in_place, x, **kw).x, want)


def test_exceptions_of_the_model_and_callback_propagate():
    class Boom(Exception):
        pass

    def fn(x, t):
        raise Boom("model")

    def cb(info):
        raise Boom("callback")

    with pytest.raises(Boom, match="model"):
        sample(VP3, fn, np.ones((3, 2)))
    with pytest.raises(Boom, match="callback"):
        sample(VP3, GMM, np.ones((3, 2)), callback=cb)
    with pytest.raises(Boom, match="callback"):
        sample(VP3, GMM, np.ones((3, 2)), callback=cb, method="dopri5")


class _Custom(NoiseProcess):
    """A valid NoiseProcess the samplers do not know in closed form."""

    t_min, t_max, prior_std = 0.01, 1.0, 1.0

    def _s(self, t):
        return np.ones_like(t)

    def _sigma(self, t):
        return np.array(t, dtype=float)

    def _log_snr(self, t):
        return -2 * np.log(t)

    def _f_coef(self, t):
        return np.zeros_like(t)

    def _g2(self, t):
        return 2 * t

    def _t_from_sigma(self, sigma):
        return sigma

    def _t_from_log_snr(self, lam):
        return np.exp(-lam / 2)


def test_unsupported_processes_and_models():
    with pytest.raises(TypeError, match="process must be one of"):
        sample(_Custom(), GMM, np.zeros((2, 2)))
    with pytest.raises(TypeError, match="process must be one of"):
        sample("vp", GMM, np.zeros((2, 2)))

    class SlowerVP(VP):  # a subclass may change the closed forms Rust re-implements
        def _s(self, t):
            return np.exp(-0.25 * self._B(t))

    with pytest.raises(TypeError, match="subclasses are not accepted"):
        sample(SlowerVP(), GMM, np.zeros((2, 2)))
    with pytest.raises(TypeError, match="model must be"):
        sample(VP3, 3, np.zeros((2, 2)))
    chain = DiscreteDDPM(T=20)
    for method in ("euler", "heun", "rk4", "dopri5", "euler_maruyama", "pc"):
        with pytest.raises(ValueError, match="continuous process"):
            sample(chain, GMM, np.zeros((2, 2)), method=method)
    with pytest.raises(ValueError, match="whole number"):
        sample(chain, GMM, np.zeros((2, 2)), method="ddim", grid=[10.5, 3])
    with pytest.raises(ValueError, match="exceeds"):
        sample(chain, GMM, np.zeros((2, 2)), method="ddim", steps=21)
    with pytest.raises(ValueError, match="outside the domain"):
        sample(chain, GMM, np.zeros((2, 2)), method="ddim", grid=[20, 3])


# ---------------------------------------------------------------------------------------------
# 11. properties


def _random_mixture(seed, k, d):
    rng = np.random.default_rng(seed)
    return GaussianMixture(
        rng.dirichlet(np.ones(k)),
        rng.normal(scale=2.0, size=(k, d)),
        rng.uniform(0.05, 2.0, size=(k, d)),
        "diag",
    )


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 3),
    d=st.integers(1, 3),
    method=st.sampled_from([m for m in SAMPLERS]),
    steps=st.integers(1, 6),
    f32=st.booleans(),
    proc=st.sampled_from(CONTINUOUS),
)
def test_outputs_are_finite_with_the_right_shape_and_dtype(seed, k, d, method, steps, f32, proc):
    g = _random_mixture(seed, k, d)
    x = prior_sample(proc, (5, d), seed)
    if f32:
        x = x.astype(np.float32)
    res = sample(proc, g, x, method=method, steps=steps, seed=seed, eta=0.7, rtol=1e-4, atol=1e-4)
    assert res.x.shape == (5, d) and res.x.dtype == x.dtype
    assert np.isfinite(res.x).all()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(ODE_METHODS), n=st.integers(2, 12))
def test_deterministic_methods_commute_with_permutations(seed, method, n):
    """Rows are independent (dopri5 included: one step size per sample)."""
    x = prior_sample(VP3, (n, 2), seed)
    perm = np.random.default_rng(seed).permutation(n)
    a = sample(VP3, GMM, x, method=method, steps=5, rtol=1e-6, atol=1e-6).x
    b = sample(VP3, GMM, x[perm], method=method, steps=5, rtol=1e-6, atol=1e-6).x
    np.testing.assert_array_equal(b, a[perm])


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 10), split=st.integers(1, 9))
def test_stochastic_rows_depend_on_their_global_index(seed, n, split):
    """Sampling rows [split:] alone differs from the full run (their noise index changes), while
    batch_size splits keep it (the batches pass their first global index)."""
    split = min(split, n - 1)
    x = prior_sample(VP3, (n, 2), seed)
    full = sample(VP3, GMM, x, method="euler_maruyama", steps=4, seed=seed).x
    batched = sample(VP3, GMM, x, method="euler_maruyama", steps=4, seed=seed, batch_size=split).x
    np.testing.assert_array_equal(batched, full)
    tail = sample(VP3, GMM, x[split:], method="euler_maruyama", steps=4, seed=seed).x
    assert not np.any(tail == full[split:])


# ---------------------------------------------------------------------------------------------
# 12. the Rust schedules agree with the Python processes


@pytest.mark.parametrize(
    "proc",
    CONTINUOUS
    + [
        VP(beta_min=0.5, beta_max=3.0),
        SubVP(beta_min=0.0, beta_max=5.0),
        VPCosine(cosine_s=0.02, beta_max=100.0),
        VE(sigma_min=0.3, sigma_max=4.0),
        EDM(sigma_min=1e-3, sigma_max=10.0),
    ],
    ids=repr,
)
def test_rust_schedule_matches_the_python_process(proc):
    t = np.linspace(proc.t_min, proc.t_max, 41)
    got = _core.diffusion_schedule_at(_schedule_args(proc), t)
    want = np.stack([proc._s(t), proc._sigma(t), proc._f_coef(t), proc._g2(t)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


def test_rust_discrete_schedule_matches_the_chain():
    chain = DiscreteDDPM(T=50)
    t = np.arange(50, dtype=float)
    got = _core.diffusion_schedule_at(_schedule_args(chain), t)
    np.testing.assert_allclose(got[:, 0], chain.s(t.astype(int)), rtol=1e-15)
    np.testing.assert_allclose(got[:, 1], chain.sigma(t.astype(int)), rtol=1e-15)
    assert np.isnan(got[:, 2:]).all()  # no SDE coefficients for a discrete chain
    with pytest.raises(ValueError, match="index"):
        _core.diffusion_schedule_at(_schedule_args(chain), np.array([50.0]))
