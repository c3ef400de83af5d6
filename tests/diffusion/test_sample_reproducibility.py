"""Samples do not depend on batching, threads or row order; seeds and the counter-based noise
are keyed by the global row index; finite outputs of the right shape for any mixture."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.diffusion import (
    CONTINUOUS,
    GMM,
    ODE_METHODS,
    SDE_METHODS,
    VP3,
    eps_fn,
    random_mixture,
    step_noise,
)
from support.strategies import SEEDS, examples

from latentgeo.diffusion import (
    SAMPLERS,
    VE,
    prior_sample,
    sample,
)

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
# 11. properties


@examples(20)
@given(
    seed=SEEDS,
    k=st.integers(1, 3),
    d=st.integers(1, 3),
    method=st.sampled_from([m for m in SAMPLERS]),
    steps=st.integers(1, 6),
    f32=st.booleans(),
    proc=st.sampled_from(CONTINUOUS),
)
def test_outputs_are_finite_with_the_right_shape_and_dtype(seed, k, d, method, steps, f32, proc):
    g = random_mixture(np.random.default_rng(seed), k, d, "diag", low=0.05)
    x = prior_sample(proc, (5, d), seed)
    if f32:
        x = x.astype(np.float32)
    res = sample(proc, g, x, method=method, steps=steps, seed=seed, eta=0.7, rtol=1e-4, atol=1e-4)
    assert res.x.shape == (5, d) and res.x.dtype == x.dtype
    assert np.isfinite(res.x).all()


@examples(15)
@given(seed=SEEDS, method=st.sampled_from(ODE_METHODS), n=st.integers(2, 12))
def test_deterministic_methods_commute_with_permutations(seed, method, n):
    """Rows are independent (dopri5 included: one step size per sample)."""
    x = prior_sample(VP3, (n, 2), seed)
    perm = np.random.default_rng(seed).permutation(n)
    a = sample(VP3, GMM, x, method=method, steps=5, rtol=1e-6, atol=1e-6).x
    b = sample(VP3, GMM, x[perm], method=method, steps=5, rtol=1e-6, atol=1e-6).x
    np.testing.assert_array_equal(b, a[perm])


@examples(10)
@given(seed=SEEDS, n=st.integers(2, 10), split=st.integers(1, 9))
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
