"""Workers send results back: every result and report type pickles, and unpickles equal (no dask
needed for these)."""

import pickle

import numpy as np
from support.equality import assert_reports_equal

import latentgeo
from latentgeo import diffusion as dfn


def test_results_pickle(rng):
    points = latentgeo.datasets.make_example(n=100, d=4, seed=1)
    res = latentgeo.knn(points, 3)
    back = pickle.loads(pickle.dumps(res))
    assert np.array_equal(back.indices, res.indices) and back.metric == res.metric
    assert np.array_equal(back.distances, res.distances) and back.self_join
    rep = latentgeo.hubness(points, 3)
    assert_reports_equal(rep, pickle.loads(pickle.dumps(rep)))
    W = rng.normal(size=(40, 3))
    W[3] = 0.5 * (W[1] + W[2])
    un = latentgeo.unargmaxable(W)
    back = pickle.loads(pickle.dumps(un))
    assert_reports_equal(un, back)
    assert back.verify(raise_on_failure=True) and back.unargmaxable.size
    gmm = dfn.GaussianMixture(
        [0.2, 0.8], [[0.0, 1.0], [2.0, -1.0]], [[1.0, 0.5], [0.3, 0.2]], "diag"
    )
    out = dfn.sample(dfn.VP(), gmm, shape=(4, 2), steps=3)
    back = pickle.loads(pickle.dumps(out))
    assert np.array_equal(back.x, out.x) and back.nfe == out.nfe
    lik = dfn.log_likelihood(dfn.VP(), gmm, out.x, method="rk4", steps=4)
    assert np.array_equal(pickle.loads(pickle.dumps(lik)).log_prob, lik.log_prob)
    copy = pickle.loads(pickle.dumps(gmm))
    assert np.array_equal(copy.weights, gmm.weights)
    assert np.array_equal(copy.score(out.x, 0.9, 0.3), gmm.score(out.x, 0.9, 0.3))


def test_misaligned_inputs_are_accepted():
    """Arrays unpickled from a byte buffer (as Dask sends them) may be misaligned; the public
    functions copy them instead of refusing them."""
    raw = b"\0" + np.arange(40.0).tobytes()
    X = np.frombuffer(raw, dtype=np.float64, offset=1).reshape(20, 2)
    assert not X.flags.aligned
    assert np.array_equal(latentgeo.knn(X, 2).indices, latentgeo.knn(X.copy(), 2).indices)
    w = np.frombuffer(b"\0" + np.array([0.5, 0.5]).tobytes(), dtype=np.float64, offset=1)
    gmm = dfn.GaussianMixture(w, [[0.0], [1.0]], [1.0, 2.0], "spherical")
    assert np.array_equal(gmm.weights, [0.5, 0.5])
    assert latentgeo.unargmaxable(X).V == 20
