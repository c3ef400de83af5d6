"""Autograd through the array-API paths of the losses, with jax (skipped when jax is absent).

torch is not installed in CI (its PyPI wheel pulls the CUDA libraries); jax[cpu] is an 89 MB
download (jax, jaxlib, ml_dtypes, opt_einsum; 383 MB installed). ``jax.grad`` of EXACT
(including the far tail, where log Phi switches to its continued fraction) and of the
multi-label losses is compared with the closed-form ``return_grad=True`` gradients of the numpy
path (the Rust kernel for EXACT) and with central differences. jax compiles every operation on
its first use per shape and dtype, which dominates the run time (about 30 s of CPU), so the
tests share one shape and the float32 case is jitted.
"""

import math

import numpy as np
import pytest
from scipy.special import log_ndtr
from support.numeric import central_diff

from latentgeo.losses import (
    exact_accuracy,
    exact_loss,
    gumbel_accuracy,
    multilabel_softmax_ce,
    multiway_softmax_ce,
    sparse_multilabel_softmax_ce,
)

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
# float64 arrays by default (jax's global switch; only these tests use jax); float32 is asked for
# explicitly below.
jax.config.update("jax_enable_x64", True)

# One shape for (almost) every test: jax compiles each operation once per shape and dtype.
SHAPE = (4, 6)


def jax_grad(fun, x):
    """Value and gradient of the scalar fun at the numpy array x, through jax."""
    value, grad = jax.value_and_grad(fun)(jnp.asarray(x))
    assert isinstance(value, jax.Array)
    return float(value), np.asarray(grad)


# ---------------------------------------------------------------------------------------------
# EXACT


@pytest.mark.parametrize("meanlog", [False, True])
@pytest.mark.parametrize("margin", [None, 2.0])
def test_exact_loss_grad(meanlog, margin):
    rng = np.random.default_rng(11)
    f = rng.normal(scale=2, size=SHAPE)
    y = rng.integers(SHAPE[1], size=SHAPE[0])
    kw = dict(sigma=0.8, margin=margin, meanlog=meanlog)
    want, g_np = exact_loss(f, y, return_grad=True, **kw)
    value, g = jax_grad(lambda x: exact_loss(x, jnp.asarray(y), **kw), f)
    assert value == pytest.approx(float(want), rel=1e-12)
    np.testing.assert_allclose(g, g_np, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        g, central_diff(lambda x: float(exact_loss(x, y, **kw)), f), atol=1e-8
    )


def test_exact_accuracy_grad():
    rng = np.random.default_rng(12)
    f = rng.normal(scale=2, size=SHAPE)
    y = rng.integers(SHAPE[1], size=SHAPE[0])
    want, g_np = exact_accuracy(f, y, 0.5, reduction="sum", return_grad=True)
    value, g = jax_grad(lambda x: exact_accuracy(x, jnp.asarray(y), 0.5, reduction="sum"), f)
    assert value == pytest.approx(float(want), rel=1e-12)
    np.testing.assert_allclose(g, g_np, rtol=0, atol=1e-12)
    np.testing.assert_allclose(g.sum(axis=-1), 0.0, atol=1e-14)  # shift invariance


@pytest.mark.parametrize("meanlog", [False, True])
def test_exact_autograd_through_the_far_tail(meanlog):
    """Gaps of many sigma put quadrature nodes below -8, where log Phi is the continued fraction
    (a masked ``where`` under jax): values and gradients match the Rust kernel's."""
    rng = np.random.default_rng(13)
    f = rng.normal(scale=12.0, size=SHAPE)
    y = rng.integers(SHAPE[1], size=SHAPE[0])
    want, g_np = exact_loss(f, y, meanlog=meanlog, reduction="sum", return_grad=True)
    value, g = jax_grad(
        lambda x: exact_loss(x, jnp.asarray(y), meanlog=meanlog, reduction="sum"), f
    )
    assert value == pytest.approx(float(want), rel=1e-12)
    np.testing.assert_allclose(g, g_np, rtol=1e-9, atol=1e-12 * np.abs(g_np).max())
    assert np.all(np.isfinite(g))


def test_exact_far_tail_two_classes_closed_form():
    """One rival far ahead, the other classes 1e6 behind (their Phi is exactly 1): the two-class
    closed form, -log A = -log Phi(z) with z = -gap / sqrt 2, d(-log A)/d f_label =
    -lambda(z) / sqrt 2, lambda = phi / Phi. At these gaps every node is far below -8."""
    gaps = np.array([10.0, 30.0, 100.0, 1e3])
    f = np.full(SHAPE, -1e6)
    f[:, 0], f[:, 1] = 0.0, gaps
    z = -gaps / math.sqrt(2)
    lam = np.exp(-0.5 * z * z - 0.5 * math.log(2 * math.pi) - log_ndtr(z))
    labels = jnp.zeros(SHAPE[0], dtype=int)
    value, g = jax_grad(lambda x: exact_loss(x, labels, meanlog=True, reduction="sum"), f)
    assert value == pytest.approx(-float(log_ndtr(z).sum()), rel=1e-12)
    want = np.zeros(SHAPE)
    want[:, 0], want[:, 1] = -lam / math.sqrt(2), lam / math.sqrt(2)
    np.testing.assert_allclose(g, want, rtol=1e-10, atol=0)


def test_exact_under_jit_in_float32():
    """One jitted value-and-gradient in float32 (jit compiles the whole rule once, cheaper than
    compiling every operation eagerly for a second dtype): random logits against the numpy
    float64 path, and extreme logits stay finite."""
    rng = np.random.default_rng(14)
    f = rng.normal(scale=3, size=SHAPE)
    y = rng.integers(SHAPE[1], size=SHAPE[0])
    want, g_np = exact_loss(f, y, meanlog=True, return_grad=True)
    vg = jax.jit(jax.value_and_grad(lambda x, lab: exact_loss(x, lab, meanlog=True)))
    value, g32 = vg(jnp.asarray(f, dtype=jnp.float32), jnp.asarray(y))
    assert value.dtype == jnp.float32 and g32.dtype == jnp.float32
    assert float(value) == pytest.approx(float(want), rel=1e-5)
    np.testing.assert_allclose(np.asarray(g32), g_np, rtol=0, atol=1e-5 * np.abs(g_np).max())
    x = np.zeros(SHAPE, dtype=np.float32)
    x[0, :3], x[1, :3] = [1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]
    value, g = vg(jnp.asarray(x), jnp.zeros(SHAPE[0], dtype=int))
    assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(g)))


def test_gumbel_accuracy_grad():
    rng = np.random.default_rng(15)
    f = rng.normal(scale=2, size=SHAPE)
    y = rng.integers(SHAPE[1], size=SHAPE[0])
    want, g_np = gumbel_accuracy(f, y, 0.7, reduction="mean", return_grad=True)
    value, g = jax_grad(lambda x: gumbel_accuracy(x, jnp.asarray(y), 0.7, reduction="mean"), f)
    assert value == pytest.approx(float(want), rel=1e-13)
    np.testing.assert_allclose(g, g_np, rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# Multi-label softmax cross-entropy (ZLPR) and its sparse and n-by-m forms


def test_multilabel_softmax_ce_grad():
    rng = np.random.default_rng(16)
    s = rng.normal(scale=2.0, size=SHAPE)
    t = rng.random(SHAPE)
    t[rng.random(SHAPE) < 0.3] = 0.0
    t[rng.random(SHAPE) < 0.3] = 1.0
    mask = rng.random(SHAPE) < 0.8
    want, g_np = multilabel_softmax_ce(s, t, mask, return_grad=True)
    tj, mj = jnp.asarray(t), jnp.asarray(mask)
    value, g = jax_grad(lambda x: multilabel_softmax_ce(x, tj, mj), s)
    assert value == pytest.approx(float(want), rel=1e-13)
    np.testing.assert_allclose(g, g_np, rtol=0, atol=1e-14)
    fd = central_diff(lambda x: float(multilabel_softmax_ce(x, t, mask)), s)
    np.testing.assert_allclose(g, fd, atol=1e-8)
    assert np.all(g[~mask] == 0)


def test_sparse_and_multiway_grad():
    rng = np.random.default_rng(17)
    s = rng.normal(scale=2.0, size=SHAPE)
    pos = np.array([[0, 3, -1], [5, -1, -1], [1, 2, 5], [-1, -1, -1]])
    want, g_np = sparse_multilabel_softmax_ce(s, pos, reduction="sum", return_grad=True)
    value, g = jax_grad(
        lambda x: sparse_multilabel_softmax_ce(x, jnp.asarray(pos), reduction="sum"), s
    )
    assert value == pytest.approx(float(want), rel=1e-13)
    np.testing.assert_allclose(g, g_np, rtol=0, atol=1e-13)
    s3 = rng.normal(scale=2.0, size=(2, 4, 3))
    lab = rng.integers(3, size=(2, 4))
    want, g_np = multiway_softmax_ce(s3, lab, return_grad=True)
    value, g = jax_grad(lambda x: multiway_softmax_ce(x, jnp.asarray(lab)), s3)
    assert value == pytest.approx(float(want), rel=1e-13)
    np.testing.assert_allclose(g, g_np, rtol=0, atol=1e-13)
    fd = central_diff(lambda x: float(multiway_softmax_ce(x, lab)), s3)
    np.testing.assert_allclose(g, fd, atol=1e-8)


def test_multilabel_extreme_float32_logits():
    s = np.array([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, 1e4, 1e4]], dtype=np.float32)
    t = np.array([[1, 0, 1, 0], [1, 0, 0.5, 1]], dtype=np.float32)
    want, g_np = multilabel_softmax_ce(s, t, reduction="sum", return_grad=True)
    tj = jnp.asarray(t)
    value, g = jax.value_and_grad(lambda x: multilabel_softmax_ce(x, tj, reduction="sum"))(
        jnp.asarray(s)
    )
    assert value.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(g)))
    # 3e4 + log 2 + log 0.5 in float32 (spacing 2e-3 there)
    assert float(value) == pytest.approx(float(want), rel=0, abs=4e-3)
    np.testing.assert_allclose(np.asarray(g), g_np, rtol=0, atol=1e-6)
