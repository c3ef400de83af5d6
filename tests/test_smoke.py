"""Import-and-smoke test of the installed package: small inputs, numpy/scipy references.

Runs in the suite, and on its own without pytest, which is how CI runs it on a CPU without AVX
(``qemu-x86_64 -cpu Nehalem python tests/test_smoke.py``): every SIMD kernel of the wheel (the
AVX2/FMA/AVX-512 GMM kernel, faer's GEMM) must be chosen at run time, so the wheel still imports
and gives the same answers there. With ``LATENTGEO_SMOKE_EXPECT_NO_AVX=1`` the run also checks
that the CPU it sees really has no AVX (numpy's own CPU detection), so it cannot pass vacuously.
"""

import contextlib
import io
import os
import sys

import numpy as np
import scipy.sparse.csgraph as csgraph
from scipy.spatial.distance import cdist
from scipy.stats import multivariate_normal

import latentgeo
from latentgeo.diffusion import VP, GaussianMixture, sample


def _data(n=60, d=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_knn_matches_brute_force():
    X = _data()
    nn = latentgeo.knn(X, 5)
    D = cdist(X.astype(np.float64), X.astype(np.float64))
    np.fill_diagonal(D, np.inf)
    want = np.argsort(D, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(nn.indices, want)
    np.testing.assert_allclose(nn.distances, np.take_along_axis(D, want, 1), rtol=1e-5)


def test_hubness_counts_occurrences():
    X = _data()
    want = np.bincount(latentgeo.knn(X, 5).indices.ravel(), minlength=len(X))
    rep = latentgeo.hubness(X, k=5)
    np.testing.assert_array_equal(rep.k_occurrence, want)
    assert rep.k_occurrence.sum() == 5 * len(X)


def test_geodesic_matches_scipy_dijkstra():
    G = latentgeo.knn_graph(_data(), k=6)
    D = latentgeo.geodesic(G, sources=[0, 7])
    want = csgraph.dijkstra(G.astype(np.float64), directed=False, indices=[0, 7])
    np.testing.assert_allclose(D, want, rtol=1e-5)


def test_unargmaxable_finds_the_interior_class():
    # Four classes on a square and one at its centre: the centre can never be the argmax.
    W = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1], [0, 0.2]], dtype=np.float64)
    rep = latentgeo.unargmaxable(W)
    np.testing.assert_array_equal(rep.unargmaxable, [4])
    assert rep.verify()
    x = rep.witness(0)
    assert int(np.argmax(W @ x)) == 0


def test_gmm_and_one_diffusion_sample():
    means = np.array([[-2.0, 0.5], [1.5, -1.0]])
    gmm = GaussianMixture([0.4, 0.6], means, [0.3, 0.5], "spherical")
    x = _data(200, 2, seed=1).astype(np.float64)
    want = np.log(
        0.4 * multivariate_normal(means[0], 0.3 * np.eye(2)).pdf(x)
        + 0.6 * multivariate_normal(means[1], 0.5 * np.eye(2)).pdf(x)
    )
    np.testing.assert_allclose(gmm.log_prob(x), want, rtol=1e-10)
    res = sample(VP(), gmm, shape=(4000, 2), method="heun", steps=40, seed=0)
    assert res.x.shape == (4000, 2) and np.isfinite(res.x).all()
    mean = 0.4 * means[0] + 0.6 * means[1]
    np.testing.assert_allclose(res.x.mean(axis=0), mean, atol=0.1)  # ~6 standard errors


def test_cli_audit_runs():
    from latentgeo.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["audit"]) == 0
    assert out.getvalue().strip()


def _cpu_features():
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__
    return __cpu_features__


if __name__ == "__main__":
    feats = _cpu_features()
    avx = {f: feats.get(f) for f in ("AVX", "AVX2", "FMA3", "AVX512F")}
    print(f"latentgeo {latentgeo.__version__} from {latentgeo.__file__}")
    print(f"numpy {np.__version__}; CPU features seen: {avx}")
    if os.environ.get("LATENTGEO_SMOKE_EXPECT_NO_AVX") == "1" and any(avx.values()):
        sys.exit(f"smoke: expected a CPU without AVX, but this one has {avx}")
    tests = [(k, v) for k, v in sorted(globals().items()) if k.startswith("test_")]
    for name, fn in tests:
        fn()
        print(f"  ok  {name}")
    print(f"smoke: {len(tests)} checks passed")
