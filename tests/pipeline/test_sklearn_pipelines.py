"""latentgeo's pipeline steps inside scikit-learn: the same embeddings as scikit-learn's own
KNeighborsTransformer pipelines, and the graph conventions the consumers rely on."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.manifold import TSNE, Isomap, SpectralEmbedding  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier, KNeighborsTransformer  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

import latentgeo  # noqa: E402


def _data(n=120, d=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def _same_graph(a, b):
    a, b = a.tocsr(), b.tocsr()
    a.sort_indices()
    b.sort_indices()
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["distance", "connectivity"])
def test_graph_equals_scikit_learn(mode):
    X, Y = _data(), _data(30, seed=1)
    ours = latentgeo.KNNTransformer(n_neighbors=6, mode=mode).fit(X)
    ref = KNeighborsTransformer(n_neighbors=6, mode=mode).fit(X)
    _same_graph(ours.transform(X), ref.transform(X))
    _same_graph(ours.fit_transform(X), ref.fit_transform(X))
    _same_graph(ours.transform(Y), ref.transform(Y))


def test_training_rows_store_self_first_at_zero():
    X = _data(40)
    X[7] = X[3]  # a duplicate
    G = latentgeo.KNNTransformer(n_neighbors=4).fit_transform(X)
    assert (np.diff(G.indptr) == 5).all()
    assert (G.indices.reshape(40, 5)[:, 0] == np.arange(40)).all()
    assert (G.data.reshape(40, 5)[:, 0] == 0).all()
    assert G[3, 7] == 0 and 7 in G.indices[G.indptr[3] : G.indptr[4]]


def test_isomap_pipeline_equals_scikit_learn():
    X = _data(150)
    ours = make_pipeline(
        latentgeo.KNNTransformer(n_neighbors=8), Isomap(n_neighbors=8, metric="precomputed")
    )
    ref = make_pipeline(
        KNeighborsTransformer(n_neighbors=8), Isomap(n_neighbors=8, metric="precomputed")
    )
    a, b = ours.fit_transform(X), ref.fit_transform(X)
    np.testing.assert_allclose(np.abs(a), np.abs(b), rtol=1e-7, atol=1e-9)
    signs = np.sign(a[np.argmax(np.abs(a), axis=0), range(a.shape[1])])
    signs_b = np.sign(b[np.argmax(np.abs(b), axis=0), range(b.shape[1])])
    np.testing.assert_allclose(a * signs, b * signs_b, rtol=1e-7, atol=1e-9)
    Y = _data(10, seed=3)
    ya, yb = ours.transform(Y) * signs, ref.transform(Y) * signs_b
    np.testing.assert_allclose(ya, yb, rtol=1e-7, atol=1e-9)


def test_tsne_pipeline_equals_scikit_learn():
    X = _data(80)
    kw = dict(
        metric="precomputed", init="random", random_state=0, perplexity=5, max_iter=250, n_jobs=1
    )
    a = make_pipeline(latentgeo.KNNTransformer(n_neighbors=16), TSNE(**kw)).fit_transform(X)
    b = make_pipeline(KNeighborsTransformer(n_neighbors=16), TSNE(**kw)).fit_transform(X)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_spectral_embedding_accepts_the_graph():
    X = _data(100)
    G = latentgeo.KNNTransformer(n_neighbors=10, mode="connectivity").fit_transform(X)
    Gref = KNeighborsTransformer(n_neighbors=10, mode="connectivity").fit_transform(X)
    kw = dict(n_components=2, affinity="precomputed_nearest_neighbors", random_state=0)
    a = SpectralEmbedding(n_neighbors=10, **kw).fit_transform(G)
    b = SpectralEmbedding(n_neighbors=10, **kw).fit_transform(Gref)
    np.testing.assert_allclose(np.abs(a), np.abs(b), atol=1e-6)


def test_hubness_reduction_between_knn_and_isomap():
    X = _data(200, 8)
    pipe = make_pipeline(
        latentgeo.KNNTransformer(n_neighbors=30),
        latentgeo.HubnessReduction("mp_gaussian", n_neighbors=10),
        Isomap(n_neighbors=10, metric="precomputed", n_components=2),
    )
    Z = pipe.fit_transform(X)
    assert Z.shape == (200, 2) and np.isfinite(Z).all()
    assert pipe.transform(X[:5]).shape == (5, 2)


@pytest.mark.parametrize("method", ["mp_gaussian", "ls", "nicdm", "csls"])
def test_hubness_reduction_feeds_a_precomputed_classifier(method):
    X = _data(120)
    y = (X[:, 0] > 0).astype(int)
    pipe = make_pipeline(
        latentgeo.KNNTransformer(n_neighbors=15),
        latentgeo.HubnessReduction(method, n_neighbors=5, method_params=None),
        KNeighborsClassifier(n_neighbors=5, metric="precomputed"),
    )
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.7
    assert pipe.predict(_data(7, seed=5)).shape == (7,)


def test_dissim_in_a_pipeline_takes_the_vectors_as_a_fit_parameter():
    X = _data(60)
    pipe = make_pipeline(
        latentgeo.KNNTransformer(n_neighbors=10),
        latentgeo.HubnessReduction("dissim", n_neighbors=5),
    )
    H = pipe.fit_transform(X, hubnessreduction__vectors=X)
    ref = latentgeo.reduce_hubness(latentgeo.knn(X, 10), "dissim", k=5, X=X)
    assert np.array_equal(H.indices.reshape(60, 6)[:, 1:], ref.indices)
    with pytest.raises(ValueError, match="needs the vectors"):
        pipe.fit_transform(X)


def test_geodesic_steps_are_isomaps_first_two_steps():
    X = _data(90)
    D = make_pipeline(
        latentgeo.KNNTransformer(n_neighbors=7), latentgeo.GeodesicTransformer()
    ).fit_transform(X)
    iso = Isomap(n_neighbors=7).fit(X)
    np.testing.assert_allclose(D, iso.dist_matrix_, rtol=1e-12)
