"""The torch cases of the loss tests, run through the strict array-API namespace.

torch is not installed in CI, so its tests skip; these run the same inputs (margin, meanlog, the
far tail, masks, float32, extreme logits, numpy labels with array logits) through
``array_api_strict``, which fails on any numpy or scipy call leaking into the array-API path,
with ``return_grad=True`` for the closed-form gradients. Every public loss function except the
numpy-only Monte-Carlo estimator is covered. The pure array-API log Phi has relative error below
1.2e-7 (see ``exact_accuracy``), hence the 1e-6 tolerances of the EXACT cases.
"""

import numpy as np
import pytest

from latentgeo.losses import (
    accuracy,
    exact_accuracy,
    exact_loss,
    gumbel_accuracy,
    multilabel_softmax_ce,
    multilabel_softmax_proba,
    multiway_softmax_ce,
    smoothed_accuracy,
    sparse_multilabel_softmax_ce,
)

xps = pytest.importorskip("array_api_strict")


def strict(x):
    return xps.asarray(np.asarray(x))


def is_strict(x):
    return type(x).__module__.startswith("array_api_strict")


def check_grad_pair(got, want, rtol, atol_scale):
    """Compare a strict (value, grad) pair with numpy's: value to rtol, grad to atol_scale times
    the largest gradient entry."""
    (v, g), (wv, wg) = got, want
    assert is_strict(v) and is_strict(g)
    np.testing.assert_allclose(np.asarray(v), wv, rtol=rtol, atol=0)
    np.testing.assert_allclose(np.asarray(g), wg, rtol=0, atol=atol_scale * np.abs(wg).max())


@pytest.mark.parametrize("meanlog", [False, True])
@pytest.mark.parametrize("margin", [None, 2.0])
def test_exact_loss_margin_meanlog_and_gradient(meanlog, margin):
    # test_torch_matches_numpy_and_autograd (expected accuracy): sigma 0.8, margin 2
    rng = np.random.default_rng(11)
    f = rng.normal(scale=2, size=(4, 5))
    y = rng.integers(5, size=4)
    kw = dict(margin=margin, meanlog=meanlog, return_grad=True)
    got = exact_loss(strict(f), strict(y), 0.8, **kw)
    check_grad_pair(got, exact_loss(f, y, 0.8, **kw), 1e-6, 1e-6)


@pytest.mark.parametrize("meanlog", [False, True])
def test_exact_far_tail(meanlog):
    # test_torch_autograd_through_the_far_tail: gaps of many sigma, nodes below -8
    rng = np.random.default_rng(13)
    f = rng.normal(scale=12.0, size=(6, 7))
    y = rng.integers(7, size=6)
    kw = dict(meanlog=meanlog, reduction="sum", return_grad=True)
    got = exact_loss(strict(f), strict(y), **kw)
    check_grad_pair(got, exact_loss(f, y, **kw), 1e-6, 1e-6)


def test_exact_accuracy_and_extreme_float32_logits():
    rng = np.random.default_rng(12)
    f = rng.normal(scale=2, size=(3, 6))
    y = rng.integers(6, size=3)
    kw = dict(reduction="none", return_grad=True)
    check_grad_pair(
        exact_accuracy(strict(f), strict(y), 0.5, **kw), exact_accuracy(f, y, 0.5, **kw), 1e-6, 1e-6
    )
    x = strict(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=np.float32))
    loss, g = exact_loss(x, strict([0, 0]), meanlog=True, return_grad=True)
    assert loss.dtype == xps.float32 and g.dtype == xps.float32
    assert np.isfinite(np.asarray(loss)) and np.all(np.isfinite(np.asarray(g)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gumbel_smoothed_and_plain_accuracy(dtype):
    rng = np.random.default_rng(16)
    f = rng.normal(scale=2, size=(4, 5)).astype(dtype)
    y = rng.integers(5, size=4)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    got = gumbel_accuracy(strict(f), strict(y), reduction="mean", return_grad=True)
    check_grad_pair(got, gumbel_accuracy(f, y, reduction="mean", return_grad=True), tol, tol)
    assert got[0].dtype == (xps.float64 if dtype == np.float64 else xps.float32)
    for noise, ntol in (("gumbel", tol), ("gaussian", max(tol, 1e-6))):
        got = smoothed_accuracy(strict(f), strict(y), 0.7, noise=noise)
        want = smoothed_accuracy(f, y, 0.7, noise=noise)
        assert is_strict(got)
        np.testing.assert_allclose(np.asarray(got), want, rtol=ntol)
    for ties in ("split", "first"):
        got = accuracy(strict(f), strict(y), ties=ties, reduction="none")
        np.testing.assert_array_equal(np.asarray(got), accuracy(f, y, ties=ties, reduction="none"))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multilabel_with_mask(dtype):
    # test_torch_matches_numpy_and_autograd (multi-label): soft targets and a mask
    rng = np.random.default_rng(14)
    s = rng.normal(scale=2.0, size=(4, 6))
    t = rng.random((4, 6))
    t[rng.random((4, 6)) < 0.3] = 0.0
    t[rng.random((4, 6)) < 0.3] = 1.0
    mask = rng.random((4, 6)) < 0.8
    tol = 1e-12 if dtype == np.float64 else 1e-5
    got = multilabel_softmax_ce(
        strict(s.astype(dtype)), strict(t.astype(dtype)), strict(mask), return_grad=True
    )
    assert got[0].dtype == (xps.float64 if dtype == np.float64 else xps.float32)
    check_grad_pair(got, multilabel_softmax_ce(s, t, mask, return_grad=True), tol, tol)
    p = multilabel_softmax_proba(strict(s.astype(dtype)))
    assert is_strict(p)
    np.testing.assert_allclose(np.asarray(p), multilabel_softmax_proba(s), rtol=tol)


def test_multiway_with_numpy_labels_and_sparse():
    rng = np.random.default_rng(15)
    s = rng.normal(size=(2, 3, 4))
    lab = rng.integers(0, 4, size=(2, 3))
    got = multiway_softmax_ce(strict(s), lab, return_grad=True)  # numpy labels, strict logits
    check_grad_pair(got, multiway_softmax_ce(s, lab, return_grad=True), 1e-12, 1e-12)
    s2 = rng.normal(scale=2.0, size=(3, 7))
    pos = np.array([[0, 3, -1], [6, -1, -1], [1, 2, 5]])
    got = sparse_multilabel_softmax_ce(strict(s2), strict(pos), return_grad=True)
    want = sparse_multilabel_softmax_ce(s2, pos, return_grad=True)
    check_grad_pair(got, want, 1e-12, 1e-12)


def test_multilabel_extreme_float32_logits():
    x = strict(np.array([[1e4, -1e4, 0.0]], dtype=np.float32))
    out, g = multilabel_softmax_ce(
        x, strict(np.array([[0.0, 1.0, 0.5]], np.float32)), return_grad=True
    )
    assert out.dtype == xps.float32
    assert np.isfinite(np.asarray(out)) and np.all(np.isfinite(np.asarray(g)))
