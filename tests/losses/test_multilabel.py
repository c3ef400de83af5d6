"""Tests for the multi-label softmax cross-entropy (ZLPR), its sparse and n-by-m forms."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from support.numeric import central_diff
from support.strategies import SEEDS, examples

from latentgeo import losses
from latentgeo.losses import _common as C
from latentgeo.losses import (
    multilabel_softmax_ce,
    multilabel_softmax_proba,
    multiway_softmax_ce,
    sparse_multilabel_softmax_ce,
)

# ---------------------------------------------------------------------------------------------
# Slow references (plain Python floats, fp64).


def brute_zlpr_row(s, t, keep=None):
    """log(1 + sum t e^{-s}) + log(1 + sum (1 - t) e^{s}) with math.fsum, masked terms dropped."""
    keep = [True] * len(s) if keep is None else keep
    pos = [t_i * math.exp(-s_i) for s_i, t_i, k in zip(s, t, keep) if k and t_i > 0]
    neg = [(1 - t_i) * math.exp(s_i) for s_i, t_i, k in zip(s, t, keep) if k and t_i < 1]
    return math.log1p(math.fsum(pos)) + math.log1p(math.fsum(neg))


def brute_multiway(s, t, keep=None):
    """sum_j log(1 + sum_i sum_{k != j} t_ij e^{s_ik - s_ij}) with explicit loops."""
    n, m = len(s), len(s[0])
    keep = [True] * n if keep is None else keep
    total = 0.0
    for j in range(m):
        terms = [
            t[i][j] * math.exp(s[i][k] - s[i][j])
            for i in range(n)
            if keep[i]
            for k in range(m)
            if k != j
        ]
        total += math.log1p(math.fsum(terms))
    return total


def log1p_sum_exp(logs):
    """log(1 + sum_k e^{logs_k}) in log space (shift by the largest, math.fsum): no overflow."""
    v = [0.0, *logs]
    m = max(v)
    return m + math.log(math.fsum(math.exp(x - m) for x in v))


def logspace_zlpr_row(s, t):
    """brute_zlpr_row for any magnitude: log(1 + sum t e^{-s}) + log(1 + sum (1 - t) e^{s})."""
    pos = [math.log(t_i) - s_i for s_i, t_i in zip(s, t) if t_i > 0]
    neg = [math.log1p(-t_i) + s_i for s_i, t_i in zip(s, t) if t_i < 1]
    return log1p_sum_exp(pos) + log1p_sum_exp(neg)


def logspace_multiway(s, labels):
    """brute_multiway with hard labels for any magnitude: sum_j log(1 + sum_{i: y_i = j}
    sum_{k != j} e^{s_ik - s_ij})."""
    m = len(s[0])
    return math.fsum(
        log1p_sum_exp(
            [s[i][k] - s[i][j] for i in range(len(s)) if labels[i] == j for k in range(m) if k != j]
        )
        for j in range(m)
    )


def softmax_ce(s, y):
    s = np.asarray(s, dtype=float)
    m = s.max()
    return float(m + np.log(np.exp(s - m).sum()) - s[y])


def random_case(seed, shape=(4, 6), soft=True, masked=True):
    rng = np.random.default_rng(seed)
    s = rng.normal(scale=2.0, size=shape)
    if soft:
        t = rng.random(shape)
        t[rng.random(shape) < 0.3] = 0.0
        t[rng.random(shape) < 0.3] = 1.0
    else:
        t = (rng.random(shape) < 0.3).astype(float)
    mask = rng.random(shape) < 0.8 if masked else None
    return s, t, mask


# ---------------------------------------------------------------------------------------------
# Values and known answers.


def test_docstring_value():
    s = np.array([[2.0, -1.0, 0.5]])
    y = np.array([[1, 0, 1]])
    expected = math.log1p(math.exp(-1.0)) + math.log1p(math.exp(-2.0) + math.exp(-0.5))
    assert float(multilabel_softmax_ce(s, y)) == pytest.approx(expected, rel=1e-14)
    assert expected == pytest.approx(0.868219, abs=1e-6)


@examples(40)
@given(
    seed=SEEDS, soft=st.booleans(), masked=st.booleans(), n=st.integers(1, 4), c=st.integers(1, 7)
)
def test_matches_brute_force(seed, soft, masked, n, c):
    s, t, mask = random_case(seed, (n, c), soft, masked)
    out = multilabel_softmax_ce(s, t, mask, reduction="none")
    assert out.shape == (n,)
    for r in range(n):
        ref = brute_zlpr_row(s[r], t[r], None if mask is None else mask[r])
        assert out[r] == pytest.approx(ref, rel=1e-12, abs=1e-14)


def test_one_positive_relation_to_softmax_ce():
    """One positive y, all others negative: with N = sum_{i != y} e^{s_i},
    e^L = (1 + N)(1 + e^{-s_y}) = e^{CE(s)} + N + e^{-s_y}, since e^{CE} = 1 + N e^{-s_y}.
    So L >= CE, and the pairwise form (no threshold class) is exactly CE."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        c = int(rng.integers(2, 9))
        s = rng.normal(scale=2.0, size=c)
        y = int(rng.integers(c))
        t = np.zeros(c)
        t[y] = 1
        loss = float(multilabel_softmax_ce(s, t, reduction="none"))
        ce = softmax_ce(s, y)
        n_sum = math.fsum(math.exp(v) for i, v in enumerate(s) if i != y)
        assert math.exp(loss) == pytest.approx(math.exp(ce) + n_sum + math.exp(-s[y]), rel=1e-12)
        assert loss >= ce
        pairwise = math.log1p(math.fsum(math.exp(s[i] - s[y]) for i in range(c) if i != y))
        assert pairwise == pytest.approx(ce, rel=1e-12)
        # The n x m form with n = 1 and a hard label is softmax cross-entropy exactly.
        mw = float(multiway_softmax_ce(s[None, None, :], np.array([[y]])))
        assert mw == pytest.approx(ce, rel=1e-12)
    # With a confident, correct model the threshold terms vanish and L -> CE.
    s = np.array([30.0, -30.0, -31.0])
    t = np.array([1.0, 0.0, 0.0])
    assert float(multilabel_softmax_ce(s, t)) == pytest.approx(softmax_ce(s, 0), rel=1e-6)


def test_at_most_summed_bce_for_hard_labels():
    rng = np.random.default_rng(4)
    for _ in range(20):
        s = rng.normal(scale=2.0, size=7)
        t = (rng.random(7) < 0.4).astype(float)
        bce = float(np.sum(np.where(t == 1, np.log1p(np.exp(-s)), np.log1p(np.exp(s)))))
        assert float(multilabel_softmax_ce(s, t)) <= bce + 1e-12
    # One positive and one negative: equal.
    s = np.array([0.3, -1.2])
    t = np.array([1.0, 0.0])
    bce = math.log1p(math.exp(-0.3)) + math.log1p(math.exp(-1.2))
    assert float(multilabel_softmax_ce(s, t)) == pytest.approx(bce, rel=1e-14)


def test_single_class_is_sigmoid_bce_and_toy_minimum():
    """With one class ZLPR is sigmoid BCE; on the toy {(-0.25,-), (0,-), (0.25,+)} with
    f = x - b its minimum is at b = 0.700 (notes, EXACT toy example)."""
    x = np.array([-0.25, 0.0, 0.25])
    lab = np.array([0, 0, 1])

    def total(b):
        return float(multilabel_softmax_ce((x - b)[:, None], lab[:, None], reduction="sum"))

    res = minimize_scalar(total, bounds=(-2, 2), method="bounded", options={"xatol": 1e-9})
    assert res.x == pytest.approx(0.700, abs=5e-4)


def test_soft_gradient_vanishes_at_half_logit():
    rng = np.random.default_rng(5)
    t = rng.uniform(0.05, 0.95, size=(3, 5))
    s = 0.5 * np.log(t / (1 - t))
    _, g = multilabel_softmax_ce(s, t, return_grad=True)
    np.testing.assert_allclose(g, 0.0, atol=1e-15)
    np.testing.assert_allclose(multilabel_softmax_proba(s), t, rtol=1e-14)


def test_soft_with_01_targets_equals_hard_and_bool():
    s, t, mask = random_case(6, soft=False)
    a = multilabel_softmax_ce(s, t, mask, reduction="none")
    b = multilabel_softmax_ce(s, t.astype(bool), mask, reduction="none")
    c = multilabel_softmax_ce(s, t.astype(np.int64), mask.astype(float), reduction="none")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_masked_column_equals_deleted_column():
    s, t, _ = random_case(7, masked=False)
    mask = np.ones(s.shape[-1], dtype=bool)
    mask[[1, 4]] = False
    a = multilabel_softmax_ce(s, t, mask, reduction="none")
    b = multilabel_softmax_ce(s[:, mask], t[:, mask], reduction="none")
    np.testing.assert_allclose(a, b, rtol=1e-15)
    all_masked = multilabel_softmax_ce(s, t, np.zeros_like(s, dtype=bool), reduction="none")
    np.testing.assert_array_equal(all_masked, 0.0)


def test_threshold_form():
    """log(e^{s0} + sum_neg e^{s_i}) + log(e^{-s0} + sum_pos e^{-s_j}) = ZLPR(s - s0)."""
    s, t, _ = random_case(8, soft=False, masked=False)
    s0 = 0.7
    ref = [
        math.log(math.exp(s0) + sum(math.exp(v) for v, u in zip(row, trow) if u == 0))
        + math.log(math.exp(-s0) + sum(math.exp(-v) for v, u in zip(row, trow) if u == 1))
        for row, trow in zip(s, t)
    ]
    np.testing.assert_allclose(multilabel_softmax_ce(s - s0, t, reduction="none"), ref, rtol=1e-13)


@examples(25)
@given(seed=SEEDS, p=st.integers(0, 4))
def test_sparse_equals_dense(seed, p):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(3, 2, 6))
    pos = rng.integers(-1, 6, size=(3, 2, p))
    dense = np.zeros(s.shape)
    for idx in np.ndindex(pos.shape):
        if pos[idx] >= 0:
            dense[idx[:-1] + (pos[idx],)] = 1
    a, ga = sparse_multilabel_softmax_ce(s, pos, reduction="sum", return_grad=True)
    b, gb = multilabel_softmax_ce(s, dense, reduction="sum", return_grad=True)
    assert a == b
    np.testing.assert_array_equal(ga, gb)


# ---------------------------------------------------------------------------------------------
# n x m form.


@examples(30)
@given(
    seed=SEEDS, n=st.integers(1, 4), m=st.integers(2, 5), hard=st.booleans(), masked=st.booleans()
)
def test_multiway_matches_brute_force(seed, n, m, hard, masked):
    rng = np.random.default_rng(seed)
    s = rng.normal(scale=2.0, size=(2, n, m))
    if hard:
        lab = rng.integers(0, m, size=(2, n))
        t = np.eye(m)[lab]
    else:
        lab = rng.random((2, n, m))
        t = lab
    mask = rng.random((2, n)) < 0.7 if masked else None
    out = multiway_softmax_ce(s, lab, mask, reduction="none")
    assert out.shape == (2,)
    for b in range(2):
        ref = brute_multiway(s[b], t[b], None if mask is None else mask[b])
        assert out[b] == pytest.approx(ref, rel=1e-12, abs=1e-14)


def test_multiway_m2_is_soft_zlpr_on_difference():
    rng = np.random.default_rng(9)
    s = rng.normal(scale=2.0, size=(4, 5, 2))
    t1 = rng.random((4, 5))
    t = np.stack([t1, 1 - t1], axis=-1)
    a = multiway_softmax_ce(s, t, reduction="none")
    b = multilabel_softmax_ce(s[..., 0] - s[..., 1], t1, reduction="none")
    np.testing.assert_allclose(a, b, rtol=1e-13)


def test_multiway_invariant_to_per_item_shift():
    rng = np.random.default_rng(10)
    s = rng.normal(size=(3, 4, 5))
    lab = rng.integers(0, 5, size=(3, 4))
    shift = rng.normal(scale=100.0, size=(3, 4, 1))
    a = multiway_softmax_ce(s, lab, reduction="none")
    b = multiway_softmax_ce(s + shift, lab, reduction="none")
    np.testing.assert_allclose(a, b, rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# Gradients (central differences, float64).


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_dense(reduction, seed):
    s, t, mask = random_case(seed)
    _, g = multilabel_softmax_ce(s, t, mask, reduction=reduction, return_grad=True)

    def f(x):
        return float(np.sum(multilabel_softmax_ce(x, t, mask, reduction=reduction)))

    np.testing.assert_allclose(g, central_diff(f, s), atol=1e-8)
    assert np.all(g[~mask] == 0)


@pytest.mark.parametrize("hard", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradient_multiway(hard, reduction):
    rng = np.random.default_rng(11)
    s = rng.normal(scale=2.0, size=(2, 3, 4))
    lab = rng.integers(0, 4, size=(2, 3)) if hard else rng.random((2, 3, 4))
    mask = np.array([[True, False, True], [True, True, True]])
    _, g = multiway_softmax_ce(s, lab, mask, reduction=reduction, return_grad=True)

    def f(x):
        return float(np.sum(multiway_softmax_ce(x, lab, mask, reduction=reduction)))

    np.testing.assert_allclose(g, central_diff(f, s), atol=1e-8)
    assert np.all(g[0, 1] == 0)


def test_gradient_multiway_with_ties_and_large_gaps():
    s = np.array([[[3.0, 3.0, -1.0], [50.0, 0.0, -50.0], [0.0, 0.0, 0.0]]])
    lab = np.array([[0, 2, 1]])
    _, g = multiway_softmax_ce(s, lab, return_grad=True)

    def f(x):
        return float(multiway_softmax_ce(x, lab))

    np.testing.assert_allclose(g, central_diff(f, s, h=1e-5), atol=1e-7)


# ---------------------------------------------------------------------------------------------
# Numerics: extreme logits, dtypes.


# Resolution of each dtype on the values near 1e4 and 2e4 below: float64 resolves 4e-12 (so the
# log 2 / log 0.5 parts are checked to 1e-9), float32 resolves 2e-3 (checked to 4e-3, 170 times
# smaller than log 2), float16 resolves only 8-16 there (its log-2 parts are below one ulp; it is
# checked to be the rounded reference).
EXTREME_ATOL = {np.float16: 16.0, np.float32: 4e-3, np.float64: 1e-9}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_extreme_logits_finite(dtype):
    s = np.array([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, 1e4, 1e4]], dtype=dtype)
    t = np.array([[1, 0, 1, 0], [1, 0, 0.5, 1]], dtype=dtype)
    loss, g = multilabel_softmax_ce(s, t, reduction="none", return_grad=True)
    assert loss.dtype == dtype and g.dtype == dtype
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(g))
    # Row 0: positive 0 at 1e4 (~0), positive 2 at 0 (log 2 with the threshold), negative 3
    # at 1e4 (1e4). Row 1: positive 0 at -1e4 (1e4) and t = 0.5 at 1e4 (1e4 + log 0.5).
    # The dominant linear parts (1e4, 2e4) are subtracted in float64, so the comparison sees the
    # log terms: a missing or extra log 2, log 0.5 or log(1 + ...) moves them by >= 0.69.
    ref = [logspace_zlpr_row(s[r].astype(float), t[r].astype(float)) for r in range(2)]
    assert ref == pytest.approx([1e4 + math.log(2), 2e4 + math.log(0.5)], rel=0, abs=1e-11)
    dominant = np.array([1e4, 2e4])
    atol = EXTREME_ATOL[dtype]
    np.testing.assert_allclose(loss.astype(float) - dominant, ref - dominant, rtol=0, atol=atol)
    if dtype == np.float16:
        np.testing.assert_array_equal(loss, np.asarray(ref).astype(np.float16))
    pl, pg = multilabel_softmax_proba(s), None
    assert pl.dtype == dtype and np.all(np.isfinite(pl)) and pg is None
    lab = np.array([[0, 3]])
    mw, mg = multiway_softmax_ce(s[None], lab, return_grad=True)
    assert mw.dtype == dtype and np.isfinite(mw) and np.all(np.isfinite(mg))
    # classes 0 and 3 each see one competitor tied with the label (log 2 each), the others are
    # e^{-1e4} or smaller: 2 log 2
    mw_ref = logspace_multiway(s.astype(float), [0, 3])
    assert mw_ref == pytest.approx(2 * math.log(2), rel=1e-15)
    rtol = {np.float16: 1e-3, np.float32: 1e-6, np.float64: 1e-13}[dtype]
    np.testing.assert_allclose(float(mw), mw_ref, rtol=rtol)
    sp = sparse_multilabel_softmax_ce(s, np.array([[0, 2], [0, -1]]), reduction="none")
    assert np.all(np.isfinite(sp))
    sp_ref = [
        logspace_zlpr_row(s[0].astype(float), [1, 0, 1, 0]),
        logspace_zlpr_row(s[1].astype(float), [1, 0, 0, 0]),
    ]
    # row 1 has only class 0 positive: negatives 2 and 3 both at 1e4 give 1e4 + log 2
    assert sp_ref == pytest.approx([1e4 + math.log(2), 2e4 + math.log(2)], rel=0, abs=1e-11)
    np.testing.assert_allclose(sp.astype(float) - dominant, sp_ref - dominant, rtol=0, atol=atol)


@pytest.mark.parametrize("seed", range(6))
def test_large_logits_against_a_log_space_reference(seed):
    """Logits near +-1e4 and 0 with O(1) offsets and soft targets, in float64: every log(1 + ...)
    term is resolved (compared at 1e-9 absolute on values up to ~1e5, against math.fsum
    log-sum-exp references; a dropped log 2 or log(1 + e^-1) would be off by >= 0.31)."""
    rng = np.random.default_rng(seed)
    shape = (5, 7)
    s = rng.choice([-1e4, 0.0, 1e4], size=shape) + rng.normal(size=shape)
    t = rng.choice([0.0, 1.0, 0.5, 0.25], size=shape)
    loss, g = multilabel_softmax_ce(s, t, reduction="none", return_grad=True)
    ref = np.array([logspace_zlpr_row(s[r], t[r]) for r in range(shape[0])])
    np.testing.assert_allclose(loss, ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(multilabel_softmax_ce(s, t, reduction="sum"), ref.sum(), atol=1e-8)
    # the gradient is finite and matches the log-space value's central differences
    row = 0

    def f(x):
        return logspace_zlpr_row(x, t[row])

    np.testing.assert_allclose(g[row], central_diff(f, s[row], h=1e-4), atol=1e-6)


def test_float32_close_to_float64():
    s, t, mask = random_case(12)
    a = multilabel_softmax_ce(s.astype(np.float32), t.astype(np.float32), mask, reduction="none")
    b = multilabel_softmax_ce(s, t, mask, reduction="none")
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_integer_logits_give_float64():
    out = multilabel_softmax_ce(np.array([[1, -2, 3]]), np.array([[1, 0, 0]]))
    assert np.asarray(out).dtype == np.float64


@examples(25)
@given(seed=SEEDS, lead=st.lists(st.integers(1, 3), min_size=0, max_size=3))
def test_shapes_reductions_and_permutation(seed, lead):
    rng = np.random.default_rng(seed)
    shape = tuple(lead) + (5,)
    s = rng.normal(size=shape)
    t = rng.random(shape)
    mask = rng.random(shape) < 0.8
    none = multilabel_softmax_ce(s, t, mask, reduction="none")
    assert np.shape(none) == tuple(lead)
    total = multilabel_softmax_ce(s, t, mask, reduction="sum")
    mean = multilabel_softmax_ce(s, t, mask, reduction="mean")
    assert total == pytest.approx(np.sum(none), rel=1e-12)
    assert mean == pytest.approx(np.sum(none) / max(1, math.prod(lead)), rel=1e-12)
    perm = rng.permutation(5)
    permuted = multilabel_softmax_ce(s[..., perm], t[..., perm], mask[..., perm], reduction="none")
    np.testing.assert_allclose(permuted, none, rtol=1e-13)


def test_loo_logsumexp_against_brute_force():
    rng = np.random.default_rng(13)
    x = rng.normal(scale=30.0, size=(50, 6))
    x[:5, 2] = -np.inf
    x[5:8] = -np.inf
    x[8, :] = 3.0  # all tied
    with C.errstate():
        out = C.loo_logsumexp(C.aac.array_namespace(x), x)
    for r in range(x.shape[0]):
        for j in range(6):
            rest = np.delete(x[r], j)
            m = rest.max()
            ref = -np.inf if m == -np.inf else m + np.log(np.exp(rest - m).sum())
            assert out[r, j] == pytest.approx(ref, rel=1e-13, abs=1e-13)


# ---------------------------------------------------------------------------------------------
# Bad input.


def test_errors():
    s = np.zeros((2, 3))
    t = np.zeros((2, 3))
    with pytest.raises(ValueError, match="targets must have the logits' shape"):
        multilabel_softmax_ce(s, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        multilabel_softmax_ce(s, t + 1.5)
    with pytest.raises(ValueError, match="targets contains NaN"):
        multilabel_softmax_ce(s, np.full((2, 3), np.nan))
    with pytest.raises(
        ValueError,
        match=r"logits contains NaN or infinite values \(first at "
        r"index \(1, 2\)\)",
    ):
        bad = s.copy()
        bad[1, 2] = np.nan
        multilabel_softmax_ce(bad, t)
    with pytest.raises(ValueError, match="logits contains NaN or infinite"):
        multilabel_softmax_ce(np.array([[-np.inf, 0.0]]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="does not broadcast"):
        multilabel_softmax_ce(s, t, np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="mask must be boolean or hold only 0 and 1"):
        multilabel_softmax_ce(s, t, np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="unknown reduction"):
        multilabel_softmax_ce(s, t, reduction="avg")
    with pytest.raises(ValueError, match="at least 1 dimension"):
        multilabel_softmax_ce(np.float64(1.0), np.float64(1.0))
    with pytest.raises(ValueError, match="empty"):
        multilabel_softmax_ce(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="at least 1 classes"):
        multilabel_softmax_ce(np.zeros((2, 0)), np.zeros((2, 0)))
    with pytest.raises(TypeError, match="must hold real numbers"):
        multilabel_softmax_ce(np.array([["a", "b"]]), np.zeros((1, 2)))
    with pytest.raises(TypeError, match="must hold real numbers"):
        multilabel_softmax_ce(s, np.array([["a"] * 3] * 2))
    # Sparse.
    with pytest.raises(ValueError, match="positives must lie in"):
        sparse_multilabel_softmax_ce(s, np.array([[0], [3]]))
    with pytest.raises(ValueError, match="positives must lie in"):
        sparse_multilabel_softmax_ce(s, np.array([[0], [-2]]))
    with pytest.raises(ValueError, match="positives must have shape"):
        sparse_multilabel_softmax_ce(s, np.array([[0], [1], [2]]))
    with pytest.raises(TypeError, match="positives must be integer"):
        sparse_multilabel_softmax_ce(s, np.array([[0.0], [1.0]]))
    # n x m.
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        multiway_softmax_ce(s[None], np.array([[0, 3]]))
    with pytest.raises(ValueError, match="labels must lie in"):
        multiway_softmax_ce(s[None], np.array([[0, -1]]))
    with pytest.raises(ValueError, match=r"labels must have shape \(1, 2\)"):
        multiway_softmax_ce(s[None], np.array([0, 1]))
    with pytest.raises(TypeError, match="must be integer class indices"):
        multiway_softmax_ce(s[None], np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="labels must have the logits' shape"):
        multiway_softmax_ce(s[None], np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="at least 2 classes"):
        multiway_softmax_ce(np.zeros((2, 1)), np.array([0, 0]))
    with pytest.raises(ValueError, match="at least 2 dimension"):
        multiway_softmax_ce(np.zeros(3), np.array(0))
    with pytest.raises(ValueError, match="does not broadcast"):
        multiway_softmax_ce(s[None], np.array([[0, 1]]), np.ones(3, dtype=bool))


def test_public_names():
    import latentgeo

    assert latentgeo.losses is losses
    for name in losses.__all__:
        assert hasattr(losses, name)


# ---------------------------------------------------------------------------------------------
# torch (skipped when torch is not installed).


def test_torch_matches_numpy_and_autograd():
    torch = pytest.importorskip("torch")
    s, t, mask = random_case(14)
    for dtype in (torch.float64, torch.float32):
        ts = torch.tensor(s, dtype=dtype, requires_grad=True)
        out = multilabel_softmax_ce(ts, torch.tensor(t, dtype=dtype), torch.tensor(mask))
        assert isinstance(out, torch.Tensor) and out.dtype == dtype
        out.backward()
        ref, g = multilabel_softmax_ce(s.astype(np.float64), t, mask, return_grad=True)
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        assert float(out.detach()) == pytest.approx(float(ref), rel=tol)
        np.testing.assert_allclose(ts.grad.numpy(), g, rtol=tol, atol=tol)
    # numpy labels are accepted with torch logits; the n x m form under autograd.
    rng = np.random.default_rng(15)
    s = rng.normal(size=(2, 3, 4))
    lab = rng.integers(0, 4, size=(2, 3))
    ts = torch.tensor(s, requires_grad=True)
    out = multiway_softmax_ce(ts, lab)
    out.backward()
    ref, g = multiway_softmax_ce(s, lab, return_grad=True)
    assert float(out.detach()) == pytest.approx(float(ref), rel=1e-12)
    np.testing.assert_allclose(ts.grad.numpy(), g, atol=1e-12)
    # Extreme logits stay finite in float32 with finite gradients.
    ts = torch.tensor([[1e4, -1e4, 0.0]], dtype=torch.float32, requires_grad=True)
    out = multilabel_softmax_ce(ts, torch.tensor([[0.0, 1.0, 0.5]]))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(ts.grad).all()
