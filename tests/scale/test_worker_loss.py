"""A worker process killed in the middle of a kNN or unargmaxable run: its nanny restarts it, Dask
reruns the lost tasks, and the result is the single-process one, nothing lost or counted twice."""

import os
import time

import numpy as np
import pytest
from support.equality import assert_reports_equal

import latentgeo

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
scale = pytest.importorskip("latentgeo.scale")


def test_killed_worker(client, rng):
    X = rng.normal(size=(2000, 16)).astype(np.float32)
    ref = latentgeo.knn(X, 5)
    with client.as_current():
        lazy = scale.knn(da.from_array(X, chunks=(100, 16)), 5, n_threads=1)  # 210 block-pair tasks
        nk = scale.k_occurrence(lazy)
        futures = client.compute([lazy.indices, lazy.distances, nk])
        victim = _kill_a_worker_midway(client, futures, after=50)
        idx, dist, counts = client.gather(futures)
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.scheduler_info()["workers"]  # it was replaced
    assert np.array_equal(idx, ref.indices)
    assert np.array_equal(dist.view(np.uint8), ref.distances.view(np.uint8))
    assert np.array_equal(counts, latentgeo.k_occurrence(ref))


def test_killed_worker_unargmax(client, rng):
    W = rng.normal(size=(1536, 8))
    W[:150] *= 0.3  # interior rows: the slow LP stage
    ref = latentgeo.unargmaxable(W)
    with client.as_current():
        future = client.compute(scale.unargmaxable(W, block_classes=256, n_threads=1))  # 6 tasks
        victim = _kill_a_worker_midway(client, [future], after=2)
        got = future.result()
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.scheduler_info()["workers"]
    assert_reports_equal(ref, got, skip=("timings",))
    assert got.verify(raise_on_failure=True)


def _kill_a_worker_midway(client, futures, after: int) -> str:
    """Kill one worker process once `after` tasks are done, before `futures` finish."""
    deadline = time.monotonic() + 60
    while _finished_tasks(client) < after and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not all(f.done() for f in futures), "the run ended before a worker could be killed"
    victim = sorted(client.scheduler_info()["workers"])[0]
    try:  # the worker process dies at once (no reply); its nanny starts a new one
        client.run(os._exit, 1, workers=[victim])
    except Exception:  # noqa: BLE001 - the closed connection of the killed process
        pass
    return victim


def _finished_tasks(client) -> int:
    return client.run_on_scheduler(
        lambda dask_scheduler: sum(ts.state == "memory" for ts in dask_scheduler.tasks.values())
    )
