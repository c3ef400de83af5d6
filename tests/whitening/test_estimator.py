"""Generalised BERT-whitening (beta, gamma, k): known answers, degenerate covariances and the
scikit-learn estimator protocol."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.strategies import SEEDS, examples
from support.whitening import make_data

import latentgeo
from latentgeo import Whitening
from latentgeo.whitening import NotFittedError

unit = st.floats(min_value=0.0, max_value=1.0)


def align_signs(Z, ref):
    """Flip the columns of Z to match the signs of ref (column-wise)."""
    signs = np.sign(np.einsum("ij,ij->j", Z, ref))
    signs[signs == 0] = 1
    return Z * signs


def by_hand(X, beta, gamma, k):
    """Direct formula: Sigma_beta around beta*mu (1/N), eigh, (x - beta mu) U Lambda^(-gamma/2)."""
    X = np.asarray(X, dtype=np.float64)
    mu = X.mean(axis=0)
    Y = X - beta * mu
    w, U = np.linalg.eigh(Y.T @ Y / len(X))
    w, U = w[::-1], U[:, ::-1]
    return Y @ U[:, :k] * w[:k] ** (-gamma / 2)


# ---------------------------------------------------------------------------------------------
# Known answers.


def test_whitened_covariance_is_identity():
    X = make_data()
    Z = Whitening(beta=1, gamma=1).fit_transform(X)
    assert Z.shape == X.shape
    np.testing.assert_allclose(np.cov(Z.T, bias=True), np.eye(X.shape[1]), atol=1e-6)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-9)


def test_rotation_keeps_dot_products():
    X = make_data()
    new = make_data(n=30, seed=1)
    w = Whitening(beta=0, gamma=0).fit(X)
    for data in (X, new):
        R = w.transform(data)
        np.testing.assert_allclose(R @ R.T, data @ data.T, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(w.kernel_.T @ w.kernel_, np.eye(X.shape[1]), atol=1e-12)
    np.testing.assert_allclose(w.bias_, 0)


def test_beta_one_gamma_zero_is_pca_projection():
    pytest.importorskip("sklearn")
    from sklearn.decomposition import PCA

    X = make_data()
    Z = Whitening(beta=1, gamma=0, n_components=3).fit_transform(X)
    P = PCA(n_components=3, svd_solver="full").fit_transform(X)
    np.testing.assert_allclose(align_signs(Z, P), P, atol=1e-9)


@pytest.mark.parametrize("k", [6, 3, 1])
def test_agrees_with_sklearn_pca_whiten(k):
    pytest.importorskip("sklearn")
    from sklearn.decomposition import PCA

    X = make_data()
    n = len(X)
    w = Whitening(n_components=k).fit(X)
    Z = w.transform(X)
    pca = PCA(n_components=k, whiten=True, svd_solver="full").fit(X)
    # sklearn normalises the covariance by 1/(n - 1), we by 1/n.
    P = pca.transform(X) * np.sqrt(n / (n - 1))
    np.testing.assert_allclose(align_signs(Z, P), P, atol=1e-9)
    np.testing.assert_allclose(w.eigenvalues_[:k], pca.explained_variance_ * (n - 1) / n)
    comps = pca.components_
    np.testing.assert_allclose(np.abs(w.components_ @ comps.T), np.eye(k), atol=1e-9)
    # inverse_transform: the same least-squares back-projection.
    np.testing.assert_allclose(w.inverse_transform(Z), pca.inverse_transform(pca.transform(X)))


@examples(20)
@given(seed=SEEDS, beta=unit, gamma=unit, k=st.integers(1, 5))
def test_matches_formula(seed, beta, gamma, k):
    X = make_data(n=60, d=5, seed=seed)
    Z = Whitening(beta=beta, gamma=gamma, n_components=k).fit_transform(X)
    ref = by_hand(X, beta, gamma, k)
    np.testing.assert_allclose(align_signs(Z, ref), ref, rtol=1e-7, atol=1e-8)


def test_sigma_beta_is_second_moment_around_beta_mu():
    X = make_data(n=100, d=4)
    w = Whitening(beta=0.3).fit(X)
    Y = X - 0.3 * X.mean(axis=0)
    expected = np.sort(np.linalg.eigvalsh(Y.T @ Y / len(X)))[::-1]
    np.testing.assert_allclose(w.eigenvalues_, expected, rtol=1e-12)
    np.testing.assert_allclose(w.covariance_, np.cov(X.T, bias=True), rtol=1e-12)
    np.testing.assert_allclose(w.mean_, X.mean(axis=0))


def test_sign_convention_and_order():
    w = Whitening(beta=0.5, gamma=0.5).fit(make_data(seed=3))
    ev = w.eigenvalues_
    assert np.all(np.diff(ev) <= 0)
    C = w.components_
    assert np.all(C[np.arange(len(C)), np.argmax(np.abs(C), axis=1)] > 0)
    # X @ kernel_ + bias_ is the transform (bojone's kernel/bias form).
    X = make_data(n=20, seed=4)
    np.testing.assert_allclose(X @ w.kernel_ + w.bias_, w.transform(X), atol=1e-9)


def test_inverse_transform():
    X = make_data(n=100)
    full = Whitening(beta=0.7, gamma=0.4).fit(X)
    np.testing.assert_allclose(full.inverse_transform(full.transform(X)), X, atol=1e-10)
    part = Whitening(beta=0.7, gamma=0.4, n_components=2).fit(X)
    Z = part.transform(X)
    back = part.inverse_transform(Z)
    np.testing.assert_allclose(part.transform(back), Z, atol=1e-10)
    # back - beta mu is the orthogonal projection of x - beta mu on the kept eigenvectors.
    U = part.components_.T
    shift = 0.7 * X.mean(axis=0)
    np.testing.assert_allclose(back - shift, (X - shift) @ U @ U.T, atol=1e-10)
    assert part.inverse_transform(Z.astype(np.float32)).dtype == np.float32


# ---------------------------------------------------------------------------------------------
# Degenerate covariance.


def test_fewer_samples_than_features(rng):
    X = rng.normal(size=(5, 10))
    with pytest.warns(RuntimeWarning, match="numerical rank 4"):
        w = Whitening().fit(X)
    assert w.rank_ == 4
    Z = w.transform(X)
    assert np.isfinite(Z).all()
    # The 4 real directions are whitened; the floored ones carry (almost) nothing of X.
    np.testing.assert_allclose(np.cov(Z[:, :4].T, bias=True), np.eye(4), atol=1e-6)
    assert np.abs(Z[:, 4:]).max() < 1e-3
    assert np.isfinite(w.transform(rng.normal(size=(3, 10)))).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Whitening(n_components=4).fit(X)  # k <= rank: no warning
        Whitening(gamma=0).fit(X)  # no scaling: no warning
        Whitening(beta=0, gamma=0).fit(X)


def test_floor_value():
    X = make_data(n=100, d=4)
    X = np.hstack([X, X[:, :1]])  # a duplicated column: one zero eigenvalue
    with pytest.warns(RuntimeWarning):
        w = Whitening(eps=1e-4).fit(X)
    assert w.rank_ == 4
    ev = w.eigenvalues_
    np.testing.assert_allclose(
        np.linalg.norm(w.kernel_, axis=0), np.maximum(ev, 1e-4 * ev[0]) ** -0.5, rtol=1e-12
    )


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_single_row_and_constant_data(beta):
    X = np.tile([1.0, -2.0, 3.0], (4, 1))
    new = np.random.default_rng(0).normal(size=(5, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        w = Whitening(beta=beta).fit(X[:1])
        v = Whitening(beta=beta).fit(X)
    for est in (w, v):
        Z = est.transform(np.vstack([X, new]))
        assert np.isfinite(Z).all()
        if beta == 1:
            # A zero covariance: eigenvalues taken as 1, a rotation of x - mu.
            assert est.rank_ == 0
            Y = new - X[0]
            np.testing.assert_allclose(Z[4:] @ Z[4:].T, Y @ Y.T, atol=1e-9)
            np.testing.assert_allclose(Z[:4], 0)
        else:
            # Second moment x x^T of rank 1: x is whitened to unit length.
            assert est.rank_ == 1
            np.testing.assert_allclose(np.abs(Z[:4, 0]), 1.0)
            np.testing.assert_allclose(Z[:4, 1:], 0, atol=1e-9)


def test_round_off_covariance_counts_as_zero():
    # The mean of three rows of 0.1 is not exactly 0.1: the covariance is ~1e-34, not 0.
    X = np.full((3, 4), 0.1)
    with pytest.warns(RuntimeWarning):
        w = Whitening().fit(X)
    assert w.covariance_.max() > 0 and w.rank_ == 0
    Y = np.random.default_rng(0).normal(size=(5, 4))
    Z = w.transform(Y)
    np.testing.assert_allclose(Z @ Z.T, (Y - w.mean_) @ (Y - w.mean_).T, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# Estimator protocol and scikit-learn interplay.


def test_params_protocol_and_repr():
    w = Whitening(beta=0.5, n_components=3)
    assert w.get_params() == {"beta": 0.5, "gamma": 1.0, "n_components": 3, "eps": 1e-6}
    assert repr(w) == "Whitening(beta=0.5, n_components=3)"
    assert repr(Whitening()) == "Whitening()"
    assert w.set_params(gamma=0.0) is w and w.gamma == 0.0
    with pytest.raises(ValueError, match="invalid parameter 'alpha'"):
        w.set_params(alpha=1)
    assert latentgeo.__all__.count("Whitening") == 1
    assert "whitening_grid" in latentgeo.__all__


def test_set_params_after_fit_takes_effect():
    X = make_data(n=100)
    w = Whitening().fit(X)
    w.set_params(beta=0.2, gamma=0.6, n_components=2)
    fresh = Whitening(beta=0.2, gamma=0.6, n_components=2).fit(X)
    np.testing.assert_allclose(w.transform(X), fresh.transform(X), atol=1e-10)
    w.set_params(n_components=99)
    with pytest.raises(ValueError, match="n_components=99"):
        w.transform(X)


def test_not_fitted():
    w = Whitening()
    with pytest.raises(NotFittedError, match="not fitted"):
        w.transform(np.zeros((2, 2)))
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    for name in ("kernel_", "bias_", "components_", "eigenvalues_", "rank_", "n_components_"):
        assert not hasattr(w, name)
    for call in (w.inverse_transform, w.save):
        with pytest.raises(NotFittedError):
            call(np.zeros((2, 2)) if call is not w.save else "x.npz")


@pytest.mark.slow
def test_sklearn_clone_pipeline_gridsearch():
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    X = make_data(n=120)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    w = Whitening(beta=0.5, n_components=3)
    c = clone(w)
    assert c is not w and c.get_params() == w.get_params()
    pipe = Pipeline([("white", Whitening(n_components=4)), ("clf", LogisticRegression())])
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.8
    check_is_fitted(pipe.named_steps["white"])
    assert list(pipe[:-1].get_feature_names_out()) == [f"whitening{i}" for i in range(4)]
    search = GridSearchCV(pipe, {"white__gamma": [0.0, 1.0], "white__beta": [0.0, 1.0]}, cv=3)
    search.fit(X, y)
    assert set(search.best_params_) == {"white__gamma", "white__beta"}
