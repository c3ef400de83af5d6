"""Unargmaxable classes on Dask: the classes split into ranges, W shipped to each worker once, and
one merged report.

Each class's verdict, stage, witness and certificate are computed from W (all of it) and that
class alone, except for the rounding of the screen's blocked GEMM, whose tiles hold
:data:`SCREEN_TILE` consecutive classes of the checked list (a range of 57 classes was seen to
change one screen margin in the last bits): the ranges are therefore multiples of the tile, so
that every class sits in the same tile, at the same place, as in the single-process call. One
caveat remains: the whitened second screen runs its GEMM on the classes the first left open,
compacted per call, so its tiles hold other classes than in one call; a witness scale found
there could differ in the last bits if the GEMM rounded a row differently by its place in the
tile. No test has seen it (the reports compare equal field by field).
"""

from __future__ import annotations

import time
from typing import Optional

import dask
import numpy as np

from .. import _core
from .._validate import check_int, magnitude_exponent
from ..unargmax._detector import (
    DEFAULT_PATIENCE,
    _check_arguments,
    _report,
)
from ._inputs import aligned, shared
from ._threads import task_threads

#: Classes per tile of the core's screen (``QUERY_BLOCK`` of ``rust/unargmax/screen.rs``).
SCREEN_TILE = 256


def unargmaxable(
    W,
    b=None,
    *,
    classes=None,
    bounds=None,
    tol=None,
    patience: int = DEFAULT_PATIENCE,
    block_classes: int = 4 * SCREEN_TILE,
    n_threads: Optional[int] = None,
):
    """:func:`latentgeo.unargmaxable` on Dask, the classes split into ranges across tasks.

    Parameters
    ----------
    W, b, classes, bounds, tol, patience
        As in :func:`latentgeo.unargmaxable`. W and b are checked here and sent to the workers
        once (scattered to every worker with a ``distributed`` client, else one graph key), not
        once per task.
    block_classes : int
        Classes per task, a multiple of 256 (the screen's tile, so that the rounding of every
        class is that of the single-process call).
    n_threads : int, optional
        Rust threads per task (default: the worker's thread count under ``distributed``).

    Returns
    -------
    dask.delayed.Delayed
        ``.compute()`` gives one :class:`latentgeo.UnargmaxReport` over all the classes, equal
        to the single-process report (timings aside: each stage's seconds and ``"total"`` are
        summed over the tasks); its :meth:`~latentgeo.UnargmaxReport.verify` re-checks every
        certificate.

    Examples
    --------
    >>> import numpy as np, latentgeo.scale
    >>> W = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [0.2, 0.1]])
    >>> report = latentgeo.scale.unargmaxable(W).compute(scheduler="synchronous")
    >>> report.unargmaxable.tolist(), report.verify()
    ([4], True)
    """
    W, b, cls, bounds, tol, patience, n_threads = _check_arguments(
        W, b, classes, bounds, tol, patience, n_threads
    )
    V = W.shape[0]
    block = check_int(block_classes, "block_classes", low=SCREEN_TILE)
    if block % SCREEN_TILE:
        raise ValueError(
            f"block_classes must be a multiple of {SCREEN_TILE} (the screen's tile of classes), "
            f"got {block}"
        )
    # The core decides on the exactly rescaled (W, b) * 2**-e, as in the single-process call;
    # each task rescales its own copy, so that only (W, b) travels.
    e = magnitude_exponent(W, b)
    weights = shared((W, b), "weights")
    ids = np.arange(V, dtype=np.int64) if cls is None else cls
    task = dask.delayed(_block, pure=True)
    parts = [
        task(weights, e, ids[lo : lo + block], bounds, tol, patience, n_threads)
        for lo in range(0, ids.size, block)
    ]
    return dask.delayed(_merge, pure=True)(weights, parts, e, cls, bounds, tol)


def _block(weights, e, classes, bounds, tol, patience, n_threads):
    W, b = weights
    t0 = time.perf_counter()
    Wn = np.ldexp(W, -e) if e else W
    bn = None if b is None else (np.ldexp(b, -e) if e else b)
    raw = _core.unargmax(
        aligned(Wn),
        b=None if bn is None else aligned(bn),
        classes=aligned(classes, np.int64),
        bounds=bounds,
        tol=tol,
        patience=patience,
        n_threads=task_threads(n_threads),
    )
    raw["total"] = time.perf_counter() - t0
    return raw


def _merge(weights, parts, e, cls, bounds, tol):
    """One report from the raw verdicts of consecutive class ranges."""
    W, b = weights
    W, b = aligned(W), None if b is None else aligned(b)
    cat = {key: np.concatenate([p[key] for p in parts]) for key in ("status", "stage", "margin")}
    cat["alpha"] = np.concatenate([p["alpha"] for p in parts])
    wpos, cpos, ptr = [], [], [np.zeros(1, dtype=np.int64)]
    start, nnz = 0, 0
    for p in parts:
        wpos.append(p["witness_pos"] + start)
        cpos.append(p["cert_pos"] + start)
        ptr.append(p["cert_indptr"][1:] + nnz)
        start += p["status"].size
        nnz += int(p["cert_indptr"][-1])
    cat["witness_pos"] = np.concatenate(wpos)
    cat["witness_x"] = np.concatenate([p["witness_x"] for p in parts])
    cat["cert_pos"] = np.concatenate(cpos)
    cat["cert_indptr"] = np.concatenate(ptr)
    cat["cert_indices"] = np.concatenate([p["cert_indices"] for p in parts])
    cat["cert_weights"] = np.concatenate([p["cert_weights"] for p in parts])
    cat["timings"] = [sum(p["timings"][s] for p in parts) for s in range(3)]
    # The whitened witnesses' map depends on all of W only: the same in every task that has it.
    has = [p for p in parts if p.get("basis_r") is not None]
    cat["basis_r"] = has[0]["basis_r"] if has else None
    cat["basis_mu"] = has[0]["basis_mu"] if has else None
    total = sum(p["total"] for p in parts)
    return _report(cat, W, b, e, cls, bounds, tol, total)
