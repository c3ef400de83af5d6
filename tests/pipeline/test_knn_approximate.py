"""The approximate KNNTransformer keeps the HNSW index built at ``fit``: ``transform`` searches it
(the same answer as a fresh search), and it survives pickling and deep copies."""

import copy
import pickle

import numpy as np
import pytest

pytest.importorskip("usearch", reason="method='approximate' needs the optional usearch package")

import latentgeo  # noqa: E402
from latentgeo.neighbors import _approx  # noqa: E402


def _clustered(n, d, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((6, d))
    X = centers[rng.integers(0, 6, n)] + 0.3 * rng.standard_normal((n, d))
    return X.astype(np.float32)


def _transformer(**kw):
    return latentgeo.KNNTransformer(5, method="approximate", n_threads=1, **kw)


@pytest.fixture
def no_rebuild(monkeypatch):
    """Makes building an index an error (after the fits the test does first)."""

    def forbid():
        def fail(*args, **kwargs):
            raise AssertionError("the HNSW index was built again")

        monkeypatch.setattr(_approx.HnswIndex, "__init__", fail)

    return forbid


def _same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_transform_searches_the_fitted_index_and_equals_a_fresh_search(metric, no_rebuild):
    X, Y = _clustered(700, 12), _clustered(40, 12, seed=1)
    res = latentgeo.knn(X, 6, metric=metric, query=Y, method="approximate", n_threads=1)
    t = _transformer(metric=metric).fit(X)
    no_rebuild()
    _same(t.transform(Y), res.to_sparse())
    train = t.transform(X)  # the training rows: self first, then a self-join search
    assert train.shape == (700, 700) and train.nnz == 700 * 6
    assert (train[np.arange(700), np.arange(700)] == 0).all()


def test_pickle_and_deepcopy_keep_the_index(no_rebuild):
    X, Y = _clustered(500, 8), _clustered(30, 8, seed=2)
    t = _transformer().fit(X)
    G = t.transform(Y)
    blob = pickle.dumps(t)
    no_rebuild()
    for back in (pickle.loads(blob), copy.deepcopy(t)):
        assert back._index is not t._index
        _same(back.transform(Y), G)
        _same(back.transform(X), t.transform(X))


def test_changed_options_after_fit_search_a_graph_of_their_own():
    X, Y = _clustered(400, 8), _clustered(20, 8, seed=3)
    t = _transformer().fit(X)
    kept = t._index
    t.set_params(method_options={"index_dtype": "float32"})
    G = t.transform(Y)
    opts = {"index_dtype": "float32"}
    res = latentgeo.knn(X, 6, query=Y, method="approximate", n_threads=1, method_options=opts)
    _same(G, res.to_sparse())
    assert t._index is kept  # refit to keep the new one
    assert _transformer().fit(X)._index is not None
    assert latentgeo.KNNTransformer(5).fit(X)._index is None
