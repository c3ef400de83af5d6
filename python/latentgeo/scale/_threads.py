"""The size of the Rust thread pool of one task."""

from __future__ import annotations

from typing import Optional

from .._validate import check_n_threads


def task_threads(n_threads: Optional[int]) -> Optional[int]:
    """Threads for the Rust kernel of the task running now.

    An explicit `n_threads` wins. Inside a ``distributed`` worker the default is the worker's own
    thread count (``--nthreads``), never all cores of the host: a host runs several workers, and
    the nanny's ``OMP_NUM_THREADS=1`` does not reach the Rust pool. Elsewhere the default is all
    cores, as in a plain call (right for the synchronous scheduler; with dask's threaded
    scheduler, which runs several tasks at once, pass ``n_threads=1``).
    """
    if n_threads is not None:
        return n_threads
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    state = getattr(worker, "state", None)
    return check_n_threads(getattr(state, "nthreads", None) or worker.nthreads)
