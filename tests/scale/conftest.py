"""Schedulers for the Dask tests: the synchronous scheduler, and a real ``distributed``
LocalCluster (two worker processes, one thread each) started once per session.

``run(build)`` builds the lazy result inside the scheduler's context (a distributed client
scatters shared objects when the graph is built) and computes it there. Without dask and
distributed the tests of this folder are skipped (each module calls ``importorskip``).
"""

import logging

import pytest


def _compute(obj, **kwargs):
    import dask

    if isinstance(obj, tuple):
        return dask.compute(*obj, **kwargs)
    return obj.compute(**kwargs)


@pytest.fixture(scope="session")
def client():
    """A Client of a LocalCluster(processes=True, n_workers=2, threads_per_worker=1)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def sync():
    """``run`` on the synchronous scheduler."""
    import dask

    def run(build):
        with dask.config.set(scheduler="synchronous"):
            return _compute(build())

    return run


@pytest.fixture
def cluster(client):
    """``run`` on the LocalCluster."""

    def run(build):
        with client.as_current():
            return _compute(build(), scheduler=client)

    return run


@pytest.fixture(params=["synchronous", "distributed"])
def run(request):
    """``run`` on each scheduler in turn."""
    return request.getfixturevalue("sync" if request.param == "synchronous" else "cluster")
