"""Exact likelihood through the probability-flow ODE (``latentgeo.diffusion.log_likelihood``).

Known answer (../shared/notes/diffusion.md, section 5, item 3): integrating ``[x, delta]`` with
the exact divergence ``d f - g^2 Laplacian(log p_t) / 2`` of a Gaussian mixture from ``t_min``
to ``t_max`` and adding the exact ``log p_T(x_T)`` gives the closed-form ``log p_{t_min}(x)``;
the Hutchinson estimate matches it within its Monte-Carlo error.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from latentgeo.diffusion import (
    EDM,
    LIKELIHOOD_METHODS,
    VE,
    VP,
    DiscreteDDPM,
    GaussianMixture,
    ModelAdapter,
    SubVP,
    VPCosine,
    log_likelihood,
)

GMM = GaussianMixture(
    [0.3, 0.5, 0.2],
    [[-2.0, 0.0], [1.5, 1.0], [0.5, -2.0]],
    [[0.3, 0.5], [0.4, 0.2], [0.6, 0.3]],
    "diag",
)
FULL = GaussianMixture(
    [0.6, 0.4],
    [[0.0, 1.0, -1.0], [1.0, -1.0, 0.5]],
    [[[0.5, 0.2, 0.0], [0.2, 0.4, 0.1], [0.0, 0.1, 0.3]], np.diag([0.2, 0.6, 0.4])],
    "full",
)
VP3 = VP(eps=1e-3)
PROCESSES = [VP3, SubVP(eps=1e-3), VPCosine(eps=1e-3), VE(eps=1e-3), EDM()]
IDS = [type(p).__name__ for p in PROCESSES]


def points(g, n, seed):
    """Data draws plus two points in the tails."""
    x = g.sample(n, seed)
    return np.concatenate([x, 4.0 * np.ones((1, g.dim)), -3.0 * np.ones((1, g.dim))])


def closed_form(process, g, x, t=None):
    t = process.t_min if t is None else t
    return g.log_prob(x, process.s(t), process.sigma(t))


def score_fn(process, g):
    def fn(x, t):
        return g.score(x, process.s(t), process.sigma(t))

    return fn


@pytest.mark.parametrize("proc", PROCESSES, ids=IDS)
@pytest.mark.parametrize("g", [GMM, FULL], ids=["diag2d", "full3d"])
def test_exact_divergence_gives_the_closed_form_density(proc, g):
    x = points(g, 8, 0)
    res = log_likelihood(proc, g, x, divergence="exact", prior="exact", rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(res.log_prob, closed_form(proc, g, x), rtol=0, atol=1e-6)
    assert res.delta.shape == (10, 1) and res.stderr is None
    assert res.x_end.shape == x.shape and res.prior_logp.shape == (10,)
    t = proc.t_max
    np.testing.assert_allclose(
        res.prior_logp, g.log_prob(res.x_end, proc.s(t), proc.sigma(t)), rtol=1e-14
    )
    assert res.accepted.shape == (10,) and (res.accepted > 5).all() and res.nfe > 0


def test_likelihood_between_other_times():
    x = points(GMM, 5, 1)
    res = log_likelihood(VP3, GMM, x, t_start=0.1, t_end=0.7, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(res.log_prob, closed_form(VP3, GMM, x, 0.1), atol=1e-6)
    t = 0.7
    np.testing.assert_allclose(
        res.prior_logp, GMM.log_prob(res.x_end, VP3.s(t), VP3.sigma(t)), rtol=1e-14
    )


def test_prior_choices():
    """ "process" swaps the exact p_T for N(0, prior_std^2 I); the change of variables is the same.
    VP's N(0, I) is nearly p_1 (s_1 = 6.6e-3), so the densities differ by a little."""
    x = points(GMM, 5, 2)
    exact = log_likelihood(VP3, GMM, x, prior="exact")
    auto = log_likelihood(VP3, GMM, x)
    proc = log_likelihood(VP3, GMM, x, prior="process")
    np.testing.assert_array_equal(auto.log_prob, exact.log_prob)
    np.testing.assert_array_equal(proc.delta, exact.delta)
    np.testing.assert_allclose(proc.prior_logp, VP3.prior_logp(proc.x_end), rtol=1e-14)
    np.testing.assert_allclose(
        proc.log_prob - exact.log_prob, proc.prior_logp - exact.prior_logp, rtol=1e-12, atol=1e-12
    )
    assert 0 < np.abs(proc.log_prob - exact.log_prob).max() < 0.05


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_matches_the_exact_density_within_its_standard_error(probe):
    """30 probes per sample; 4 standard errors (t distribution with 29 degrees of freedom, ten
    points). Rademacher probes in 2-D are exact whenever the probes' sign products cancel, so
    the standard error can be 0 with a rounding-level error: 1e-6 is added."""
    x = points(GMM, 8, 3)
    want = closed_form(VP3, GMM, x)
    res = log_likelihood(
        VP3, GMM, x, divergence="hutchinson", probes=30, probe=probe, rtol=1e-7, atol=1e-7
    )
    assert res.delta.shape == (10, 30) and res.stderr.shape == (10,)
    np.testing.assert_allclose(res.stderr, res.delta.std(axis=1, ddof=1) / math.sqrt(30))
    assert np.all(np.abs(res.log_prob - want) <= 4 * res.stderr + 1e-6), (
        res.log_prob - want
    ) / res.stderr
    assert res.stderr.max() > 1e-3  # the probes do differ


def test_rademacher_probes_are_exact_in_one_dimension():
    """With d = 1, e^T J e = J for e = +-1: Hutchinson equals the exact divergence up to the
    central-difference error of the Jacobian-vector product."""
    g = GaussianMixture([0.4, 0.6], [[-1.0], [2.0]], [0.3, 0.5], "spherical")
    x = np.linspace(-3, 4, 7)[:, None]
    exact = log_likelihood(VP3, g, x, rtol=1e-9, atol=1e-9)
    hutch = log_likelihood(VP3, g, x, divergence="hutchinson", probes=3, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(hutch.log_prob, exact.log_prob, atol=1e-5)
    np.testing.assert_allclose(hutch.stderr, 0, atol=1e-6)


def test_rademacher_has_smaller_variance_than_gaussian_probes():
    """For a symmetric Jacobian J the variance per probe is 2 (|J|_F^2 - sum J_ii^2) for
    Rademacher and 2 |J|_F^2 for Gaussian probes."""
    x = points(FULL, 10, 4)
    se = {
        p: log_likelihood(
            VP3, FULL, x, divergence="hutchinson", probes=20, probe=p, rtol=1e-6, atol=1e-6
        ).stderr.mean()
        for p in ("rademacher", "gaussian")
    }
    assert se["rademacher"] < se["gaussian"]


@pytest.mark.parametrize("method, order", [("euler", 1), ("midpoint", 2), ("heun", 2), ("rk4", 4)])
def test_fixed_step_likelihood_converges_with_the_order_of_the_method(method, order):
    """Uniform grids of 80 to 320 steps (40 to 320 for RK4: log2 ratios 3.94, 3.97, 3.98)."""
    x = points(GMM, 6, 5)
    want = closed_form(VP3, GMM, x)
    steps = (40, 80, 160, 320) if method == "rk4" else (80, 160, 320)
    errs = [
        np.abs(log_likelihood(VP3, GMM, x, method=method, steps=n).log_prob - want).max()
        for n in steps
    ]
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - order) < 0.15), (errs, rates)
    if method == "rk4":
        assert errs[-1] < 1e-7
    res = log_likelihood(VP3, GMM, x, method=method, steps=10)
    assert res.accepted is None and res.nfe == 10 * {1: 1, 2: 2, 4: 4}[order]


def test_callable_model_with_hutchinson():
    """A python score model takes the same probes (keyed by seed and sample index) as the
    analytic route, so with the same prior the two agree far inside the standard error."""
    x = points(GMM, 6, 6)
    kw = dict(divergence="hutchinson", probes=5, method="rk4", steps=20, seed=3)
    calls = []

    def fn(xx, t):
        calls.append((xx.shape, t.shape))
        return score_fn(VP3, GMM)(xx, t)

    got = log_likelihood(VP3, fn, x, kind="score", **kw)
    ref = log_likelihood(VP3, GMM, x, prior="process", **kw)
    np.testing.assert_allclose(got.log_prob, ref.log_prob, rtol=0, atol=1e-7)
    np.testing.assert_allclose(got.delta, ref.delta, rtol=0, atol=1e-7)
    assert np.all(np.abs(got.log_prob - ref.log_prob) < 0.01 * got.stderr)
    # one score and two shifted scores per probe and stage
    assert got.nfe == len(calls) == 20 * 4 * (1 + 2 * 5)
    assert set(calls) == {((8, 2), (8,))}
    # an eps model through an adapter gives the same numbers
    sig = VP3.sigma

    def eps(xx, t):
        return -sig(t)[:, None] * score_fn(VP3, GMM)(xx, t)

    via = log_likelihood(VP3, ModelAdapter(eps, "eps", VP3), x, **kw)
    np.testing.assert_allclose(via.log_prob, got.log_prob, rtol=0, atol=1e-6)


def test_callable_model_sees_float32_and_multi_axis_states():
    seen = []

    def fn(xx, t):
        seen.append((xx.dtype, xx.shape))
        return -np.asarray(xx, dtype=np.float64)

    x = np.ones((3, 2, 2), dtype=np.float32)
    res = log_likelihood(VP3, fn, x, kind="score", divergence="hutchinson", method="euler", steps=3)
    assert set(seen) == {(np.dtype(np.float32), (3, 2, 2))}
    assert res.x_end.shape == (3, 2, 2) and res.log_prob.shape == (3,)
    assert res.bits_per_dim().shape == (3,)


def test_likelihood_does_not_depend_on_batching():
    x = points(GMM, 10, 7)
    for kw in (dict(divergence="exact"), dict(divergence="hutchinson", probes=4)):
        full = log_likelihood(VP3, GMM, x, **kw)
        for b in (1, 5):
            part = log_likelihood(VP3, GMM, x, batch_size=b, **kw)
            np.testing.assert_array_equal(part.log_prob, full.log_prob)
            np.testing.assert_array_equal(part.accepted, full.accepted)
        other = log_likelihood(VP3, GMM, x, n_threads=1, **kw)
        np.testing.assert_array_equal(other.log_prob, full.log_prob)
    a = log_likelihood(VP3, GMM, x, divergence="hutchinson", probes=4, seed=1)
    b = log_likelihood(VP3, GMM, x, divergence="hutchinson", probes=4, seed=2)
    assert not np.array_equal(a.delta, b.delta)


def test_bits_per_dim_and_to_dict():
    x = points(GMM, 3, 8)
    res = log_likelihood(VP3, GMM, x)
    np.testing.assert_allclose(res.bits_per_dim(), -res.log_prob / (2 * math.log(2)))
    np.testing.assert_allclose(res.bits_per_dim(8.0), res.bits_per_dim() + 8.0)
    d = res.to_dict()
    json.dumps(d)
    assert "x_end" not in d and d["log_prob"] == res.log_prob.tolist()
    assert d["stderr"] is None and d["nfe"] == res.nfe


def test_progress(capsys):
    log_likelihood(VP3, GMM, np.zeros((2, 2)), progress=True)
    log_likelihood(
        VP3,
        score_fn(VP3, GMM),
        np.zeros((2, 2)),
        kind="score",
        divergence="hutchinson",
        method="euler",
        steps=3,
        progress=True,
    )
    bars = [line for line in capsys.readouterr().err.split("\n") if line]
    assert len(bars) == 2 and all("100.0%" in bar.split("\r")[-1] for bar in bars)


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        (dict(method="rk45"), ValueError, "method"),
        (dict(divergence="trace"), ValueError, "divergence"),
        (dict(probe="sphere"), ValueError, "probe"),
        (dict(prior="normal"), ValueError, "prior"),
        (dict(divergence="hutchinson", probes=0), ValueError, "probes"),
        (dict(method="rk4", steps=0), ValueError, "steps"),
        (dict(t_start=0.5, t_end=0.2), ValueError, "larger"),
        (dict(t_start=0.0), ValueError, "outside the domain"),
        (dict(t_end=1.5), ValueError, "outside the domain"),
        (dict(rtol=0.0, atol=0.0), ValueError, "rtol"),
        (dict(max_steps=2), ValueError, "max_steps"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(batch_size=0), ValueError, "batch_size"),
    ],
)
def test_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        log_likelihood(VP3, GMM, np.zeros((2, 2)), **kw)


def test_bad_inputs_and_models():
    fn = score_fn(VP3, GMM)
    with pytest.raises(ValueError, match="analytic model"):
        log_likelihood(VP3, fn, np.zeros((2, 2)), kind="score", divergence="exact")
    with pytest.raises(ValueError, match="analytic model"):
        log_likelihood(
            VP3, fn, np.zeros((2, 2)), kind="score", divergence="hutchinson", prior="exact"
        )
    with pytest.raises(TypeError, match="continuous process"):
        log_likelihood(DiscreteDDPM(T=10), GMM, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        log_likelihood(VP3, GMM, np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="dimension mismatch"):
        log_likelihood(VP3, GMM, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="batch axis"):
        log_likelihood(VP3, GMM, np.zeros(2))

    def bad(xx, t):
        out = -xx.copy()
        if t.max() > 0.5:
            out[0, 0] = np.inf
        return out

    with pytest.raises(ValueError, match=r"NaN or infinite values at step \d+"):
        log_likelihood(VP3, bad, np.zeros((2, 2)), kind="score", divergence="hutchinson")
    with pytest.raises(ValueError, match="shape"):
        log_likelihood(
            VP3, lambda xx, t: xx[:, :1], np.zeros((2, 2)), kind="score", divergence="hutchinson"
        )


def test_likelihood_methods_constant():
    assert set(LIKELIHOOD_METHODS) == {"dopri5", "euler", "midpoint", "heun", "rk4"}
