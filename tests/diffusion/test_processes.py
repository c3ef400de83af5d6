"""Noise processes, DDPM maths and model adapters against independent references.

References: numerical integration of the SDE moment ODEs (scipy solve_ivp), brute-force Gaussian
conditioning of joint covariances, direct products, and the exact score of Gaussian data.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import solve_ivp
from scipy.stats import norm
from support.diffusion import CONT_IDS, CONTINUOUS
from support.strategies import examples

import latentgeo
from latentgeo.diffusion import (
    EDM,
    VE,
    VP,
    DiscreteDDPM,
    ModelAdapter,
    SubVP,
    VPCosine,
    alpha_bar,
    eps_from_x0,
    posterior_mean_var,
    q_sample,
    reverse_mean_var,
    reverse_variance,
    x0_from_eps,
)

# ---------------------------------------------------------------------------------------------
# continuous processes


@pytest.mark.parametrize(
    "proc",
    [
        VP(eps=0.0),
        VP(beta_min=0.5, beta_max=3.0, eps=0.0),
        SubVP(eps=0.0),
        SubVP(beta_min=0.0, beta_max=5.0, eps=0.0),
        VE(eps=0.0),
        VE(sigma_min=0.3, sigma_max=4.0, eps=0.0),
        VPCosine(eps=0.0),
        EDM(sigma_min=1e-3),
    ],
    ids=repr,
)
def test_closed_forms_solve_the_moment_odes(proc):
    """ds/dt = f s and dsigma^2/dt = 2 f sigma^2 + g^2, integrated from the data (s=1, var=0)."""

    def rhs(t, y):
        fc = proc.f(np.ones(1), t)[0]
        return [fc * y[0], 2.0 * fc * y[1] + proc.g(t) ** 2]

    t0, t1 = proc.t_min, proc.t_max
    y0 = [proc.s(t0), proc.sigma(t0) ** 2]
    if t0 == 0.0:
        assert y0 == [1.0, 0.0]
    ts = np.linspace(t0, t1, 41)
    sol = solve_ivp(rhs, (t0, t1), y0, method="DOP853", t_eval=ts, rtol=1e-12, atol=1e-14)
    assert sol.success
    np.testing.assert_allclose(proc.s(ts), sol.y[0], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(proc.sigma(ts) ** 2, sol.y[1], rtol=1e-8, atol=1e-12)


def test_ve_sigma_is_the_exact_transition_std_not_the_geometric_level():
    ve = VE()
    t = np.array([0.01, 0.3, 1.0])
    geo = ve.sigma_geometric(t)
    np.testing.assert_allclose(geo, 0.01 * 5000.0**t, rtol=1e-13)
    np.testing.assert_allclose(ve.sigma(t) ** 2, geo**2 - 0.01**2, rtol=1e-12)
    assert ve.sigma(ve.eps) < ve.sigma_geometric(ve.eps) / 50  # ~1.3e-4 vs ~1e-2


def test_textbook_constant_beta_and_edm():
    vp = VP(beta_min=2.0, beta_max=2.0)
    t = np.linspace(vp.t_min, 1.0, 7)
    np.testing.assert_allclose(vp.s(t), np.exp(-t), rtol=1e-14)
    np.testing.assert_allclose(vp.sigma(t), np.sqrt(-np.expm1(-2 * t)), rtol=1e-12)
    np.testing.assert_allclose(vp.g(t), math.sqrt(2.0), rtol=1e-15)
    sub = SubVP(beta_min=2.0, beta_max=2.0)
    np.testing.assert_allclose(sub.sigma(t), -np.expm1(-2 * t), rtol=1e-12)
    edm = EDM()
    assert edm.sigma(3.5) == 3.5 and edm.s(3.5) == 1.0
    assert edm.g(2.0) == pytest.approx(2.0)
    # VP log-SNR = log(s^2 / sigma^2)
    np.testing.assert_allclose(vp.log_snr(t), np.log(np.exp(-2 * t) / (1 - np.exp(-2 * t))))


def test_cosine_matches_nichol_dhariwal_alpha_bar_and_beta_cap():
    p = VPCosine()
    t = np.linspace(p.t_min, p.t_max, 9)
    f = np.cos((t + 0.008) / 1.008 * np.pi / 2) ** 2
    ab = f / np.cos(0.008 / 1.008 * np.pi / 2) ** 2
    np.testing.assert_allclose(p.s(t) ** 2, ab, rtol=1e-12)
    np.testing.assert_allclose(p.sigma(t) ** 2, 1.0 - ab, rtol=1e-9, atol=1e-15)
    assert p.beta(p.t_max) == pytest.approx(999.0, rel=1e-9)
    # beta = -d log alpha_bar / dt by central differences
    h = 1e-6
    tm = np.array([0.1, 0.5, 0.9])
    fd = -(np.log(p.s(tm + h) ** 2) - np.log(p.s(tm - h) ** 2)) / (2 * h)
    np.testing.assert_allclose(p.beta(tm), fd, rtol=1e-7)
    with pytest.raises(ValueError, match="outside the domain"):
        p.s(0.999)


@pytest.mark.parametrize("proc", CONTINUOUS, ids=CONT_IDS)
@examples(60)
@given(u=st.floats(0.0, 1.0))
def test_inverses_round_trip(proc, u):
    t = proc.t_min + u * (proc.t_max - proc.t_min)
    tol = 1e-9 * max(1.0, t)
    assert abs(proc.t_from_sigma(proc.sigma(t)) - t) <= tol
    assert abs(proc.t_from_log_snr(proc.log_snr(t)) - t) <= tol


@pytest.mark.parametrize("proc", CONTINUOUS, ids=CONT_IDS)
def test_inverses_vectorised_and_reject_unreachable_values(proc):
    ts = np.linspace(proc.t_min, proc.t_max, 101)
    np.testing.assert_allclose(proc.t_from_sigma(proc.sigma(ts)), ts, rtol=1e-9, atol=1e-12)
    lam = proc.log_snr(ts)
    np.testing.assert_allclose(proc.t_from_log_snr(lam), ts, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="outside the range"):
        proc.t_from_log_snr(lam[0] + 1.0)
    with pytest.raises(ValueError, match="outside the range"):
        proc.t_from_log_snr(lam[-1] - 1.0)
    with pytest.raises(ValueError, match="outside the range"):
        proc.t_from_sigma(proc.sigma(proc.t_max) * 1.01)
    with pytest.raises(ValueError, match="NaN"):
        proc.t_from_sigma(np.nan)


@pytest.mark.parametrize("proc", CONTINUOUS, ids=CONT_IDS)
@examples(40)
@given(a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0))
def test_log_snr_strictly_decreasing(proc, a, b):
    if a == b:
        return
    lo, hi = sorted((a, b))
    t1 = proc.t_min + lo * (proc.t_max - proc.t_min)
    t2 = proc.t_min + hi * (proc.t_max - proc.t_min)
    if t1 == t2:
        return
    assert proc.log_snr(t1) > proc.log_snr(t2)
    # sigma saturates near 1 at t_max (VPCosine: t1, t2 one ulp apart give the same float), so
    # it is only non-decreasing in floating point; strictness is the log-SNR's job above.
    assert proc.sigma(t1) <= proc.sigma(t2)
    assert proc.s(t1) >= proc.s(t2)


@pytest.mark.parametrize("proc", CONTINUOUS, ids=CONT_IDS)
def test_scalar_in_scalar_out_and_domain_errors(proc):
    t = 0.5 * (proc.t_min + proc.t_max)
    for name in ("s", "sigma", "log_snr", "g"):
        assert isinstance(getattr(proc, name)(t), float)
        assert getattr(proc, name)(np.array([t, t])).shape == (2,)
    for bad in (proc.t_min - 1e-3, proc.t_max + 1e-3):
        with pytest.raises(ValueError, match="outside the domain"):
            proc.sigma(bad)
        with pytest.raises(ValueError, match="outside the domain"):
            proc.f(np.ones((2, 3)), bad)
    with pytest.raises(ValueError, match="NaN"):
        proc.s(np.array([t, np.nan]))
    x = np.ones((4, 3))
    assert proc.f(x, np.full(4, t)).shape == (4, 3)
    with pytest.raises(ValueError, match="batch has 4 samples"):
        proc.f(x, np.full(3, t))


def test_drift_is_linear_per_sample():
    vp = VP()
    x = np.arange(6.0).reshape(3, 2)
    t = np.array([0.1, 0.5, 0.9])
    want = -0.5 * (0.1 + t * 19.9)[:, None] * x
    np.testing.assert_allclose(vp.f(x, t), want, rtol=1e-15)
    np.testing.assert_array_equal(VE().f(x, t), 0.0)


@pytest.mark.parametrize("proc", CONTINUOUS + [DiscreteDDPM()], ids=CONT_IDS + ["DiscreteDDPM"])
def test_prior(proc):
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    want = norm.logpdf(x, scale=proc.prior_std).reshape(5, -1).sum(axis=1)
    np.testing.assert_allclose(proc.prior_logp(x), want, rtol=1e-12)
    z = proc.prior_sample((20000, 2), rng=1)
    assert z.shape == (20000, 2)
    assert abs(z.std() / proc.prior_std - 1.0) < 0.02
    np.testing.assert_array_equal(z, proc.prior_sample((20000, 2), rng=1))


def test_bad_parameters():
    with pytest.raises(ValueError, match="beta_max"):
        VP(beta_min=1.0, beta_max=0.5)
    with pytest.raises(ValueError, match="beta_min"):
        SubVP(beta_min=-0.1)
    with pytest.raises(ValueError, match="sigma_max"):
        VE(sigma_min=2.0, sigma_max=1.0)
    with pytest.raises(ValueError, match="sigma_min"):
        EDM(sigma_min=0.0)
    with pytest.raises(ValueError, match="eps"):
        VP(eps=1.0)
    with pytest.raises(TypeError, match="real number"):
        VE(sigma_max="50")


# ---------------------------------------------------------------------------------------------
# discrete DDPM


def test_alpha_bar_against_direct_product():
    chain = DiscreteDDPM()
    betas = np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_array_equal(chain.betas, betas)
    prod, direct = 1.0, []
    for b in betas.tolist():
        prod *= 1.0 - b
        direct.append(prod)
    np.testing.assert_allclose(alpha_bar(betas), direct, rtol=1e-12)
    np.testing.assert_allclose(chain.alpha_bar, direct, rtol=1e-12)
    np.testing.assert_allclose(chain.alpha_bar_prev, [1.0] + direct[:-1], rtol=1e-12)
    np.testing.assert_allclose(chain.one_minus_alpha_bar, 1.0 - np.array(direct), rtol=1e-10)
    t = np.arange(1000)
    np.testing.assert_allclose(chain.s(t) ** 2 + chain.sigma(t) ** 2, 1.0, rtol=1e-14)
    # mean/variance recursion of x_t = sqrt(1 - b) x_{t-1} + sqrt(b) n from x_0 = 1 (fixed)
    m, v = 1.0, 0.0
    for i, b in enumerate(betas.tolist()):
        m, v = math.sqrt(1 - b) * m, (1 - b) * v + b
        if i in (0, 10, 500, 999):
            assert chain.s(i) == pytest.approx(m, rel=1e-12)
            assert chain.sigma(i) ** 2 == pytest.approx(v, rel=1e-12)
    assert chain.log_snr(999) == pytest.approx(math.log(direct[-1] / (1 - direct[-1])))


def _joint(betas, t, var0, mean0=0.0):
    """Mean and covariance of (x_0, x_{t-1}, x_t) (0-based t >= 1) from independent noises."""
    ab = np.cumprod(1.0 - np.asarray(betas))
    ab_prev = ab[t - 1]
    a_t = 1.0 - betas[t]
    # (x_0, x_{t-1}, x_t) = A (x_0, n1, n2)
    A = np.array(
        [
            [1.0, 0.0, 0.0],
            [math.sqrt(ab_prev), math.sqrt(1 - ab_prev), 0.0],
            [
                math.sqrt(a_t * ab_prev),
                math.sqrt(a_t * (1 - ab_prev)),
                math.sqrt(betas[t]),
            ],
        ]
    )
    cov = A @ np.diag([var0, 1.0, 1.0]) @ A.T
    return A[:, 0] * mean0, cov


def _condition(mean, cov, keep, given, values):
    s12 = cov[np.ix_(keep, given)]
    s22 = cov[np.ix_(given, given)]
    m = mean[keep] + s12 @ np.linalg.solve(s22, np.asarray(values) - mean[given])
    c = cov[np.ix_(keep, keep)] - s12 @ np.linalg.solve(s22, s12.T)
    return m, c


@examples(60)
@given(
    betas=st.lists(st.floats(1e-4, 0.5), min_size=2, max_size=30),
    frac=st.floats(0.0, 1.0),
    x0=st.floats(-3.0, 3.0),
    xt=st.floats(-3.0, 3.0),
    var0=st.floats(0.05, 4.0),
)
def test_posterior_equals_brute_force_conditioning(betas, frac, x0, xt, var0):
    betas = np.array(betas)
    t = 1 + int(frac * (len(betas) - 2))
    mean, cov = _joint(betas, t, var0, mean0=0.7)
    m, c = _condition(mean, cov, [1], [0, 2], [x0, xt])
    got_m, got_v = posterior_mean_var(np.array([x0]), np.array([xt]), t, betas)
    assert got_m[0] == pytest.approx(m[0], rel=1e-9, abs=1e-11)
    assert got_v == pytest.approx(c[0, 0], rel=1e-8, abs=1e-14)


def test_posterior_batched_and_at_t0():
    chain = DiscreteDDPM(T=50)
    rng = np.random.default_rng(3)
    x0, xt = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    t = np.array([0, 1, 17, 49])
    mean, var = posterior_mean_var(x0, xt, t, chain)
    assert mean.shape == (4, 2) and var.shape == (4, 1)
    np.testing.assert_allclose(mean[0], x0[0], rtol=1e-14)  # point mass at x_0
    assert var[0, 0] == 0.0
    for i in (1, 2, 3):
        mu, cov = _joint(chain.betas, int(t[i]), 1.0)
        for j in range(2):
            m, c = _condition(mu, cov, [1], [0, 2], [x0[i, j], xt[i, j]])
            assert mean[i, j] == pytest.approx(m[0], rel=1e-9)
        assert var[i, 0] == pytest.approx(c[0, 0], rel=1e-9)
    # same answer from the raw betas array, scalar t
    m2, v2 = posterior_mean_var(x0, xt, 17, chain.betas)
    c1, c2 = chain.posterior_mean_coef1[17], chain.posterior_mean_coef2[17]
    np.testing.assert_allclose(m2, c1 * x0 + c2 * xt, rtol=1e-14)
    np.testing.assert_allclose(m2[2], mean[2], rtol=1e-14)
    assert isinstance(v2, float) and v2 == pytest.approx(var[2, 0], rel=1e-14)


def test_reverse_variance_choices_bracket_the_exact_kernel():
    """For data N(0, 0.3): beta_tilde <= Var[x_{t-1} | x_t] <= beta (Ho et al. 3.2)."""
    chain = DiscreteDDPM(T=100)
    for t in (1, 10, 50, 99):
        mu, cov = _joint(chain.betas, t, 0.3)
        _, c = _condition(mu, cov, [1], [2], [0.0])
        small = reverse_variance(t, chain, "posterior")
        large = reverse_variance(t, chain, "beta")
        assert small < c[0, 0] < large
        assert large == chain.betas[t]
    np.testing.assert_array_equal(reverse_variance(np.arange(100), chain, "beta"), chain.betas)
    assert chain.posterior_log_variance_clipped[0] == math.log(chain.posterior_variance[1])
    xt, x0p = np.ones((3, 2)), np.zeros((3, 2))
    mean, var = reverse_mean_var(xt, x0p, np.array([1, 2, 3]), chain, variance="beta")
    np.testing.assert_allclose(var[:, 0], chain.betas[1:4])
    np.testing.assert_allclose(mean[:, 0], chain.posterior_mean_coef2[1:4])
    with pytest.raises(ValueError, match="unknown variance"):
        reverse_variance(1, chain, "learned")


@pytest.mark.parametrize("proc", CONTINUOUS + [DiscreteDDPM()], ids=CONT_IDS + ["DiscreteDDPM"])
def test_q_sample_and_eps_x0_round_trip(proc):
    rng = np.random.default_rng(5)
    x0, n = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    if isinstance(proc, DiscreteDDPM):
        t = rng.integers(0, proc.T, size=6)
    else:
        t = rng.uniform(proc.t_min, proc.t_max, size=6)
    xt = q_sample(x0, t, n, proc)
    want = np.array([proc.s(ti) * x0[i] + proc.sigma(ti) * n[i] for i, ti in enumerate(t)])
    np.testing.assert_allclose(xt, want, rtol=1e-14)
    np.testing.assert_allclose(eps_from_x0(xt, x0, t, proc), n, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(x0_from_eps(xt, n, t, proc), x0, rtol=1e-8, atol=1e-8)
    with pytest.raises(ValueError, match="shape"):
        q_sample(x0, t, n[:, :2], proc)


def test_bad_betas_and_indices():
    with pytest.raises(ValueError, match="positive"):
        alpha_bar([0.1, -0.2])
    with pytest.raises(ValueError, match="positive"):
        DiscreteDDPM(betas=[0.0, 0.1])
    with pytest.raises(ValueError, match="smaller than 1"):
        DiscreteDDPM(betas=[0.5, 1.0])
    with pytest.raises(ValueError, match="1-D"):
        alpha_bar(np.full((2, 2), 0.1))
    with pytest.raises(ValueError, match="NaN"):
        alpha_bar([0.1, np.nan])
    with pytest.raises(ValueError, match="T=3"):
        DiscreteDDPM(betas=[0.1, 0.2], T=3)
    chain = DiscreteDDPM(T=10)
    with pytest.raises(ValueError, match="outside the domain"):
        chain.s(10)
    with pytest.raises(ValueError, match="outside the domain"):
        posterior_mean_var(np.ones(2), np.ones(2), -1, chain)
    with pytest.raises(ValueError, match="whole number"):
        chain.sigma(2.5)
    assert chain.sigma(2.0) == chain.sigma(2)
    with pytest.raises(ValueError, match="shape"):
        posterior_mean_var(np.ones((2, 3)), np.ones((2, 2)), 1, chain)


# ---------------------------------------------------------------------------------------------
# model adapters on Gaussian data N(mu, diag(lam)), exact by Gaussian conditioning

MU = np.array([0.5, -1.0, 2.0])
LAM = np.array([0.3, 1.0, 2.5])


def exact(proc, x, t):
    """score (gradient of log N(x; s mu, s^2 lam + sigma^2)) and E[q | x] for q = x0, eps, v."""
    s = np.asarray(proc.s(t))[:, None]
    sig = np.asarray(proc.sigma(t))[:, None]
    C = s * s * LAM + sig * sig
    r = np.sqrt(s * s + sig * sig)
    d = x - s * MU
    out = {"score": -d / C}
    # Cov(q, x_t) / Var(x_t) regressions, written out for each q
    out["x0"] = MU + (s * LAM) * d / C
    out["eps"] = sig * d / C
    out["v"] = -sig * MU / r + (s * sig - sig * s * LAM) / r * d / C
    return out


ADAPT_PROCS = CONTINUOUS + [DiscreteDDPM()]


def _times(proc, rng, n):
    if isinstance(proc, DiscreteDDPM):
        return rng.integers(0, proc.T, size=n)
    return rng.uniform(proc.t_min, proc.t_max, size=n)


@pytest.mark.parametrize("proc", ADAPT_PROCS, ids=CONT_IDS + ["DiscreteDDPM"])
@pytest.mark.parametrize("kind", ["score", "eps", "x0", "v"])
def test_adapter_agrees_with_exact_gaussian(proc, kind):
    rng = np.random.default_rng(11)
    t = _times(proc, rng, 64)
    x0 = MU + np.sqrt(LAM) * rng.normal(size=(64, 3))
    x = q_sample(x0, t, rng.normal(size=(64, 3)), proc)
    calls = []

    def fn(xb, tb):
        calls.append(tb.shape)
        assert xb.shape == (64, 3)
        return exact(proc, xb, tb)[kind]

    ad = ModelAdapter(fn, kind, proc)
    want = exact(proc, x, t)
    for target in ("score", "eps", "x0", "v"):
        got = getattr(ad, target)(x, t)
        scale = np.abs(want[target]).max(axis=1, keepdims=True) + 1e-3
        np.testing.assert_allclose(got / scale, want[target] / scale, rtol=0, atol=1e-8)
    assert calls == [(64,)] * 4


@pytest.mark.parametrize("proc", ADAPT_PROCS, ids=CONT_IDS + ["DiscreteDDPM"])
def test_adapter_round_trip_score_eps_x0_v_score(proc):
    rng = np.random.default_rng(2)
    t = _times(proc, rng, 32)
    x = rng.normal(size=(32, 3)) * np.asarray(proc.sigma(t))[:, None] + 0.5

    def score_fn(xb, tb):
        return np.sin(xb) - 0.1 * xb**3 / (1.0 + np.asarray(proc.sigma(tb)))[:, None]

    a1 = ModelAdapter(score_fn, "score", proc)
    a2 = ModelAdapter(a1.eps, "eps", proc)
    a3 = ModelAdapter(a2.x0, "x0", proc)
    a4 = ModelAdapter(a3.v, "v", proc)
    want = score_fn(x, t)
    got = a4.score(x, t)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())
    # scalar t is broadcast to the batch
    tt = t[0]
    np.testing.assert_allclose(a1.eps(x, tt), a2.eps(x, np.full(32, tt)), rtol=1e-12)


def test_adapter_bad_output_and_input():
    vp = VP()
    x = np.ones((4, 2))
    t = np.full(4, 0.5)
    with pytest.raises(ValueError, match="NaN or infinite.*sample 2"):
        ModelAdapter(lambda xb, tb: np.where(np.arange(4)[:, None] == 2, np.nan, xb), "eps", vp).x0(
            x, t
        )
    with pytest.raises(ValueError, match=r"output has shape \(4, 3\) but x has shape \(4, 2\)"):
        ModelAdapter(lambda xb, tb: np.ones((4, 3)), "eps", vp).score(x, t)
    with pytest.raises(ValueError, match="output has shape"):
        ModelAdapter(lambda xb, tb: xb.sum(axis=1), "x0", vp).eps(x, t)
    ok = ModelAdapter(lambda xb, tb: xb, "eps", vp)
    with pytest.raises(ValueError, match="outside the domain"):
        ok.score(x, np.full(4, 1.5))
    with pytest.raises(ValueError, match="t has shape"):
        ok.score(x, np.full(3, 0.5))
    with pytest.raises(ValueError, match="x contains NaN"):
        ok.score(np.full((4, 2), np.nan), t)
    with pytest.raises(ValueError, match="unknown kind"):
        ModelAdapter(lambda xb, tb: xb, "noise", vp)
    with pytest.raises(TypeError, match="callable"):
        ModelAdapter(3, "eps", vp)
    with pytest.raises(TypeError, match="process"):
        ModelAdapter(lambda xb, tb: xb, "eps", "VP")


def test_exported_at_top_level():
    assert "diffusion" in latentgeo.__all__
    assert latentgeo.diffusion.VP is VP
