"""verify()'s Gram pass (witnesses ``alpha_k B Y_k`` on half a GEMM, issue 18): every float32
score it keeps bounds the exact one from above and within its allowance, it decides almost every
screen witness, and a wrong hint or a tampered witness never makes it accept a bad one."""

import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.strategies import SEEDS, examples

from latentgeo import _core, unargmaxable
from latentgeo.unargmax import _verify
from latentgeo.unargmax._verify_gram import GramPass


def _norms(W):
    W = W.astype(np.float64)
    return np.sqrt(np.einsum("ij,ij->i", W, W))


@examples(40)
@given(
    seed=SEEDS,
    V=st.integers(2, 700),
    d=st.integers(1, 12),
    dtype=st.sampled_from([np.float32, np.float64]),
    basis=st.sampled_from([None, "full", "upper"]),
    bias=st.sampled_from([0.0, 0.1, 100.0, 1e-50]),
    scale=st.sampled_from([2.0**-40, 1.0, 2.0**20]),
    noise=st.sampled_from([0.0, 1e-9]),
)
def test_kept_scores_bound_the_exact_ones(seed, V, d, dtype, basis, bias, scale, noise):
    rng = np.random.default_rng(seed)
    W = (scale * rng.standard_normal((V, d))).astype(dtype)
    b = bias * scale * rng.standard_normal(V)
    B = mu = None
    if basis:
        B = rng.standard_normal((d, d)) / scale + np.eye(d) / scale
        B = np.triu(B) if basis == "upper" else B
        mu = scale * rng.standard_normal(d)
    gram = GramPass(W, b, _norms(W), B, mu)
    ks = np.sort(rng.choice(V, size=int(rng.integers(1, V + 1)), replace=False))
    H = gram.Y[ks].astype(np.float64) if B is None else gram.Y[ks].astype(np.float64) @ B.T
    a = np.exp(rng.uniform(-3, 3, len(ks)))
    X = a[:, None] * H + noise * np.linalg.norm(H, axis=1, keepdims=True) * rng.standard_normal(
        H.shape
    )
    alpha, rho, fits = gram.columns(ks, X, None if basis else a)
    if noise == 0:
        assert fits[np.linalg.norm(H, axis=1) > 0].all()
    m = np.flatnonzero(fits)
    if m.size == 0:
        return
    top, arg, second, abar = gram.top_scores(ks[m], alpha[m], rho[m])
    Z = X[m] @ W.astype(np.float64).T + b  # exact z_j(x_k) up to float64 rounding
    S = np.abs(X[m]) @ np.abs(W.astype(np.float64)).T + np.abs(b)
    Z[np.arange(m.size), ks[m]] = -np.inf
    for c in range(m.size):
        if V == 1:
            continue
        best, tol = Z[c].max(), 1e-13 * S[c].max()
        up = alpha[m[c]] * float(top[c])
        assert up >= best - tol
        assert up <= best + 2 * alpha[m[c]] * abar[c] + tol
        assert arg[c] != ks[m[c]] and Z[c, arg[c]] >= up - 2 * alpha[m[c]] * abar[c] - tol
        assert float(second[c]) <= float(top[c])


def test_the_kernel_rejects_bad_shapes():
    y, t = np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="row terms 3 x 2"):
        _core.witness_gram_top_scores(y, t[:3], t, np.ones(4, bool))
    with pytest.raises(ValueError, match="3 flags for 4 classes"):
        _core.witness_gram_top_scores(y, t, t, np.ones(3, bool))


def _vocab_like(seed, V=600, d=8, bias=False):
    """A shared offset makes the whitened screen go first (explicit witnesses with a basis)."""
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((V, d)) + 4.0).astype(np.float32)
    W[:4] = 0.5 * W[4:8] + 0.5 * W[8:12]
    b = (0.1 * rng.standard_normal(V)).astype(np.float32) if bias else None
    return W, b


def _gaussian(seed, V=600, d=32, bias=False):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((V, d)).astype(np.float32)
    b = (0.1 * rng.standard_normal(V)).astype(np.float32) if bias else None
    return W, b


def _count_gram(monkeypatch):
    seen = []
    real = _verify._gram_certified

    def counted(gram, wit, pos, *a):
        ok = real(gram, wit, pos, *a)
        seen.append((len(pos), int(ok.sum())))
        return ok

    monkeypatch.setattr(_verify, "_gram_certified", counted)
    return seen


@pytest.mark.parametrize("head", [_vocab_like, _gaussian])
@pytest.mark.parametrize("bias", [False, True])
def test_the_gram_pass_decides_almost_every_screen_witness(monkeypatch, head, bias):
    rep = unargmaxable(*head(1, bias=bias))
    assert (head is _vocab_like) == (rep._basis is not None and len(rep._witnesses) > rep.V / 2)
    seen = _count_gram(monkeypatch)
    assert rep.verify()
    family, certified = seen[0]
    assert family >= rep.V / 2 and certified >= 0.95 * (rep.stage == "screen").sum()


@pytest.mark.parametrize("head", [_vocab_like, _gaussian])
def test_tampered_witnesses_fail_in_and_out_of_the_family(head):
    rep = unargmaxable(*head(2, bias=True))
    assert rep.verify()
    arg = np.flatnonzero((rep.status == "argmaxable") & (rep.stage == "screen"))
    half, flip, boost = (int(i) for i in arg[[3, 40, 77]])
    # Half the witness (still of the family): half the margin, below the reported bound when
    # the bias does not make up for it; a negated one (out of the family); an inflated margin.
    for i, f in [(half, 0.5), (flip, -1.0)]:
        if i in rep._witnesses:
            rep._witnesses[i] = f * rep._witnesses[i]
        else:
            rep._alpha[i] = f * rep._alpha[i]
    rep.margin[boost] = 2 * rep.margin[boost] + 1.0
    W = rep._W
    b = rep._b.astype(np.float64)
    failures = list(
        _verify.witness_failures(
            W, b, rep.classes, arg, rep._witnesses, rep._alpha, rep.margin, None,
            lower=rep.stage == "screen", basis=rep._basis,
        )
    )  # fmt: skip
    x = rep.witness(int(rep.classes[half]))
    z = W.astype(np.float64) @ x + b
    k = int(rep.classes[half])
    margin = z[k] - np.delete(z, k).max()
    want = {flip, boost} | ({half} if margin < rep.margin[half] * (1 - 1e-6) else set())
    assert set(failures) == want
    assert not rep.verify()


def test_a_wrong_basis_only_costs_time(monkeypatch):
    rep = unargmaxable(*_vocab_like(3, bias=True))
    rng = np.random.default_rng(0)
    d = rep.d
    wrong = dataclasses.replace(rep, _basis=(rng.standard_normal((d, d)), rng.standard_normal(d)))
    seen = _count_gram(monkeypatch)
    assert wrong.verify() and rep.verify()
    assert seen[0][1] == 0 and seen[1][1] >= 0.95 * (rep.stage == "screen").sum()
    # A witness negated under the wrong hint is still caught.
    i = sorted(wrong._witnesses)[5]
    wrong._witnesses[i] = -wrong._witnesses[i]
    assert not wrong.verify()


@pytest.mark.parametrize("head", [_vocab_like, _gaussian])
def test_a_subset_of_classes_takes_the_gram_pass_on_its_own_columns(monkeypatch, head):
    W, b = head(4, d=24, bias=True)
    classes = np.random.default_rng(0).permutation(len(W))[: int(0.8 * len(W))]
    rep = unargmaxable(W, b, classes=classes)
    seen = _count_gram(monkeypatch)
    assert rep.verify()
    family, certified = seen[0]
    assert family >= len(W) / 2 and certified >= 0.95 * (rep.stage == "screen").sum()
    # A witness of the subset scaled into the wrong sign is caught.
    i = int(np.flatnonzero(rep.stage == "screen")[7])
    if i in rep._witnesses:
        rep._witnesses[i] = -rep._witnesses[i]
    else:
        rep._alpha[i] = -rep._alpha[i]
    assert not rep.verify()


def test_a_report_pickled_before_the_basis_still_verifies():
    rep = unargmaxable(*_vocab_like(5))
    object.__delattr__(rep, "_basis")  # the state of a report pickled by an earlier version
    old = pickle.loads(pickle.dumps(rep))
    assert "_basis" not in vars(old) and old._basis is None  # the field's default
    assert old.verify()
