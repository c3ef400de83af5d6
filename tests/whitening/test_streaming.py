"""Whitening: streaming (partial_fit), dtypes, invariances of any data, and persistence."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.strategies import SEEDS, examples
from support.whitening import make_data

from latentgeo import Whitening

unit = st.floats(min_value=0.0, max_value=1.0)


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


@examples(30)
@given(
    seed=SEEDS,
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


def test_float32_accumulates_in_float64(rng):
    # The naive fp32 formula E[xx^T] - mu mu^T is badly off with a +1000 offset (notes, 13 %).
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


@examples(30)
@given(
    seed=SEEDS,
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


@examples(25)
@given(seed=SEEDS, beta=unit, gamma=unit)
def test_fit_is_invariant_to_row_order(seed, beta, gamma):
    X = make_data(n=50, d=5, seed=seed)
    perm = np.random.default_rng(seed).permutation(len(X))
    a = Whitening(beta=beta, gamma=gamma).fit(X)
    b = Whitening(beta=beta, gamma=gamma).fit(X[perm])
    np.testing.assert_allclose(a.transform(X), b.transform(X), rtol=1e-7, atol=1e-8)


@examples(25)
@given(
    seed=SEEDS,
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


@examples(25)
@given(seed=SEEDS, gamma=unit, shift=st.floats(-100, 100))
def test_centred_whitening_ignores_translation(seed, gamma, shift):
    X = make_data(n=40, d=4, seed=seed)
    t = shift * np.linspace(-1, 1, 4)
    Z = Whitening(gamma=gamma).fit_transform(X)
    Zt = Whitening(gamma=gamma).fit_transform(X + t)
    np.testing.assert_allclose(Zt, Z, atol=1e-7)


@examples(25)
@given(seed=SEEDS, n=st.integers(1, 12), d=st.integers(1, 8))
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
