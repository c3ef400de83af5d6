"""A process forked after latentgeo has run (multiprocessing's "fork" start method, a PyTorch
DataLoader, gunicorn workers) can call latentgeo again: the Rust core keeps its thread pools
per process, so the child builds its own instead of waiting forever on threads it does not have.

Each case runs in a subprocess with a timeout, so a hang fails the test instead of blocking it.
"""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp, sys
    import numpy as np
    import latentgeo
    from latentgeo import diffusion as dfn
    from latentgeo.losses import exact_accuracy

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 16))
    W = rng.normal(size=(400, 6))
    gmm = dfn.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.1, 0.1], "spherical")
    logits, labels = rng.normal(size=(2000, 20)), rng.integers(0, 20, 2000)
    jobs = {
        "knn": lambda t: latentgeo.knn(X, 5, n_threads=t).indices.sum(),
        "geodesic": lambda t: latentgeo.geodesic(
            latentgeo.knn_graph(X, 5, n_threads=t), [0, 1], n_threads=t
        ).sum(),
        "unargmaxable": lambda t: int(latentgeo.unargmaxable(W, n_threads=t).unargmaxable.sum()),
        "sample": lambda t: dfn.sample(
            dfn.VP(), gmm, shape=(300_000, 1), steps=3, seed=1, n_threads=t
        ).x.sum(),
        "exact_accuracy": lambda t: float(np.sum(exact_accuracy(logits, labels))),
    }
    job, threads = jobs[sys.argv[1]], (None if sys.argv[2] == "None" else int(sys.argv[2]))
    before = job(threads)  # the parent's pools exist now

    def child(q):
        q.put(job(threads))

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start()
    p.join(60)
    if p.is_alive():
        p.kill()
        sys.exit("the forked child hung")
    assert p.exitcode == 0, p.exitcode
    assert q.get() == before
    """
)


@pytest.mark.parametrize("threads", [None, 2])
@pytest.mark.parametrize("job", ["knn", "geodesic", "unargmaxable", "sample", "exact_accuracy"])
def test_a_forked_child_can_call_the_core(job, threads):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, job, str(threads)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
