"""Tests for generalised BERT-whitening (beta, gamma, k) and the knob grid search."""

import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import latentgeo
from latentgeo import Whitening, WhiteningGrid, whitening_grid
from latentgeo.whitening import NotFittedError

seeds = st.integers(min_value=0, max_value=2**32 - 1)
unit = st.floats(min_value=0.0, max_value=1.0)


def make_data(n=400, d=6, seed=0, offset=3.0, dtype=np.float64):
    """Correlated, offset Gaussian data with a well-separated spectrum."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = 1.6 ** np.arange(d)[::-1]
    X = rng.normal(size=(n, d)) * scales @ q.T + offset * rng.normal(size=d)
    return X.astype(dtype)


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


@settings(max_examples=20, deadline=None)
@given(seed=seeds, beta=unit, gamma=unit, k=st.integers(1, 5))
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
# Streaming, dtypes, persistence.


def test_partial_fit_equals_fit():
    X = make_data(n=500)
    whole = Whitening(beta=0.5, gamma=0.8, n_components=4).fit(X)
    stream = Whitening(beta=0.5, gamma=0.8, n_components=4)
    for chunk in np.array_split(X, [1, 2, 50, 51, 300]):
        stream.partial_fit(chunk)
    assert stream.n_samples_seen_ == 500
    np.testing.assert_allclose(stream.mean_, whole.mean_, rtol=1e-13)
    np.testing.assert_allclose(stream.covariance_, whole.covariance_, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(stream.transform(X), whole.transform(X), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    seed=seeds,
    cuts=st.lists(st.integers(0, 80), max_size=6),
    beta=unit,
    gamma=unit,
)
def test_partial_fit_any_split_equals_fit(seed, cuts, beta, gamma):
    X = make_data(n=80, d=5, seed=seed)
    whole = Whitening(beta=beta, gamma=gamma).fit(X)
    stream = Whitening(beta=beta, gamma=gamma)
    for chunk in np.split(X, sorted(set(cuts))):
        if len(chunk):
            stream.partial_fit(chunk)
    np.testing.assert_allclose(stream.mean_, whole.mean_, rtol=1e-12, atol=1e-12)
    scale = np.abs(whole.covariance_).max()
    np.testing.assert_allclose(stream.covariance_, whole.covariance_, atol=1e-12 * scale)
    np.testing.assert_allclose(stream.transform(X), whole.transform(X), rtol=1e-7, atol=1e-7)


def test_float32_accumulates_in_float64():
    # The naive fp32 formula E[xx^T] - mu mu^T is badly off with a +1000 offset (notes, 13 %).
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(4000, 8)) + 1000).astype(np.float32)
    stream = Whitening()
    for chunk in np.array_split(X, 7):
        stream.partial_fit(chunk)
    exact = np.cov(X.astype(np.float64).T, bias=True)
    np.testing.assert_allclose(stream.covariance_, exact, rtol=1e-10, atol=1e-12)
    assert stream.mean_.dtype == np.float64 and stream.covariance_.dtype == np.float64
    Z = stream.transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(np.cov(Z.T.astype(np.float64), bias=True), np.eye(8), atol=1e-3)
    assert stream.transform(X.astype(np.float16)).dtype == np.float32
    assert stream.transform(X.astype(np.int64)).dtype == np.float64


@settings(max_examples=30, deadline=None)
@given(
    seed=seeds,
    n=st.integers(1, 40),
    d=st.integers(1, 7),
    data=st.data(),
    dtype=st.sampled_from([np.float32, np.float64]),
    beta=unit,
    gamma=unit,
)
def test_shapes_dtypes_finite(seed, n, d, data, dtype, beta, gamma):
    k = data.draw(st.one_of(st.none(), st.integers(1, d)))
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * rng.uniform(0, 5, size=d)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        w = Whitening(beta=beta, gamma=gamma, n_components=k).fit(X)
    k_out = d if k is None else k
    Z = w.transform(X)
    assert Z.shape == (n, k_out) and Z.dtype == dtype
    assert np.isfinite(Z).all()
    assert w.n_components_ == k_out and w.n_features_in_ == d and w.n_samples_seen_ == n
    assert w.kernel_.shape == (d, k_out) and w.components_.shape == (k_out, d)
    assert w.eigenvalues_.shape == (d,) and 0 <= w.rank_ <= d
    assert w.transform(np.empty((0, d), dtype=dtype)).shape == (0, k_out)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, beta=unit, gamma=unit)
def test_fit_is_invariant_to_row_order(seed, beta, gamma):
    X = make_data(n=50, d=5, seed=seed)
    perm = np.random.default_rng(seed).permutation(len(X))
    a = Whitening(beta=beta, gamma=gamma).fit(X)
    b = Whitening(beta=beta, gamma=gamma).fit(X[perm])
    np.testing.assert_allclose(a.transform(X), b.transform(X), rtol=1e-7, atol=1e-8)


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    beta=unit,
    gamma=unit,
    log2c=st.integers(-6, 6),
    k=st.integers(1, 5),
)
def test_scaling_relation(seed, beta, gamma, log2c, k):
    # Fitting and transforming c X gives c^(1 - gamma) times the result for X (the eigenvalue
    # floor is relative, so this also holds for degenerate data).
    c = 2.0**log2c
    X = make_data(n=30, d=5, seed=seed)
    X[:, 4] = X[:, 3]  # a rank-deficient covariance too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        Z = Whitening(beta=beta, gamma=gamma, n_components=k).fit_transform(X)
        Zc = Whitening(beta=beta, gamma=gamma, n_components=k).fit_transform(c * X)
    np.testing.assert_allclose(Zc, c ** (1 - gamma) * Z, rtol=1e-9, atol=1e-9 * np.abs(Z).max())


@settings(max_examples=25, deadline=None)
@given(seed=seeds, gamma=unit, shift=st.floats(-100, 100))
def test_centred_whitening_ignores_translation(seed, gamma, shift):
    X = make_data(n=40, d=4, seed=seed)
    t = shift * np.linspace(-1, 1, 4)
    Z = Whitening(gamma=gamma).fit_transform(X)
    Zt = Whitening(gamma=gamma).fit_transform(X + t)
    np.testing.assert_allclose(Zt, Z, atol=1e-7)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n=st.integers(1, 12), d=st.integers(1, 8))
def test_rotation_property_any_data(seed, n, d):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * 10 ** rng.uniform(-2, 2, size=d)
    w = Whitening(beta=0, gamma=0).fit(X)
    R = w.transform(X)
    np.testing.assert_allclose(R @ R.T, X @ X.T, rtol=1e-9, atol=1e-9 * np.abs(X @ X.T).max())


def test_save_load_round_trip(tmp_path):
    X = make_data(n=200, seed=5)
    w = Whitening(beta=0.25, gamma=0.75, n_components=3).fit(X)
    path = w.save(tmp_path / "kernel.npz")
    assert path == tmp_path / "kernel.npz" and path.exists()
    v = Whitening.load(path)
    assert v.get_params() == w.get_params()
    assert v.n_features_in_ == 6 and v.n_samples_seen_ == 200
    np.testing.assert_array_equal(v.transform(X), w.transform(X))
    np.testing.assert_array_equal(v.kernel_, w.kernel_)
    np.testing.assert_array_equal(v.covariance_, w.covariance_)
    np.testing.assert_array_equal(v.eigenvalues_, w.eigenvalues_)
    # The file is plain arrays: numpy alone can apply it.
    with np.load(path, allow_pickle=False) as f:
        np.testing.assert_allclose(X @ f["kernel_"] + f["bias_"], w.transform(X), atol=1e-9)
    # Streaming can continue after loading, and equals fitting on everything.
    more = make_data(n=50, seed=6)
    v.partial_fit(more)
    both = Whitening(beta=0.25, gamma=0.75, n_components=3).fit(np.vstack([X, more]))
    np.testing.assert_allclose(v.transform(X), both.transform(X), atol=1e-9)


def test_save_suffix_default_params_and_overwrite(tmp_path):
    X = make_data(n=50)
    w = Whitening().fit(X)
    path = w.save(str(tmp_path / "white"))
    assert path.name == "white.npz"
    assert Whitening.load(path).n_components is None
    Whitening(gamma=0).fit(X).save(path)
    assert Whitening.load(path).gamma == 0.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["white.npz"]


def test_load_rejects_other_files(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a latentgeo Whitening file"):
        Whitening.load(tmp_path / "other.npz")
    np.save(tmp_path / "arr.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not an .npz file"):
        Whitening.load(tmp_path / "arr.npy")
    w = Whitening().fit(make_data(n=20))
    path = w.save(tmp_path / "w.npz")
    with np.load(path) as f:
        arrays = dict(f)
    del arrays["mean_"]
    np.savez(tmp_path / "broken.npz", **arrays)
    with pytest.raises(ValueError, match="mean_"):
        Whitening.load(tmp_path / "broken.npz")
    arrays = dict(np.load(path))
    arrays["kernel_"] = arrays["kernel_"][:, :2]
    np.savez(tmp_path / "broken2.npz", **arrays)
    with pytest.raises(ValueError, match="inconsistent"):
        Whitening.load(tmp_path / "broken2.npz")


# ---------------------------------------------------------------------------------------------
# Degenerate covariance.


def test_fewer_samples_than_features():
    rng = np.random.default_rng(0)
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


# ---------------------------------------------------------------------------------------------
# Bad input.


@pytest.mark.parametrize("name", ["beta", "gamma"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), float("inf")])
def test_knob_out_of_range(name, value):
    with pytest.raises(ValueError, match=f"{name} must be in \\[0, 1\\]"):
        Whitening(**{name: value}).fit(make_data(n=10))


@pytest.mark.parametrize("name", ["beta", "gamma"])
@pytest.mark.parametrize("value", ["1", None, True, [1.0]])
def test_knob_wrong_type(name, value):
    with pytest.raises(TypeError, match=name):
        Whitening(**{name: value}).fit(make_data(n=10))


def test_n_components_and_eps_errors():
    X = make_data(n=10, d=6)
    with pytest.raises(ValueError, match="n_components=7 is larger than the number of features"):
        Whitening(n_components=7).fit(X)
    with pytest.raises(ValueError, match="n_components must be at least 1"):
        Whitening(n_components=0).fit(X)
    with pytest.raises(TypeError, match="n_components"):
        Whitening(n_components=2.5).fit(X)
    with pytest.raises(TypeError, match="n_components"):
        Whitening(n_components=True).fit(X)
    for eps in (0.0, 1.0, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="eps must be in"):
            Whitening(eps=eps).fit(X)
    with pytest.raises(TypeError, match="eps"):
        Whitening(eps="small").fit(X)


def test_bad_data():
    w = Whitening()
    X = make_data(n=10)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite.*row 3, column 2"):
        w.fit(bad)
    with pytest.raises(ValueError, match="2-D"):
        w.fit(X[0])
    with pytest.raises(ValueError, match="empty"):
        w.fit(X[:0])
    with pytest.raises(TypeError, match="real numbers"):
        w.fit(X.astype(complex))
    with pytest.raises(TypeError, match="sparse"):
        w.fit(sp.csr_matrix(X))
    assert not hasattr(w, "mean_")
    w.fit(X)
    with pytest.raises(ValueError, match="X has 5 features, but Whitening is expecting 6"):
        w.transform(X[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        w.transform(bad)
    with pytest.raises(ValueError, match="Z has 5 features, but Whitening produces 6 columns"):
        w.inverse_transform(X[:, :5])


def test_failed_partial_fit_leaves_state_unchanged():
    X = make_data(n=50)
    w = Whitening(n_components=3).partial_fit(X[:30])
    before = (w.n_samples_seen_, w.mean_.copy(), w.covariance_.copy(), w.transform(X))
    bad = X[30:].copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        w.partial_fit(bad)
    with pytest.raises(ValueError, match="X has 4 features"):
        w.partial_fit(X[30:, :4])
    w.set_params(beta=2.0)
    with pytest.raises(ValueError, match="beta must be in"):
        w.partial_fit(X[30:])
    w.set_params(beta=1.0)
    assert w.n_samples_seen_ == before[0]
    np.testing.assert_array_equal(w.mean_, before[1])
    np.testing.assert_array_equal(w.covariance_, before[2])
    np.testing.assert_array_equal(w.transform(X), before[3])
    # ... and a later good chunk gives the same result as fitting everything.
    w.partial_fit(X[30:])
    np.testing.assert_allclose(w.transform(X), Whitening(n_components=3).fit(X).transform(X))


def test_failed_fit_keeps_previous_fit():
    X = make_data(n=50)
    w = Whitening().fit(X)
    before = w.transform(X)
    with pytest.raises(ValueError):
        w.fit(np.full((3, 6), np.nan))
    np.testing.assert_array_equal(w.transform(X), before)


# ---------------------------------------------------------------------------------------------
# Grid search.


def sts_pairs(n=150, d=8, seed=0):
    rng = np.random.default_rng(seed)
    scales = np.linspace(4, 0.3, d)
    base = rng.normal(size=(n, d)) * scales + 5.0
    noise = rng.uniform(0.1, 2.0, size=n)[:, None]
    a = base + noise * rng.normal(size=(n, d))
    b = base + noise * rng.normal(size=(n, d))
    gold = -noise[:, 0] + 0.1 * rng.normal(size=n)
    return a, b, gold


def cosine_spearman(A, B, gold):
    cos = np.einsum("ij,ij->i", A, B) / (np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))
    return scipy.stats.spearmanr(cos, gold)[0]


def test_grid_matches_individual_estimators():
    a, b, gold = sts_pairs()
    corpus = make_data(n=300, d=8, seed=9)
    grid = whitening_grid(
        a, b, gold, betas=[0, 0.5, 1], gammas=[0, 0.3, 1], n_components=[2, 5, 8], fit_on=corpus
    )
    assert isinstance(grid, WhiteningGrid)
    assert grid.spearman.shape == (3, 3, 3)
    assert grid.n_pairs == 150 and grid.n_fit == 300
    for i, beta in enumerate(grid.betas):
        for j, gamma in enumerate(grid.gammas):
            for m, k in enumerate(grid.n_components):
                w = Whitening(beta=beta, gamma=gamma, n_components=int(k)).fit(corpus)
                rho = cosine_spearman(w.transform(a), w.transform(b), gold)
                assert grid.spearman[i, j, m] == pytest.approx(rho, abs=1e-12)
    assert grid.baseline == pytest.approx(cosine_spearman(a, b, gold), abs=1e-12)
    # beta = gamma = 0 with k = d is a rotation: the raw cosines.
    assert grid.spearman[0, 0, 2] == pytest.approx(grid.baseline, abs=1e-12)


def test_grid_best_table_to_dict():
    a, b, gold = sts_pairs(seed=1)
    grid = whitening_grid(a, b, gold, n_components=[4, 8])
    assert grid.spearman.shape == (5, 5, 2)
    best = grid.best
    assert best["spearman"] == pytest.approx(np.nanmax(grid.spearman))
    assert len(grid.table) == 50
    assert grid.table[0] == {
        "beta": 0.0,
        "gamma": 0.0,
        "n_components": 4,
        "spearman": grid.spearman[0, 0, 0],
    }
    w = Whitening(**{k: v for k, v in best.items() if k != "spearman"})
    w.fit(np.vstack([a, b]))  # fit_on=None means both sides of the pairs
    assert cosine_spearman(w.transform(a), w.transform(b), gold) == pytest.approx(
        best["spearman"], abs=1e-12
    )
    d = grid.to_dict()
    json.dumps(d)
    assert d["best"] == best and len(d["spearman"]) == 5
    assert "best" in grid.summary()


def test_grid_fit_on_fitted_whitening():
    a, b, gold = sts_pairs(seed=2)
    corpus = make_data(n=200, d=8, seed=3)
    stream = Whitening(beta=0.1, gamma=0.2)  # its knobs are ignored
    for chunk in np.array_split(corpus, 4):
        stream.partial_fit(chunk)
    g1 = whitening_grid(a, b, gold, betas=[0.5, 1], gammas=[1], fit_on=stream)
    g2 = whitening_grid(a, b, gold, betas=[0.5, 1], gammas=[1], fit_on=corpus)
    np.testing.assert_allclose(g1.spearman, g2.spearman, atol=1e-12)
    assert g1.n_fit == 200


def test_grid_constant_cosines_give_nan_not_warning():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 3))
    gold = rng.normal(size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grid = whitening_grid(a, a, gold, betas=[1], gammas=[1])
    assert np.isnan(grid.spearman).all()
    assert grid.to_dict()["spearman"] == [[[None]]]


def test_grid_errors():
    a, b, gold = sts_pairs(n=20)
    with pytest.raises(ValueError, match="same shape"):
        whitening_grid(a, b[:, :5], gold)
    with pytest.raises(ValueError, match="gold must have shape"):
        whitening_grid(a, b, gold[:5])
    with pytest.raises(ValueError, match="gold contains NaN"):
        whitening_grid(a, b, np.where(np.arange(20) == 3, np.nan, gold))
    with pytest.raises(ValueError, match="all equal"):
        whitening_grid(a, b, np.ones(20))
    with pytest.raises(ValueError, match="at least 2 pairs"):
        whitening_grid(a[:1], b[:1], gold[:1])
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0, 1\]"):
        whitening_grid(a, b, gold, betas=[0, 2])
    with pytest.raises(ValueError, match="gammas is empty"):
        whitening_grid(a, b, gold, gammas=[])
    with pytest.raises(TypeError, match="gammas"):
        whitening_grid(a, b, gold, gammas=["x"])
    with pytest.raises(ValueError, match="larger than the number of features"):
        whitening_grid(a, b, gold, n_components=[2, 9])
    with pytest.raises(TypeError, match="n_components"):
        whitening_grid(a, b, gold, n_components=[2.0])
    with pytest.raises(ValueError, match="fit_on has 5 columns"):
        whitening_grid(a, b, gold, fit_on=a[:, :5])
    with pytest.raises(NotFittedError):
        whitening_grid(a, b, gold, fit_on=Whitening())
    with pytest.raises(ValueError, match="fit_on was fitted with 5 features"):
        whitening_grid(a, b, gold, fit_on=Whitening().fit(a[:, :5]))
    with pytest.raises(ValueError, match="eps must be in"):
        whitening_grid(a, b, gold, eps=0)
