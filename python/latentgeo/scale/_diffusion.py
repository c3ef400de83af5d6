"""Diffusion sampling and likelihoods on Dask, over ranges of sample indices.

The noise is counter-based (keyed by the seed and counted by sample index and step), so a task
that runs samples ``lo .. hi`` with ``first_index=lo`` produces exactly the rows ``lo .. hi`` of
the single-process run: the samples are the same bits for every chunking. The user's model is
shipped to the workers with cloudpickle, once; one that cannot be pickled is refused before
anything runs.
"""

from __future__ import annotations

import math
from typing import Optional

import dask
import dask.array as da
import numpy as np

from .._validate import check_int, check_n_threads
from ..diffusion import LikelihoodResult, SampleResult
from ..diffusion import log_likelihood as _log_likelihood
from ..diffusion import sample as _sample
from ..diffusion._grids import _schedule_args
from ..diffusion._sample import _model
from ._inputs import MAX_INLINE_BYTES, aligned, ranges, shared

#: Default samples per task.
DEFAULT_BLOCK_SAMPLES = 1024

# Options of the single-process calls that have no meaning across tasks.
_NOT_HERE = ("callback", "progress", "save_every", "batch_size", "first_index")


def _check_options(options: dict, func: str) -> None:
    bad = sorted(set(options) & set(_NOT_HERE))
    if bad:
        raise TypeError(
            f"{func}() on Dask does not take {', '.join(bad)} (tasks run separately: use "
            "block_samples to size them)"
        )


def _check_model(process, model, kind) -> None:
    """The single-process model checks, plus: the model must survive cloudpickle."""
    _schedule_args(process)
    _model(process, model, kind)
    import cloudpickle

    try:
        cloudpickle.dumps(model)
    except Exception as exc:
        raise TypeError(
            f"the model ({type(model).__name__}) cannot be pickled with cloudpickle, which Dask "
            f"needs to ship it to the workers: {exc}. Define it at module level, or build the "
            "network inside a picklable callable (e.g. a class that loads its weights lazily)"
        ) from exc


def _states(x, block: int) -> da.Array:
    """Initial states as a dask array chunked along the sample axis only."""
    if isinstance(x, da.Array):
        if any(math.isnan(c) for chunks in x.chunks for c in chunks):
            raise ValueError("x has unknown (NaN) chunk sizes; call x.compute_chunk_sizes() first")
        if x.ndim < 2:
            raise ValueError(
                f"x must have a batch axis and at least one state axis, got shape {x.shape}"
            )
        return x.rechunk({i: -1 for i in range(1, x.ndim)})
    arr = np.asarray(x)
    if arr.nbytes > MAX_INLINE_BYTES:
        raise ValueError(
            f"x is an in-memory array of {arr.nbytes / 2**20:.0f} MiB; it would be copied into "
            "the task graph. Pass a dask array (e.g. dask.array.from_zarr or from_npy_stack)"
        )
    if arr.ndim < 2:
        raise ValueError(
            f"x must have a batch axis and at least one state axis, got shape {arr.shape}"
        )
    return da.from_array(arr, chunks=(block,) + arr.shape[1:])


def sample(
    process,
    model,
    x=None,
    *,
    shape=None,
    kind: str = "eps",
    block_samples: int = DEFAULT_BLOCK_SAMPLES,
    return_result: bool = False,
    n_threads: Optional[int] = None,
    **options,
):
    """:func:`latentgeo.diffusion.sample` on Dask: the final states as a lazy array.

    Parameters
    ----------
    process, model, x, shape, kind
        As in :func:`latentgeo.diffusion.sample`; `x` may be a dask array chunked along the
        sample axis (other axes are rechunked to one chunk). `model` must be picklable with
        cloudpickle (checked here, before anything runs; TypeError otherwise).
    block_samples : int
        Samples per task when drawing from the prior or when `x` is a numpy array.
    return_result : bool
        Return a delayed :class:`~latentgeo.diffusion.SampleResult` instead (``x`` gathered in
        memory; ``nfe`` summed over the tasks, as over the batches of a batched run).
    n_threads : int, optional
        Threads per task for analytic models (default: the worker's thread count).
    **options
        The other keywords of :func:`latentgeo.diffusion.sample` (``method``, ``steps``,
        ``grid``, ``seed``, ...), except ``callback``, ``progress``, ``save_every``,
        ``batch_size`` and ``first_index``.

    Returns
    -------
    dask.array.Array, shape (B, ...)
        The ``x`` of the single-process :class:`~latentgeo.diffusion.SampleResult`, bit for bit,
        chunked by samples (or, with `return_result`, a ``dask.delayed.Delayed``).

    Examples
    --------
    >>> import numpy as np, latentgeo.diffusion as dfn, latentgeo.scale
    >>> gmm = dfn.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.1, 0.1], "spherical")
    >>> opts = dict(method="euler_maruyama", steps=20, seed=3)
    >>> lazy = latentgeo.scale.sample(dfn.VP(), gmm, shape=(10, 1), block_samples=4, **opts)
    >>> one = dfn.sample(dfn.VP(), gmm, shape=(10, 1), **opts).x
    >>> lazy.chunks[0], np.array_equal(lazy.compute(scheduler="synchronous"), one)
    ((4, 4, 2), True)
    """
    _check_options(options, "sample")
    _check_model(process, model, kind)
    block = check_int(block_samples, "block_samples", low=1)
    n_threads = check_n_threads(n_threads)
    m = shared(model, "model")
    task = dask.delayed(_sample_block, pure=True)
    parts, rows, dtype, tail = [], [], np.dtype(np.float64), ()
    if x is None:
        if shape is None:
            raise ValueError("pass the initial states x or their shape")
        shape = tuple(int(s) for s in np.atleast_1d(shape))
        if len(shape) < 2 or min(shape) < 1:
            raise ValueError(f"shape must be (B, ...) with positive sizes, got {shape}")
        tail = shape[1:]
        for lo, hi in ranges(shape[0], block):
            parts.append(task(process, m, None, (hi - lo,) + tail, lo, kind, n_threads, options))
            rows.append(hi - lo)
    else:
        if shape is not None:
            raise ValueError("pass either x or shape, not both")
        xd = _states(x, block)
        if xd.dtype.kind not in "biuf":
            raise TypeError(f"x must hold real numbers, got dtype {xd.dtype}")
        if xd.dtype in (np.float32, np.float16):
            dtype = np.dtype(np.float32)
        tail = xd.shape[1:]
        for xb, lo, r in zip(xd.to_delayed().ravel(), _starts(xd), xd.chunks[0]):
            parts.append(task(process, m, xb, None, lo, kind, n_threads, options))
            rows.append(r)
    if return_result:
        return dask.delayed(_merge_results, pure=True)(parts)
    states = [
        da.from_delayed(dask.delayed(getattr)(p, "x"), shape=(r,) + tail, dtype=dtype)
        for p, r in zip(parts, rows)
    ]
    return da.concatenate(states, axis=0)


def _merge_results(parts) -> SampleResult:
    """One result from those of consecutive index ranges (as a batched run reports it)."""
    last = parts[-1]  # a batched run reports the steps (and time) of its last batch
    cat = [p.accepted for p in parts if p.accepted is not None]
    rej = [p.rejected for p in parts if p.rejected is not None]
    return SampleResult(
        x=np.concatenate([p.x for p in parts]),
        t=last.t,
        nfe=sum(p.nfe for p in parts),
        steps=last.steps,
        stopped=False,
        accepted=np.concatenate(cat) if cat else None,
        rejected=np.concatenate(rej) if rej else None,
    )


def _starts(xd: da.Array):
    return np.concatenate([[0], np.cumsum(xd.chunks[0])[:-1]]).astype(int).tolist()


def _sample_block(process, model, x, shape, lo, kind, n_threads, options):
    from ._threads import task_threads

    res = _sample(
        process,
        model,
        None if x is None else aligned(x),
        shape=shape,
        kind=kind,
        first_index=lo,
        n_threads=task_threads(n_threads),
        **options,
    )
    return res


def log_likelihood(
    process,
    model,
    x,
    *,
    kind: str = "eps",
    block_samples: int = DEFAULT_BLOCK_SAMPLES,
    return_result: bool = False,
    n_threads: Optional[int] = None,
    **options,
):
    """:func:`latentgeo.diffusion.log_likelihood` on Dask, over blocks of data rows.

    Parameters
    ----------
    process, model, x, kind
        As in :func:`latentgeo.diffusion.log_likelihood`; `x` may be a dask array chunked along
        the sample axis. `model` must be picklable with cloudpickle.
    block_samples : int
        Rows per task when `x` is a numpy array.
    return_result : bool
        Return a delayed :class:`~latentgeo.diffusion.LikelihoodResult` instead (every field
        gathered in memory; ``nfe`` summed over the tasks, as over the batches of a batched
        run, so it equals the single-process result with ``batch_size`` = the chunk size).
    n_threads : int, optional
        Threads per task for analytic models (default: the worker's thread count).
    **options
        The other keywords of :func:`latentgeo.diffusion.log_likelihood` (``method``,
        ``divergence``, ``probes``, ``seed``, ...), except ``progress``, ``batch_size`` and
        ``first_index``.

    Returns
    -------
    dask.array.Array of float64, shape (B,)
        ``log_prob`` of the single-process :class:`~latentgeo.diffusion.LikelihoodResult`, bit
        for bit (Hutchinson probes are keyed by the row index), chunked like `x` (or, with
        `return_result`, a ``dask.delayed.Delayed``).
    """
    _check_options(options, "log_likelihood")
    _check_model(process, model, kind)
    block = check_int(block_samples, "block_samples", low=1)
    n_threads = check_n_threads(n_threads)
    xd = _states(x, block)
    m = shared(model, "model")
    task = dask.delayed(_likelihood_block, pure=True)
    blocks = zip(xd.to_delayed().ravel(), _starts(xd), xd.chunks[0])
    results = [(task(process, m, xb, lo, kind, n_threads, options), r) for xb, lo, r in blocks]
    if return_result:
        return dask.delayed(_merge_likelihoods, pure=True)([r for r, _ in results])
    parts = [
        da.from_delayed(dask.delayed(getattr)(r, "log_prob"), (rows,), np.float64)
        for r, rows in results
    ]
    return da.concatenate(parts, axis=0)


def _merge_likelihoods(parts) -> LikelihoodResult:
    """One result from those of consecutive row ranges (as a batched run reports it)."""

    def cat(name):
        arrays = [getattr(p, name) for p in parts]
        return None if arrays[0] is None else np.concatenate(arrays)

    return LikelihoodResult(
        log_prob=cat("log_prob"),
        prior_logp=cat("prior_logp"),
        delta=cat("delta"),
        stderr=cat("stderr"),
        x_end=cat("x_end"),
        nfe=sum(p.nfe for p in parts),
        accepted=cat("accepted"),
        rejected=cat("rejected"),
    )


def _likelihood_block(process, model, x, lo, kind, n_threads, options):
    from ._threads import task_threads

    return _log_likelihood(
        process,
        model,
        aligned(x),
        kind=kind,
        first_index=lo,
        n_threads=task_threads(n_threads),
        **options,
    )
