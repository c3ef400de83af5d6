"""latentgeo.unargmaxable: known answers, exact oracles, metamorphic invariance, scipy HiGHS."""

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.spatial import ConvexHull
from support.strategies import examples

import latentgeo
from latentgeo import unargmaxable


def cross_polytope(d):
    return np.concatenate([np.eye(d), -np.eye(d)])


def arg_set(report):
    return set(report.argmaxable.tolist())


def check(report):
    assert report.undecided.size == 0, report.summary()
    assert report.verify(raise_on_failure=True)
    # Certificates are reduced to a Caratheodory support.
    for k in report.unargmaxable:
        assert len(report.certificate(k)[0]) <= report.d + 2
    return report


# -- known answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 6])
def test_cross_polytope_and_planted_rows(d):
    W = cross_polytope(d)
    r = check(unargmaxable(W))
    assert r.unargmaxable.size == 0 and set(r.stage) == {"screen"}
    extra = [0.6 * np.eye(d)[0], np.zeros(d), np.full(d, 0.95 / d), np.full(d, 1.05 / d)]
    W2 = np.vstack([W, extra])
    for patience in (0, 100):
        r = check(unargmaxable(W2, patience=patience))
        assert r.unargmaxable.tolist() == [2 * d, 2 * d + 1, 2 * d + 2]
        # The certificate of the facet point lies on the facet sum x = 1.
        idx, lam = r.certificate(2 * d + 2)
        assert np.allclose(lam @ W2[idx], W2[2 * d + 2], atol=1e-12)
        assert lam.sum() == pytest.approx(1.0) and np.all(lam > 0) and 2 * d + 2 not in idx
        x = r.witness(2 * d + 3)
        z = W2 @ x
        assert np.argmax(z) == 2 * d + 3


def test_unit_norm_rows_and_voronoi_bias():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((500, 8))
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    assert check(unargmaxable(Wn)).unargmaxable.size == 0
    b = -0.5 * (W**2).sum(axis=1)
    assert check(unargmaxable(W, b)).unargmaxable.size == 0


def test_moment_curve():
    n, half = 60, 3
    t = 2 * np.pi * np.arange(n) / n
    W = np.column_stack([f(h * t) for h in range(1, half + 1) for f in (np.cos, np.sin)])
    rng = np.random.default_rng(2)
    mix = rng.dirichlet(np.ones(4), size=5)
    rows = [lam @ W[rng.choice(n, 4, replace=False)] for lam in mix]
    r = check(unargmaxable(np.vstack([W, rows])))
    assert r.unargmaxable.tolist() == list(range(n, n + 5))


def test_duplicates_zero_rows_and_bias_only():
    W = np.vstack([cross_polytope(3), [1.0, 0, 0]])
    assert check(unargmaxable(W)).unargmaxable.tolist() == [0, 6]
    b = np.zeros(7)
    b[6] = 0.25
    assert check(unargmaxable(W, b)).unargmaxable.tolist() == [0]
    Wc = np.tile([0.5, -2.0, 1.0], (5, 1))
    r = check(unargmaxable(Wc, [0.0, 2.0, 1.0, -1.0, 1.5]))
    assert r.argmaxable.tolist() == [1]
    r = check(unargmaxable(Wc, [0.0, 2.0, 2.0, -1.0, 1.5]))
    assert r.argmaxable.size == 0
    Wz = np.vstack([cross_polytope(2), [0.0, 0.0]])
    assert check(unargmaxable(Wz)).unargmaxable.tolist() == [4]
    assert check(unargmaxable(Wz, [0, 0, 0, 0, 1.0])).unargmaxable.size == 0
    # Rank-deficient W (all rows in a plane of R^4) and an all-zero W.
    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 2))
    hull = set(ConvexHull(A).vertices.tolist())
    r = check(unargmaxable(A @ rng.standard_normal((2, 4))))
    assert arg_set(r) == hull
    assert check(unargmaxable(np.zeros((3, 2)))).unargmaxable.tolist() == [0, 1, 2]


def test_box_semantics():
    W = np.array([[0.0], [1.0]])
    b = np.array([0.0, -150.0])
    assert check(unargmaxable(W, b)).unargmaxable.size == 0
    r = check(unargmaxable(W, b, bounds=100))
    assert r.unargmaxable.tolist() == [1] and r.semantics == "box [-100, 100]^d"
    assert check(unargmaxable(W, b, bounds=200)).unargmaxable.size == 0
    assert np.abs(check(unargmaxable(W, b, bounds=200)).witness(1)).max() <= 200


# -- exact oracles ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_hull_vertices_small_d(d, seed):
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((40, d))
    planted = [
        rng.dirichlet(np.ones(d + 1)) @ P[rng.choice(40, d + 1, replace=False)] for _ in range(4)
    ]
    W = np.vstack([P, planted])
    r = check(unargmaxable(W, patience=seed * 10))
    assert arg_set(r) == set(ConvexHull(W).vertices.tolist())


def line_oracle(w, b):
    """Exact: class k wins on some interval of x in 1-D with bias."""
    out = []
    for k in range(len(w)):
        lo, hi, ok = None, None, True
        for j in range(len(w)):
            if j == k:
                continue
            if w[j] == w[k]:
                ok &= b[k] > b[j]
            elif w[j] < w[k]:
                v = Fraction(b[j] - b[k], w[k] - w[j])
                lo = v if lo is None else max(lo, v)
            else:
                v = Fraction(b[k] - b[j], w[j] - w[k])
                hi = v if hi is None else min(hi, v)
        out.append(ok and (lo is None or hi is None or lo < hi))
    return np.array(out)


@examples(60)
@given(st.lists(st.tuples(st.integers(-6, 6), st.integers(-6, 6)), min_size=2, max_size=10))
def test_d1_with_bias_against_upper_hull(pairs):
    w = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    r = check(unargmaxable(np.array(w, float)[:, None], np.array(b, float)))
    assert (r.status == "argmaxable").tolist() == line_oracle(w, b).tolist()


# -- scipy HiGHS -----------------------------------------------------------------------------


def highs_argmaxable(W, b, k, bounds=None):
    """The full LP: max t s.t. a_j.x + s c_j >= t (box-free) or a_j.x + c_j >= t (box)."""
    V, d = W.shape
    A = W[k] - np.delete(W, k, axis=0)
    c = b[k] - np.delete(b, k)
    if bounds is None:
        # variables x (d), s, t; minimise -t
        A_ub = np.hstack([-A, -c[:, None], np.ones((V - 1, 1))])
        res = linprog(
            np.r_[np.zeros(d + 1), -1.0],
            A_ub=A_ub,
            b_ub=np.zeros(V - 1),
            bounds=[(-1, 1)] * d + [(0, 1), (None, None)],
            method="highs",
        )
    else:
        A_ub = np.hstack([-A, np.ones((V - 1, 1))])
        res = linprog(
            np.r_[np.zeros(d), -1.0],
            A_ub=A_ub,
            b_ub=c,
            bounds=[(-bounds, bounds)] * d + [(None, None)],
            method="highs",
        )
    assert res.status == 0
    return -res.fun > 1e-9


@pytest.mark.parametrize("bounds", [None, 2.0])
@pytest.mark.parametrize("seed", range(6))
def test_lp_verdicts_match_highs(seed, bounds):
    rng = np.random.default_rng(100 + seed)
    V, d = int(rng.integers(10, 40)), int(rng.integers(2, 6))
    # Points in a ball with a random bias: many interior rows, so every stage runs.
    W = rng.uniform(-1, 1, (V, d))
    b = rng.normal(0, 0.3, V)
    r = check(unargmaxable(W, b, bounds=bounds, patience=0))
    want = [highs_argmaxable(W, b, k, bounds) for k in range(V)]
    assert (r.status == "argmaxable").tolist() == want
    assert r.counts["lp"] > 0


# -- metamorphic invariance ------------------------------------------------------------------


def instance(seed, V, d, bias):
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((V, d))
    planted = [
        rng.dirichlet(np.ones(d + 1)) @ P[rng.choice(V, d + 1, replace=False)] for _ in range(3)
    ]
    W = np.vstack([P, planted])
    b = rng.normal(0, 1, len(W)) if bias else None
    return W, b, rng


@examples(25)
@given(
    seed=st.integers(0, 2**31),
    V=st.integers(6, 30),
    d=st.integers(1, 4),
    bias=st.booleans(),
    transform=st.sampled_from(["linear", "scale", "shift", "bias", "permute"]),
)
def test_metamorphic_invariance(seed, V, d, bias, transform):
    W, b, rng = instance(seed, V, d, bias)
    base = check(unargmaxable(W, b))
    W2, b2, perm = W, b, np.arange(len(W))
    if transform == "linear":
        Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        W2 = W @ (Q * rng.uniform(0.5, 2.0, d))
    elif transform == "scale":
        W2 = W * rng.uniform(0.01, 100)
    elif transform == "shift":
        W2 = W + rng.standard_normal(d) * 3
    elif transform == "bias":
        b2 = (b if b is not None else np.zeros(len(W))) + rng.normal(0, 10)
    else:
        perm = rng.permutation(len(W))
        W2 = W[perm]
        b2 = None if b is None else b[perm]
    got = check(unargmaxable(W2, b2))
    assert got.status.tolist() == base.status[perm].tolist()


# -- API -------------------------------------------------------------------------------------


def test_dtypes_classes_threads_and_report():
    rng = np.random.default_rng(7)
    W = rng.uniform(-1, 1, (300, 4))
    W[:3] = 0.5 * W[10:13] + 0.25 * W[20:23] + 0.25 * W[30:33]
    r64 = check(unargmaxable(W, n_threads=1))
    r2 = unargmaxable(W, n_threads=2)
    assert r64.status.tolist() == r2.status.tolist()
    np.testing.assert_array_equal(r64.margin, r2.margin)
    W32 = W.astype(np.float32)
    r32 = check(unargmaxable(W32))
    assert r32.status.tolist() == check(unargmaxable(W32.astype(np.float64))).status.tolist()
    r16 = check(unargmaxable(W.astype(np.float16)))
    assert r16._W.dtype == np.float32
    sub = unargmaxable(W, classes=[5, 0, 2])
    assert sub.classes.tolist() == [5, 0, 2]
    assert sub.status.tolist() == r64.status[[5, 0, 2]].tolist()
    assert sub.verify()
    d = json.loads(json.dumps(r64.to_dict()))
    assert d["unargmaxable"] == r64.unargmaxable.tolist()
    assert set(d["certificates"]) == {str(k) for k in r64.unargmaxable}
    assert sum(r64.counts.values()) == 300
    assert set(r64.timings) == {"screen", "heuristic", "lp", "total"}
    assert "unargmaxable ids" in r64.summary()
    k_un, k_arg = int(r64.unargmaxable[0]), int(r64.argmaxable[0])
    with pytest.raises(ValueError, match="only argmaxable"):
        r64.witness(k_un)
    with pytest.raises(ValueError, match="only unargmaxable"):
        r64.certificate(k_arg)
    with pytest.raises(ValueError, match="not checked"):
        sub.witness(7)
    assert latentgeo.UnargmaxReport is type(r64)


def test_verify_detects_tampering():
    W = np.vstack([cross_polytope(3), [0.1, 0.2, 0.0]])
    r = unargmaxable(W)
    i = 6
    idx, lam = r._certificates[i]
    r._certificates[i] = (idx, lam * np.linspace(0.5, 1.5, len(lam)))
    assert not r.verify()
    with pytest.raises(ValueError, match="class 6"):
        r.verify(raise_on_failure=True)
    r = unargmaxable(W)
    r._alpha[0] = -1.0
    assert not r.verify()


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        ((np.ones((1, 3)),), {}, ValueError, r"W needs at least 2 rows \(classes\), got 1"),
        (
            (np.array([[0.0, np.nan], [1.0, 1.0]]),),
            {},
            ValueError,
            r"W contains NaN or infinite values \(first at row 0, column 1\)",
        ),
        (
            (np.eye(3), np.ones(2)),
            {},
            ValueError,
            r"b must have shape \(3,\) to match W's 3 rows, got shape \(2,\)",
        ),
        (
            (np.eye(3), [0.0, np.inf, 0.0]),
            {},
            ValueError,
            r"b contains NaN or infinite values \(first at 1\)",
        ),
        ((np.eye(3),), {"classes": [3]}, ValueError, "class 3 is out of range for W with 3 rows"),
        ((np.eye(3),), {"classes": [-1]}, ValueError, "class -1 is out of range for W with 3 rows"),
        ((np.eye(3),), {"classes": [1, 1]}, ValueError, "classes contains duplicates"),
        ((np.eye(3),), {"bounds": 0}, ValueError, r"bounds must be > 0, got 0\.0"),
        ((np.eye(3),), {"bounds": -5.0}, ValueError, r"bounds must be > 0, got -5\.0"),
        ((np.eye(3),), {"tol": -1e-3}, ValueError, r"tol must be >= 0, got -0\.001"),
        ((np.eye(3),), {"patience": -1}, ValueError, "patience must be at least 0, got -1"),
        ((np.eye(3),), {"n_threads": 0}, ValueError, "n_threads must be at least 1, got 0"),
        (
            (np.ones(3),),
            {},
            ValueError,
            r"W must be a 2-D array of shape \(V, d\), got shape \(3,\)",
        ),
        (
            (np.array([["a", "b"], ["c", "d"]]),),
            {},
            TypeError,
            "W must hold real numbers, got dtype <U1",
        ),
        ((np.eye(3),), {"bounds": "big"}, TypeError, "bounds must be a real number, got 'big'"),
    ],
)
def test_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        unargmaxable(*args, **kwargs)


@pytest.mark.slow
def test_whitened_screen_witnesses():
    from latentgeo.datasets import make_example

    W = make_example(n=600, d=8, kind="softmax")
    r = check(unargmaxable(W, n_threads=1))
    r2 = unargmaxable(W, n_threads=2)
    assert r.status.tolist() == r2.status.tolist()
    np.testing.assert_array_equal(r.margin, r2.margin)
    # Classes the plain screen (x = alpha * w_k) leaves open but the whitened direction decides
    # carry an explicit witness.
    white = [i for i in np.flatnonzero(r.stage == "screen") if i in r._witnesses]
    assert white
    for i in white:
        k = int(r.classes[i])
        assert int(np.argmax(W.astype(np.float64) @ r.witness(k))) == k
    assert set(range(594, 600)) <= set(r.unargmaxable.tolist())
