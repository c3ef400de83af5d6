"""Past one machine: the heavy jobs of latentgeo on Dask, bit-identical to a single process.

Every function takes row-chunked inputs (dask arrays, ``.npy`` paths or memmaps that the workers
open themselves, or small in-memory arrays) and returns lazy results: dask arrays chunked by
rows, or a :class:`dask.delayed.Delayed` report. Computed with any scheduler (synchronous,
threads, processes or a ``distributed`` cluster), they equal the single-process results bit for
bit, for every chunking.

Install with ``pip install latentgeo[dask]``; the rest of latentgeo never imports dask.

Workers and threads: each task runs a Rust kernel whose thread pool has, by default, the thread
count of the worker it runs on (``threads_per_worker``), never all cores of the host. A worker
with T threads runs up to T tasks at once, so T > 1 would oversubscribe its cores T-fold: use
one single-thread worker process per core (``LocalCluster(n_workers=cores,
threads_per_worker=1)``, the layout the tests use), or pass ``n_threads=1`` to the functions
when workers have several threads. Results never depend on the thread counts.
"""

try:
    import dask  # noqa: F401
    import dask.array  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        "latentgeo.scale needs dask: pip install 'latentgeo[dask]' (dask[array], distributed, "
        "cloudpickle)"
    ) from exc

from ._diffusion import log_likelihood, sample
from ._geodesic import geodesic, geodesic_neighbors
from ._hubs import hubness, k_occurrence, reduce_hubness
from ._inputs import MAX_INLINE_BYTES
from ._knn import LazyKNN, knn
from ._unargmax import unargmaxable

__all__ = [
    "MAX_INLINE_BYTES",
    "LazyKNN",
    "knn",
    "k_occurrence",
    "hubness",
    "reduce_hubness",
    "unargmaxable",
    "geodesic",
    "geodesic_neighbors",
    "sample",
    "log_likelihood",
]
