"""Input checks shared by every public function: clear exceptions before any Rust code runs."""

from __future__ import annotations

import math
import numbers
from typing import Optional

import numpy as np

from . import _core

__all__ = ["as_float_matrix", "check_int", "check_n_threads", "check_choice", "float_dtype"]


def float_dtype(*arrays: np.ndarray) -> np.dtype:
    """float32 if every array is float32 (or float16), float64 otherwise."""
    if all(a.dtype in (np.float32, np.float16) for a in arrays):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def as_float_matrix(
    X, name: str = "X", *, dtype: Optional[np.dtype] = None, allow_empty: bool = False
) -> np.ndarray:
    """Return `X` as a finite, C-contiguous 2-D float32/float64 array, or raise.

    float32 stays float32 (float16 becomes float32); float64, integer and boolean input become
    float64 unless `dtype` is given.
    """
    return as_float_matrix_max_abs(X, name, dtype=dtype, allow_empty=allow_empty)[0]


def as_float_matrix_max_abs(
    X, name: str = "X", *, dtype: Optional[np.dtype] = None, allow_empty: bool = False
) -> tuple[np.ndarray, float]:
    """:func:`as_float_matrix` of `X` and its largest magnitude ``max |x|``, from the one pass
    that checks it (0.0 when empty)."""
    try:
        import scipy.sparse as sp

        if sp.issparse(X):
            raise TypeError(f"{name} is a scipy.sparse matrix; pass a dense numpy array")
    except ImportError:  # pragma: no cover - scipy is a dependency
        pass
    arr = np.asarray(X)
    if arr.dtype.kind == "O":  # numbers held in an object array are converted, others refused
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold real numbers, got dtype object ({exc})") from None
    check_matrix_shape(arr, name, allow_empty=allow_empty)
    if dtype is None:
        dtype = float_dtype(arr) if arr.dtype.kind == "f" else np.dtype(np.float64)
    # Aligned too: arrays unpickled from a byte buffer (e.g. sent by a Dask worker) can sit at
    # any offset, which the kernels refuse.
    arr = np.require(arr, dtype=dtype, requirements=["C", "A"])
    top = max_abs(arr)
    if not math.isfinite(top):  # locate the entry, in blocks: bounded temporaries
        for s in range(0, arr.shape[0], _FINITE_ROWS):
            check_finite_rows(arr[s : s + _FINITE_ROWS], name, s)
    return arr, top


#: Rows checked for NaN/inf at a time (the boolean temporary stays small for large inputs).
_FINITE_ROWS = 16_384


def max_abs(a: np.ndarray) -> float:
    """``max |a|`` over all entries (0.0 when empty), NaN when an entry is NaN or infinite.

    One parallel pass in Rust for a C-contiguous, aligned float32/float64 array; numpy's max and
    min otherwise."""
    if a.size == 0:
        return 0.0
    native = a.dtype in (np.float32, np.float64) and a.dtype.isnative
    if native and a.flags.c_contiguous and a.flags.aligned:
        return _core.finite_max_abs(a if a.ndim == 2 else a.reshape(1, -1))
    hi, lo = float(a.max()), float(a.min())
    return max(hi, -lo) if math.isfinite(hi) and math.isfinite(lo) else math.nan


def check_matrix_shape(arr, name: str, *, allow_empty: bool = False) -> None:
    """TypeError / ValueError unless `arr` (an ndarray, possibly memory-mapped) is a 2-D real
    matrix with at least one feature (and one row unless `allow_empty`)."""
    if arr.dtype.kind == "c":
        raise InputTypeError(
            f"{name} must hold real numbers, got dtype {arr.dtype} (Complex data not supported)"
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), got {arr.ndim}-D "
            f"with shape {arr.shape}. Reshape your data, e.g. with array.reshape(-1, 1) for a "
            "single feature or array.reshape(1, -1) for a single sample."
        )
    if not allow_empty and arr.shape[0] == 0:
        raise ValueError(
            f"{name} is empty: it has shape {arr.shape} (0 sample(s) (shape={arr.shape}) while "
            "a minimum of 1 is required)"
        )
    if arr.shape[1] == 0:
        raise ValueError(
            f"{name} has no features: it has shape {arr.shape} (0 feature(s) "
            f"(shape={arr.shape}) while a minimum of 1 is required)"
        )


class InputTypeError(TypeError, ValueError):
    """Input of a kind latentgeo does not compute with (complex numbers): a TypeError, as every
    wrong dtype is, and also a ValueError, which scikit-learn's estimator checks expect."""


def check_finite_rows(block: np.ndarray, name: str, offset: int = 0) -> None:
    """ValueError naming the first NaN/inf entry of `block` (rows `offset`... of `name`)."""
    if block.dtype.kind in "biu" or block.size == 0:
        return
    # One pass without a boolean temporary (whose fresh pages cost more than the pass itself on
    # large inputs); locate the entry only on failure.
    if math.isfinite(max_abs(block)):
        return
    if not np.isfinite(block).all():
        r, c = np.argwhere(~np.isfinite(block))[0]
        raise ValueError(
            f"{name} contains NaN or infinite values (first at row {r + offset}, column {c})"
        )


def check_int(value, name: str, *, low: Optional[int] = None, high: Optional[int] = None) -> int:
    """Check that `value` is an integer in [low, high] and return it as an int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high}, got {value}")
    return value


#: The most threads a call may ask for (a thread pool of that size is created per call).
MAX_THREADS = 1024


def check_n_threads(n_threads) -> Optional[int]:
    """None (all cores) or an integer in [1, MAX_THREADS]."""
    if n_threads is None:
        return None
    return check_int(n_threads, "n_threads", low=1, high=MAX_THREADS)


def check_choice(value, name: str, choices) -> str:
    """Check that `value` is one of `choices`."""
    if not isinstance(value, str) or value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {name} {value!r}; expected one of {opts}")
    return value


def check_real(
    value,
    name: str,
    *,
    low=None,
    low_open=False,
    high=None,
    high_open=False,
    allow_inf=False,
) -> float:
    """`value` (a real Python or numpy scalar, not a bool) as a float in the given range, finite
    unless `allow_inf` (NaN never passes); TypeError / ValueError naming `name` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    bounded = low is not None and high is not None
    nonfinite = math.isnan(value) or (math.isinf(value) and not allow_inf)
    if nonfinite and not bounded:
        raise ValueError(f"{name} must be finite, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if nonfinite or too_low or too_high:
        if bounded:
            lo, hi = "(" if low_open else "[", ")" if high_open else "]"
            raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value}")
        if too_low:
            raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def magnitude_exponent(*arrays) -> int:
    """e with ``max |a| * 2**-e`` in [0.5, 1) over all the (non-None) arrays, 0 if all are zero.

    ``np.ldexp(a, -e)`` is then an exact rescaling (no rounding, unless an entry is below the
    smallest normal number relative to the largest), which scale-invariant algorithms use to keep
    squares and products away from overflow and underflow."""
    m = 0.0
    for a in arrays:
        if a is not None and a.size:
            top = max_abs(a)
            if math.isnan(top):  # not finite: as numpy's max and min give it
                top = max(float(a.max()), -float(a.min()))
            m = max(m, top)
    return exponent(m)


def exponent(m: float) -> int:
    """e with ``m * 2**-e`` in [0.5, 1) for ``m > 0``, 0 otherwise (see
    :func:`magnitude_exponent`)."""
    return math.frexp(m)[1] if m > 0 else 0


def row_exponents(X: np.ndarray) -> np.ndarray:
    """Per row of `X`, the e of :func:`magnitude_exponent` (``max |x_i| * 2**-e_i`` in [0.5, 1),
    0 for a zero row): ``np.ldexp(X, -e[:, None])`` rescales every row exactly."""
    return np.frexp(np.maximum(X.max(axis=1), -X.min(axis=1)))[1]
