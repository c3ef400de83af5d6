"""Unargmaxable classes of a softmax layer: exact, certified verdicts for real vocabularies.

For logits ``z = W x + b`` (W is V x d), class k is *argmaxable* when some input x gives
``z_k > z_j`` for every ``j != k`` (strict), otherwise *unargmaxable*: no input can make it the
greedy prediction. Without a bias, k is unargmaxable iff ``w_k`` lies in the convex hull of the
other rows; with a bias, iff ``(w_k, b_k)`` lies below the upper hull of the lifted rows.

Every verdict carries a certificate that was checked in float64: a witness x (argmaxable), or
weights ``lambda >= 0`` summing to one with ``sum_j lambda_j w_j = w_k`` and
``sum_j lambda_j b_j >= b_k`` (unargmaxable, within a relative tolerance). Classes that cannot be
certified are reported as ``"undecided"``, never guessed. :meth:`UnargmaxReport.verify` re-checks
all of them independently.
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from .. import _core
from .._progress import Progress
from .._validate import (
    check_int,
    check_n_threads,
    check_real,
    magnitude_exponent,
)
from ._report import _STAGE, _STATUS, UnargmaxReport

#: Default relative tolerance of unargmaxability certificates.
DEFAULT_TOL = 1e-9


#: Default number of reflections of the heuristic per class (the reference's default).
DEFAULT_PATIENCE = 100


def _as_weights(W) -> np.ndarray:
    try:
        import scipy.sparse as sp

        if sp.issparse(W):
            raise TypeError("W is a scipy.sparse matrix; pass a dense numpy array")
    except ImportError:  # pragma: no cover - scipy is a dependency
        pass
    arr = np.asarray(W)
    if arr.dtype.name == "bfloat16":  # ml_dtypes: exact in float32
        arr = arr.astype(np.float32)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"W must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"W must be a 2-D array of shape (V, d), got shape {arr.shape}")
    V, d = arr.shape
    if V <= 1:
        raise ValueError(f"W needs at least 2 rows (classes), got {V}")
    if d == 0:
        raise ValueError(f"W has no columns: it has shape {arr.shape}")
    dtype = np.float32 if arr.dtype in (np.float16, np.float32) else np.float64
    arr = np.require(arr, dtype=dtype, requirements=["C", "A"])  # aligned for Rust
    if not np.isfinite(arr).all():
        r, c = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"W contains NaN or infinite values (first at row {r}, column {c})")
    return arr


def _as_bias(b, V: int) -> Optional[np.ndarray]:
    if b is None:
        return None
    arr = np.asarray(b)
    if arr.dtype.name == "bfloat16":
        arr = arr.astype(np.float32)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"b must hold real numbers, got dtype {arr.dtype}")
    if arr.shape != (V,):
        raise ValueError(f"b must have shape ({V},) to match W's {V} rows, got shape {arr.shape}")
    arr = np.require(arr, dtype=np.float64, requirements=["C", "A"])
    if not np.isfinite(arr).all():
        raise ValueError(
            f"b contains NaN or infinite values (first at {np.flatnonzero(~np.isfinite(arr))[0]})"
        )
    return arr


def _as_classes(classes, V: int) -> Optional[np.ndarray]:
    if classes is None:
        return None
    arr = np.atleast_1d(np.asarray(classes))
    if arr.ndim != 1:
        raise ValueError(f"classes must be a 1-D sequence of class ids, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"classes must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size == 0:
        raise ValueError("classes is empty")
    bad = arr[(arr < 0) | (arr >= V)]
    if bad.size:
        raise ValueError(f"class {int(bad[0])} is out of range for W with {V} rows")
    if len(np.unique(arr)) != arr.size:
        raise ValueError("classes contains duplicates")
    return np.ascontiguousarray(arr)


def _check_arguments(W, b, classes, bounds, tol, patience, n_threads):
    """The arguments of :func:`unargmaxable` checked and converted (also for its Dask path)."""
    W = _as_weights(W)
    V = W.shape[0]
    b = _as_bias(b, V)
    cls = _as_classes(classes, V)
    if bounds is not None:
        bounds = check_real(bounds, "bounds", low=0, low_open=True)
    tol = DEFAULT_TOL if tol is None else check_real(tol, "tol", low=0)
    patience = check_int(patience, "patience", low=0)
    return W, b, cls, bounds, tol, patience, check_n_threads(n_threads)


def unargmaxable(
    W,
    b=None,
    *,
    classes=None,
    bounds=None,
    tol=None,
    patience: int = DEFAULT_PATIENCE,
    n_threads: Optional[int] = None,
    progress: bool = False,
) -> UnargmaxReport:
    """Find the classes of ``z = W x + b`` that no input can make the strict argmax.

    Three stages run in Rust, parallel over classes, each for what the previous left open:
    a batched screen ``x = alpha * w_k`` (one blocked GEMM keeping row maxima, bias-aware
    alpha, proven with an a-priori rounding bound) followed by the whitened direction
    ``(Sigma + eps I)^-1 (w_k - mean(W))`` for the classes still open, the reference's reflection
    heuristic, and an exact LP (clarabel) with constraint generation that yields either a witness
    or the dual weights lambda, reduced to at most d + 1 non-zeros (Caratheodory). Every result
    is checked in float64 before it becomes a verdict.

    Parameters
    ----------
    W : array_like, shape (V, d)
        Output embeddings (one row per class). float32 (and float16/bfloat16, converted
        losslessly) is screened in float32; everything else in float64. All certificates are
        checked in float64.
    b : array_like, shape (V,), optional
        Bias.
    classes : sequence of int, optional
        Class ids to check (default: all). Every row still counts as a competitor.
    bounds : float, optional
        Restrict inputs to the box ``[-bounds, bounds]^d`` (the reference uses 100). Default:
        box-free (any x; large inputs count), which the homogeneous LP handles exactly.
    tol : float, optional
        Relative tolerance of unargmaxability certificates (default 1e-9): a class is reported
        unargmaxable when ``w_k`` is within ``tol * sum lambda_j ||w_j - w_k||`` of a convex
        combination of other rows whose bias is at least ``b_k`` (up to the same relative
        tolerance). Argmaxable verdicts need a witness whose margin clears float64 rounding.
    patience : int
        Reflections per class in the heuristic (0 skips the reflections).
    n_threads : int, optional
        Threads (default: all cores). Results do not depend on it.
    progress : bool
        Progress bar on stderr; Ctrl-C interrupts (KeyboardInterrupt).

    Returns
    -------
    UnargmaxReport

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> W = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [0.2, 0.1]])
    >>> latentgeo.unargmaxable(W).unargmaxable.tolist()
    [4]
    """
    t0 = time.perf_counter()
    W, b, cls, bounds, tol, patience, n_threads = _check_arguments(
        W, b, classes, bounds, tol, patience, n_threads
    )
    V, d = W.shape
    # Decide on the exactly rescaled (W, b) 2**-e: verdicts, witnesses and certificates do not
    # change with the scale, and no magnitude of the input can overflow or underflow.
    e = magnitude_exponent(W, b)
    Wn = np.ldexp(W, -e) if e else W
    bn = None if b is None else (np.ldexp(b, -e) if e else b)
    with Progress(1, "unargmaxable", enabled=bool(progress)) as bar:
        raw = _core.unargmax(
            Wn,
            b=bn,
            classes=cls,
            bounds=bounds,
            tol=tol,
            patience=patience,
            n_threads=n_threads,
            progress=bar,
        )
    return _report(raw, W, b, e, cls, bounds, tol, time.perf_counter() - t0)


def _report(raw, W, b, e, cls, bounds, tol, total) -> UnargmaxReport:
    """The report of the core's `raw` verdicts on the classes `cls` (None: all) of W and b,
    decided on (W, b) * 2**-e; `total` seconds."""
    V, d = W.shape
    classes_out = np.arange(V, dtype=np.int64) if cls is None else cls
    status = _STATUS[raw["status"]]
    stage = _STAGE[raw["stage"]]
    witnesses = {int(p): x for p, x in zip(raw["witness_pos"], raw["witness_x"])}
    ptr = raw["cert_indptr"]
    certificates = {
        int(p): (raw["cert_indices"][ptr[i] : ptr[i + 1]], raw["cert_weights"][ptr[i] : ptr[i + 1]])
        for i, p in enumerate(raw["cert_pos"])
    }
    decided = status != "undecided"
    counts = {str(s): int(np.count_nonzero(decided & (stage == s))) for s in _STAGE}
    ts = raw["timings"]
    timings = {"screen": ts[0], "heuristic": ts[1], "lp": ts[2], "total": total}
    semantics = "box-free" if bounds is None else f"box [-{bounds:g}, {bounds:g}]^d"
    return UnargmaxReport(
        V=V,
        d=d,
        has_bias=b is not None,
        semantics=semantics,
        tol=tol,
        classes=classes_out,
        status=status,
        stage=stage,
        margin=np.ldexp(raw["margin"], e),
        timings=timings,
        counts=counts,
        bounds=bounds,
        _W=W,
        _b=b,
        _alpha=np.ldexp(raw["alpha"], -e),
        _witnesses=witnesses,
        _basis=None if raw.get("basis_r") is None else (raw["basis_r"], raw["basis_mu"]),
        _certificates=certificates,
        _pos={int(k): i for i, k in enumerate(classes_out.tolist())},
    )
