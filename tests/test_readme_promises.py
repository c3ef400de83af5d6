"""The promises the README makes hold (issue 13)."""

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import latentgeo

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_runtime_dependencies_are_the_ones_named():
    deps = re.search(r"^dependencies = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.M)
    names = {re.split(r"[<>=!~ ]", d.strip().strip('"'))[0] for d in deps.group(1).split(",")}
    assert names == {"numpy", "scipy", "array-api-compat"}
    said = re.search(r"the runtime\s+dependencies are (.*?)\(", README, re.S).group(1)
    for name in names:
        assert name in said


@pytest.fixture(scope="module")
def data():
    X = np.random.default_rng(0).standard_normal((40, 3))
    res = latentgeo.knn(X, 6)
    return X, {"vectors": X, "result": res, "pair": (res.indices, res.distances),
               "sparse": res.to_sparse()}  # fmt: skip


@pytest.mark.parametrize("form", ["vectors", "result", "pair", "sparse"])
def test_neighbour_functions_take_vectors_or_a_precomputed_knn(data, form):
    X, forms = data
    obj = forms[form]
    want = latentgeo.k_occurrence(latentgeo.knn(X, 5))
    np.testing.assert_array_equal(latentgeo.k_occurrence(obj, 5), want)
    np.testing.assert_array_equal(latentgeo.hubness(obj, 5).k_occurrence, want)
    assert latentgeo.as_knn(obj, 5).indices.shape == (40, 5)
    assert latentgeo.knn_graph(obj, 5).shape == (40, 40)
    kw = {} if form == "vectors" else {"X": X}
    assert latentgeo.reduce_hubness(obj, "ls", k=3, **kw).indices.shape == (40, 3)


def test_geodesic_scores_and_summarize_take_a_precomputed_graph(data):
    X, _ = data
    g = latentgeo.knn_graph(X, 5)
    c = X.mean(axis=0)
    np.testing.assert_array_equal(
        latentgeo.geodesic_scores(X, c, 5, graph=g), latentgeo.geodesic_scores(X, c, 5)
    )
    np.testing.assert_array_equal(
        latentgeo.summarize(X, 3, k=5, graph=g, metric="euclidean"),
        latentgeo.summarize(X, 3, k=5, metric="euclidean"),
    )


def test_results_do_not_depend_on_the_thread_count(data):
    X, _ = data
    one, two = latentgeo.knn(X, 5, n_threads=1), latentgeo.knn(X, 5, n_threads=2)
    np.testing.assert_array_equal(one.indices, two.indices)
    np.testing.assert_array_equal(one.distances, two.distances)
    g = latentgeo.knn_graph(X, 5)
    np.testing.assert_array_equal(
        latentgeo.geodesic(g, n_threads=1), latentgeo.geodesic(g, n_threads=2)
    )
    assert sp.issparse(g)
