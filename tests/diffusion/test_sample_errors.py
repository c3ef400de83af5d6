"""Bad names, arguments, states and model outputs of ``sample``; errors of the model and the
callback propagate; unsupported processes and models are refused."""

from __future__ import annotations

import numpy as np
import pytest
from support.diffusion import (
    GMM,
    VP3,
)

from latentgeo.diffusion import (
    VP,
    DiscreteDDPM,
    NoiseProcess,
    sample,
)

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
