"""ODE samplers against known answers: the affine flow of Gaussian data, convergence orders
against an adaptive reference at tolerance 1e-12, and DDIM(eta = 0) as Euler on
``du / dsigma~ = eps`` with ``u = x / s``, ``sigma~ = sigma / s``.

Gaussian data: the probability-flow ODE is affine per eigendirection of the covariance,
``x_t - s_t mu = sqrt(c_t / c_T) (x_T - s_T mu)`` with ``c_t = s_t^2 lam + sigma_t^2``
(see ../shared/notes/diffusion.md, sections 4-5).
"""

from __future__ import annotations

import numpy as np
import pytest
from support.diffusion import (
    CONT_IDS,
    CONTINUOUS,
    GMM,
    VP3,
    eps_fn,
    exact_start,
)

from latentgeo.diffusion import (
    VE,
    DiscreteDDPM,
    GaussianMixture,
    prior_sample,
    sample,
    time_grid,
)

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
