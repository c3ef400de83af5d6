"""latentgeo.scale geodesics and diffusion sampling equal the single-process results bit for bit."""

import threading

import numpy as np
import pytest
from support.equality import same_bits

import latentgeo
from latentgeo import diffusion as dfn

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")
scale = pytest.importorskip("latentgeo.scale")


@pytest.fixture(scope="module")
def graph():
    X = latentgeo.datasets.make_example(n=300, d=8, seed=3)
    return latentgeo.knn_graph(X, 5)  # 8 clusters: disconnected, inf across them


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("directed", [False, True])
def test_geodesic(run, graph, dtype, directed):
    ref = latentgeo.geodesic(graph, dtype=dtype, directed=directed)
    got = run(lambda: scale.geodesic(graph, dtype=dtype, directed=directed, block_sources=70))
    assert same_bits(ref, got)


def test_geodesic_options(sync, graph):
    src = [5, 3, 3, 200, 7]
    ref, pred = latentgeo.geodesic(graph, src, return_predecessors=True, limit=2.0)
    got, gpred = sync(
        lambda: scale.geodesic(graph, src, return_predecessors=True, limit=2.0, block_sources=2)
    )
    assert same_bits(ref, got) and np.array_equal(pred, gpred)
    assert same_bits(latentgeo.geodesic(graph, 4), sync(lambda: scale.geodesic(graph, 4)))
    X = latentgeo.datasets.make_example(n=300, d=8, seed=3)
    ref = latentgeo.geodesic(graph, [0, 299], policy="connect", X=X)
    got = sync(lambda: scale.geodesic(graph, [0, 299], policy="connect", X=X, block_sources=1))
    assert same_bits(ref, got) and np.isfinite(got).all()


def test_geodesic_is_stored_block_by_block(sync, graph, tmp_path):
    """The lazy matrix goes to storage (here a memmap; to_zarr alike) one row block at a time."""
    lazy = scale.geodesic(graph, block_sources=64)
    assert lazy.chunks[0] == (64, 64, 64, 64, 44)
    out = np.lib.format.open_memmap(
        tmp_path / "D.npy", mode="w+", dtype=lazy.dtype, shape=lazy.shape
    )
    sync(lambda: da.store(lazy, out, compute=False))
    out.flush()
    assert same_bits(latentgeo.geodesic(graph), np.load(tmp_path / "D.npy"))


def test_geodesic_graph_is_shipped_once(graph):
    lazy = scale.geodesic(graph, block_sources=10)  # 30 tasks
    nbytes = graph.data.nbytes + graph.indices.nbytes + graph.indptr.nbytes
    assert len(cloudpickle.dumps(dict(lazy.__dask_graph__()))) < 3 * nbytes + 100_000


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_geodesic_neighbors(run, graph, dtype):
    i1, d1 = latentgeo.geodesic_neighbors(graph, 7, dtype=dtype)
    i2, d2 = run(lambda: scale.geodesic_neighbors(graph, 7, dtype=dtype, block_sources=50))
    assert np.array_equal(i1, i2) and same_bits(d1, d2)
    i1, d1 = latentgeo.geodesic_neighbors(graph, 3, sources=9, directed=True)
    i2, d2 = run(lambda: scale.geodesic_neighbors(graph, 3, sources=9, directed=True))
    assert np.array_equal(i1, i2) and same_bits(d1, d2)


def test_geodesic_bad_input(graph):
    with pytest.raises(ValueError, match="1 <= k < n"):
        scale.geodesic_neighbors(graph, 300)
    with pytest.raises(ValueError, match="float32 or float64"):
        scale.geodesic(graph, dtype=np.int32)
    with pytest.raises(ValueError, match="block_sources must be at least 1"):
        scale.geodesic(graph, block_sources=0)


GMM = dfn.GaussianMixture([0.3, 0.7], [[-2.0, 0.5], [2.0, 1.0]], [[0.1, 0.2], [0.1, 0.3]], "diag")


@pytest.mark.parametrize(
    "options",
    [
        dict(method="euler_maruyama", steps=12, seed=5),
        dict(method="ancestral", steps=10, seed=1),
        dict(method="pc", steps=6, seed=2),
        dict(method="ddim", eta=0.5, steps=8, seed=3),
        dict(method="dopri5", rtol=1e-4, atol=1e-4),
    ],
    ids=lambda o: o["method"],
)
def test_sample_from_the_prior(sync, options):
    ref = dfn.sample(dfn.VP(), GMM, shape=(23, 2), **options).x
    got = sync(lambda: scale.sample(dfn.VP(), GMM, shape=(23, 2), block_samples=5, **options))
    assert same_bits(ref, got)


def eps_model(x, t):
    return 0.1 * x * t[:, None]


def test_sample_from_given_states_and_a_callable(run, rng):
    x0 = rng.normal(size=(17, 2)).astype(np.float32)
    opts = dict(method="euler_maruyama", steps=6, seed=9)
    ref = dfn.sample(dfn.VP(), eps_model, x=x0, **opts).x
    got = run(lambda: scale.sample(dfn.VP(), eps_model, x=da.from_array(x0, chunks=(4, 1)), **opts))
    assert same_bits(ref, got)


@pytest.mark.parametrize("divergence", ["exact", "hutchinson"])
def test_log_likelihood(sync, rng, divergence):
    x = rng.normal(size=(13, 2))
    opts = dict(divergence=divergence, probes=3, method="rk4", steps=10, seed=4)
    ref = dfn.log_likelihood(dfn.VP(), GMM, x, **opts).log_prob
    got = sync(lambda: scale.log_likelihood(dfn.VP(), GMM, x, block_samples=4, **opts))
    assert same_bits(ref, got)


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_log_likelihood_result(run, rng, method):
    # The merged result equals a batched single-process run whose batches are the chunks.
    x = rng.normal(size=(11, 2))
    opts = dict(divergence="hutchinson", probes=2, method=method, steps=6, seed=2)
    ref = dfn.log_likelihood(dfn.VP(), GMM, x, batch_size=4, **opts)
    got = run(lambda: scale.log_likelihood(dfn.VP(), GMM, x, block_samples=4, return_result=True,
                                           **opts))  # fmt: skip
    assert isinstance(got, dfn.LikelihoodResult) and got.nfe == ref.nfe
    for name in ("log_prob", "prior_logp", "delta", "stderr", "x_end", "accepted", "rejected"):
        a, b = getattr(ref, name), getattr(got, name)
        assert (a is None and b is None) or same_bits(a, b), name


def test_a_model_that_cannot_be_pickled_is_refused_before_sampling():
    lock, calls = threading.Lock(), []

    def model(x, t):  # holds a lock: cloudpickle cannot ship it
        with lock:
            calls.append(1)
        return x

    with pytest.raises(TypeError, match="cannot be pickled with cloudpickle"):
        scale.sample(dfn.VP(), model, shape=(4, 2))
    with pytest.raises(TypeError, match="cannot be pickled with cloudpickle"):
        scale.log_likelihood(dfn.VP(), model, np.zeros((4, 2)), divergence="hutchinson")
    assert calls == []


def test_sample_bad_input():
    with pytest.raises(TypeError, match="does not take callback"):
        scale.sample(dfn.VP(), GMM, shape=(4, 2), callback=print)
    with pytest.raises(ValueError, match="x or their shape"):
        scale.sample(dfn.VP(), GMM)
    with pytest.raises(TypeError, match="model must be"):
        scale.sample(dfn.VP(), 3, shape=(4, 2))
    with pytest.raises(ValueError, match="unknown .NaN. chunk sizes"):
        x = da.ones((6, 2), chunks=(3, 2))
        scale.sample(dfn.VP(), GMM, x=x[x[:, 0] > 0])


def test_sample_result(sync):
    opts = dict(method="dopri5", rtol=1e-4, atol=1e-4)
    ref = dfn.sample(dfn.VP(), GMM, shape=(10, 2), batch_size=4, **opts)
    got = sync(
        lambda: scale.sample(
            dfn.VP(), GMM, shape=(10, 2), block_samples=4, return_result=True, **opts
        )
    )
    assert same_bits(ref.x, got.x) and (got.t, got.nfe, got.steps) == (ref.t, ref.nfe, ref.steps)
    assert np.array_equal(ref.accepted, got.accepted) and np.array_equal(ref.rejected, got.rejected)
