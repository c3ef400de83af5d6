"""Shared helpers of the losses: namespaces, input checks, stable reductions, normal CDF.

Everything in the forward pass uses functions of the Python array API standard on the namespace
returned by ``array_api_compat.array_namespace``, so that torch and jax autograd can run through
it. The only exceptions are the normal CDF (dispatched to scipy / torch.special /
jax.scipy.special, with a pure array-API fallback) and :func:`stop_gradient`.
"""

from __future__ import annotations

import math

import array_api_compat as aac
import numpy as np

from .._validate import check_choice, check_real

__all__ = [
    "REDUCTIONS",
    "as_logits",
    "as_labels",
    "as_mask",
    "check_positive",
    "check_real",
    "reduce",
    "lse0",
    "logsumexp",
    "loo_logsumexp",
    "one_hot",
    "pick",
    "log_ndtr",
    "log_ndtr_diff",
    "split_log_ndtr",
    "inv_mills",
    "inv_mills_split",
    "inv_mills_curv",
    "stop_gradient",
    "errstate",
]

REDUCTIONS = ("mean", "sum", "none")

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def errstate():
    """numpy floating-point warnings off (log(0) = -inf is intended); harmless for other arrays."""
    return np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore")


# ---------------------------------------------------------------------------------------------
# Namespaces and input checks.


def _to_array(x, name: str):
    if aac.is_array_api_obj(x):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _concrete(value):
    """``bool(value)``, or None where it cannot be known (a traced jax array under jit)."""
    try:
        return bool(value)
    except TypeError:  # jax ConcretizationTypeError subclasses TypeError
        return None


def _first_index(xp, cond) -> str:
    """' (first at index (i, j, ...))' for numpy-convertible arrays, else ''."""
    try:
        idx = np.argwhere(np.asarray(cond))
    except Exception:  # noqa: BLE001 - e.g. a GPU tensor; the location is only a courtesy
        return ""
    if idx.size == 0:
        return ""
    return f" (first at index {tuple(int(i) for i in idx[0])})"


def _check_finite(xp, x, name: str) -> None:
    bad = ~xp.isfinite(x)
    if _concrete(xp.any(bad)):
        raise ValueError(f"{name} contains NaN or infinite values{_first_index(xp, bad)}")


def _work_dtype(xp, dtype):
    """float32/float64 stay; float16/bfloat16 are computed in float32; anything else in float64."""
    if dtype == xp.float32 or dtype == xp.float64:
        return dtype
    if xp.isdtype(dtype, "real floating"):
        return xp.float32
    return xp.float64


def as_logits(logits, name: str = "logits", *, min_ndim: int = 1, min_classes: int = 1):
    """Return ``(xp, x, out_dtype)``: the namespace, `logits` as a finite float array, and the
    floating dtype results are cast back to (float16 stays float16 on output)."""
    logits = _to_array(logits, name)
    xp = aac.array_namespace(logits)
    dtype = logits.dtype
    if not (xp.isdtype(dtype, "real floating") or xp.isdtype(dtype, "integral")):
        raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")
    if logits.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {tuple(logits.shape)}"
        )
    shape = tuple(logits.shape)
    if shape[-1] < min_classes:
        raise ValueError(
            f"{name} must have at least {min_classes} classes on its last axis, got shape {shape}"
        )
    if math.prod(shape) == 0:
        raise ValueError(f"{name} is empty: it has shape {shape}")
    out_dtype = dtype if xp.isdtype(dtype, "real floating") else xp.float64
    x = xp.astype(logits, _work_dtype(xp, dtype))
    _check_finite(xp, x, name)
    return xp, x, out_dtype


def _same_namespace(xp, like, x, name: str):
    """`x` as an array of `xp` on the device of `like`."""
    x = _to_array(x, name)
    if aac.array_namespace(x) is not xp:
        try:
            x = xp.asarray(np.asarray(x), device=aac.device(like))
        except Exception as exc:  # noqa: BLE001
            raise TypeError(
                f"{name} is a {type(x).__name__}, which cannot be converted to the "
                f"array type of the logits ({type(like).__name__})"
            ) from exc
    return x


def as_labels(xp, like, labels, n_classes: int, *, shape, name: str = "labels"):
    """Integer class labels of exactly `shape`, each in ``[0, n_classes)``, as int64."""
    labels = _same_namespace(xp, like, labels, name)
    if not xp.isdtype(labels.dtype, "integral"):
        raise TypeError(f"{name} must be integer class indices, got dtype {labels.dtype}")
    if tuple(labels.shape) != tuple(shape):
        raise ValueError(
            f"{name} must have shape {tuple(shape)} (the logits' shape without its "
            f"class axis), got {tuple(labels.shape)}"
        )
    bad = (labels < 0) | (labels >= n_classes)
    if _concrete(xp.any(bad)):
        raise ValueError(
            f"{name} must lie in [0, {n_classes - 1}] ({n_classes} classes); some "
            f"are out of range{_first_index(xp, bad)}"
        )
    return xp.astype(labels, xp.int64)


def as_targets(xp, like, targets, *, name: str = "targets"):
    """Finite targets in [0, 1] of exactly the logits' shape, in the logits' dtype."""
    targets = _same_namespace(xp, like, targets, name)
    if not (
        xp.isdtype(targets.dtype, "real floating")
        or xp.isdtype(targets.dtype, "integral")
        or xp.isdtype(targets.dtype, "bool")
    ):
        raise TypeError(f"{name} must hold real numbers in [0, 1], got dtype {targets.dtype}")
    if tuple(targets.shape) != tuple(like.shape):
        raise ValueError(
            f"{name} must have the logits' shape {tuple(like.shape)}, got {tuple(targets.shape)}"
        )
    t = xp.astype(targets, like.dtype)
    _check_finite(xp, t, name)
    bad = (t < 0) | (t > 1)
    if _concrete(xp.any(bad)):
        raise ValueError(f"{name} must lie in [0, 1]{_first_index(xp, bad)}")
    return t


def as_mask(xp, like, mask, shape, *, name: str = "mask"):
    """None, or a boolean array broadcast to `shape` (True = keep). Numeric masks must be 0/1."""
    if mask is None:
        return None
    mask = _same_namespace(xp, like, mask, name)
    if not xp.isdtype(mask.dtype, "bool"):
        if not (xp.isdtype(mask.dtype, "integral") or xp.isdtype(mask.dtype, "real floating")):
            raise TypeError(f"{name} must be boolean (True = keep), got dtype {mask.dtype}")
        bad = (mask != 0) & (mask != 1)
        if _concrete(xp.any(bad)):
            raise ValueError(f"{name} must be boolean or hold only 0 and 1{_first_index(xp, bad)}")
        mask = mask != 0
    try:
        mask = xp.broadcast_to(mask, tuple(shape))
    except (ValueError, RuntimeError) as exc:
        raise ValueError(
            f"{name} of shape {tuple(mask.shape)} does not broadcast to {tuple(shape)}"
        ) from exc
    return mask


def check_positive(value, name: str) -> float:
    """A finite real Python number > 0."""
    value = check_real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def check_reduction(reduction) -> str:
    return check_choice(reduction, "reduction", REDUCTIONS)


def reduce(xp, values, reduction: str):
    """Apply a reduction over all axes of per-example `values`."""
    if reduction == "none":
        return values
    total = xp.sum(values)
    if reduction == "sum":
        return total
    return total / math.prod(values.shape)


def grad_scale(values_shape, reduction: str) -> float:
    """Factor turning per-example gradients into the gradient of the reduced value."""
    return 1.0 / math.prod(values_shape) if reduction == "mean" else 1.0


def finish(xp, value, out_dtype):
    return xp.astype(value, out_dtype) if value.dtype != out_dtype else value


def output(xp, per_example, grad, out_dtype, reduction: str, return_grad: bool):
    """The reduced value in `out_dtype`, and with `return_grad` the gradient of that value (the
    per-example gradients `grad` scaled for the reduction)."""
    value = finish(xp, reduce(xp, per_example, reduction), out_dtype)
    if not return_grad:
        return value
    grad = grad * grad_scale(per_example.shape, reduction)
    return value, finish(xp, grad, out_dtype)


# ---------------------------------------------------------------------------------------------
# Stable log-sum-exp variants.


def _safe_shift(xp, m):
    """Replace -inf (all entries masked) by 0 so that x - m never computes -inf - (-inf)."""
    return xp.where(xp.isfinite(m), m, xp.zeros_like(m))


def logsumexp(xp, x, axis: int = -1, keepdims: bool = False):
    """log(sum(exp(x))) along `axis`; -inf entries allowed (all -inf gives -inf)."""
    m = _safe_shift(xp, xp.max(x, axis=axis, keepdims=True))
    s = xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
    out = m + xp.log(s)
    return out if keepdims else xp.squeeze(out, axis=axis)


def lse0(xp, x, axis: int = -1):
    """log(1 + sum(exp(x))) along `axis`: log-sum-exp with an implicit extra logit 0.

    The shift ``m = max(0, max(x))`` is always finite, so -inf entries (excluded terms) and
    logits of any size stay finite.
    """
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.maximum(m, xp.zeros_like(m))  # max(-inf, 0) = 0: finite whatever is masked
    s = xp.exp(-m) + xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
    return xp.squeeze(m + xp.log(s), axis=axis)


def loo_logsumexp(xp, x):
    """Leave-one-out log-sum-exp on the last axis: ``out[..., j] = log sum_{k != j} e^{x[..., k]}``.

    O(m) and without catastrophic cancellation: for j other than the arg-max the subtracted term
    is at most the arg-max term, so the remaining sum is at least 1 after the shift; for the
    arg-max itself the sum is taken directly over the other entries. -inf entries are allowed; a
    single entry gives -inf.
    """
    cls = xp.arange(x.shape[-1], device=aac.device(x))
    is_top = cls == xp.argmax(x, axis=-1, keepdims=True)
    m1 = _safe_shift(xp, xp.max(x, axis=-1, keepdims=True))
    e = xp.exp(x - m1)
    s = xp.sum(e, axis=-1, keepdims=True)
    rest = xp.where(is_top, xp.ones_like(x), s - e)
    others = m1 + xp.log(xp.maximum(rest, xp.zeros_like(rest)))
    at_top = logsumexp(xp, xp.where(is_top, xp.full_like(x, -math.inf), x), keepdims=True)
    return xp.where(is_top, at_top, others)


def one_hot(xp, labels, n_classes: int, like):
    """Boolean (..., n_classes) array, True at each label."""
    return xp.arange(n_classes, device=aac.device(like)) == labels[..., None]


def pick(xp, x, hot):
    """``x[..., label]`` as shape (..., 1), given the boolean one-hot `hot` (no gather needed)."""
    return xp.sum(xp.where(hot, x, xp.zeros_like(x)), axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Normal distribution: log Phi and the inverse Mills ratio phi/Phi.

# Numerical Recipes `erfcc` (Chebyshev fit): erfc(z) = t exp(-z^2 + P(t)), t = 1/(1 + z/2),
# fractional error < 1.2e-7 for every z >= 0. Written as log erfc it has no underflow.
_ERFCC = (
    -1.26551223,
    1.00002368,
    0.37409196,
    0.09678418,
    -0.18628806,
    0.27886807,
    -1.13520398,
    1.48851587,
    -0.82215223,
    0.17087277,
)


def _log_erfc_fallback(xp, z):
    """log erfc(z) for z >= 0 with pure array-API functions (relative error of erfc < 1.2e-7)."""
    t = 1.0 / (1.0 + 0.5 * z)
    poly = xp.zeros_like(z) + _ERFCC[-1]
    for c in _ERFCC[-2::-1]:
        poly = poly * t + c
    return xp.log(t) - z * z + poly


def _log_ndtr_fallback(xp, x):
    z = xp.abs(x) / math.sqrt(2.0)
    log_half_erfc = _log_erfc_fallback(xp, z) - math.log(2.0)  # log Phi(-|x|)
    return xp.where(x < 0, log_half_erfc, xp.log1p(-xp.exp(log_half_erfc)))


def _lib_log_ndtr(xp, x):
    """log Phi(x) from the array library's own special function (see :func:`log_ndtr`)."""
    if aac.is_numpy_namespace(xp):
        import scipy.special

        return xp.asarray(scipy.special.log_ndtr(x), dtype=x.dtype)
    if aac.is_torch_namespace(xp):
        import torch

        return torch.special.log_ndtr(x)
    if aac.is_jax_namespace(xp):
        import jax.scipy.special

        return jax.scipy.special.log_ndtr(x)
    if aac.is_cupy_namespace(xp):  # pragma: no cover - no GPU in the tests
        import cupyx.scipy.special

        return cupyx.scipy.special.log_ndtr(x)
    return _log_ndtr_fallback(xp, x)


# Below this argument the normal tail is written as phi(z) * R(-z) with Laplace's continued
# fraction for the Mills ratio R, so log Phi splits into -z^2/2 (exact) plus a small remainder.
_TAIL = -8.0
_CF_TERMS = 16


def _mills_frac(xp, x):
    """The remainder ``1/(x + 2/(x + 3/(x + ...)))`` (16 terms) of :func:`_mills_cf`."""
    frac = xp.zeros_like(x)
    for k in range(_CF_TERMS, 0, -1):
        frac = k / (x + frac)
    return frac


def _mills_cf(xp, x):
    """phi(x) / Phi(-x) = 1 / R(x) for x >= 8: ``x + 1/(x + 2/(x + 3/(x + ...)))``, 16 terms
    (relative error below 1e-15 for x >= 8)."""
    return x + _mills_frac(xp, x)


def _tail_or_body(xp, z, tail, body):
    """``tail(-z)`` where z < -8, else ``body(z)``.

    Nothing in the tail (the usual case, whenever it can be known: not under a jax trace): only
    ``body``. Otherwise numpy and torch (whose autograd goes through masked assignment) evaluate
    each side only on its own entries, and other namespaces both sides on clamped arguments, so
    that neither produces inf or NaN (which would poison autograd through ``where``).
    """
    low = z < _TAIL
    if _concrete(xp.any(low)) is False:  # nothing in the tail (known unless traced under jit)
        return body(z)
    if aac.is_numpy_namespace(xp) or aac.is_torch_namespace(xp):
        out = xp.empty_like(z)
        out[low] = tail(-z[low])
        high = ~low
        out[high] = body(z[high])
        return out
    x = xp.where(low, -z, xp.full_like(z, -_TAIL))
    zc = xp.where(low, xp.full_like(z, _TAIL), z)
    return xp.where(low, tail(x), body(zc))


def split_log_ndtr(xp, z):
    """``(q, r)`` with ``log Phi(z) = r - q``: q = z^2/2 below -8 (else 0), r of moderate size.

    Differences of log Phi at nearby arguments can then be formed without subtracting two huge
    numbers (see :func:`log_ndtr_diff`).
    """
    q = xp.where(z < _TAIL, 0.5 * z * z, xp.zeros_like(z))
    r = _tail_or_body(
        xp,
        z,
        lambda x: -_LOG_SQRT_2PI - xp.log(_mills_cf(xp, x)),
        lambda zc: _lib_log_ndtr(xp, zc),
    )
    return q, r


def log_ndtr(xp, x):
    """log Phi(x), accurate in both tails and with an accurate autograd derivative.

    Above -8 the array library's own function: numpy ``scipy.special.log_ndtr``, torch
    ``torch.special.log_ndtr``, jax ``jax.scipy.special.log_ndtr``, cupy
    ``cupyx.scipy.special.log_ndtr``; any other namespace a pure array-API formula from the
    Numerical Recipes ``erfcc`` fit (relative error of Phi below 1.2e-7). Below -8
    ``-x^2/2 - log(sqrt(2 pi)) - log(x' + 1/(x' + 2/(x' + ...)))`` with x' = -x, whose
    derivative autograd evaluates without the cancellation of ``exp(log phi - log Phi)``.
    """
    q, r = split_log_ndtr(xp, x)
    return r - q


def log_ndtr_diff(xp, z, d, split_w=None):
    """``log Phi(z + d) - log Phi(z)`` without cancellation when z and z + d are far in the tail.

    With both arguments below -8 the quadratic parts differ by exactly ``d * (z + d/2)``.
    `split_w` may pass :func:`split_log_ndtr` of ``z + d`` when the caller already has it.
    """
    qz, rz = split_log_ndtr(xp, z)
    w = z + d
    qw, rw = split_log_ndtr(xp, w) if split_w is None else split_w
    both = (z < _TAIL) & (w < _TAIL)
    dq = xp.where(both, d * (z + 0.5 * d), qw - qz)
    return (rw - rz) - dq


def inv_mills_split(xp, z, q, r):
    """:func:`inv_mills` from ``(q, r) = split_log_ndtr(z)``: ``exp(q - z^2/2 - log sqrt(2 pi) -
    r)``, where ``q - z^2/2`` is exactly 0 in the tail (so this is the continued fraction there)."""
    return xp.exp((q - 0.5 * z * z) - _LOG_SQRT_2PI - r)


def inv_mills(xp, z):
    """Inverse Mills ratio lambda(z) = phi(z) / Phi(z), the derivative of log Phi, for any z.

    Below -8 Laplace's continued fraction (relative error below 1e-15); otherwise
    ``exp(log phi - log Phi)``, whose cancellation is harmless there.
    """
    return _tail_or_body(
        xp,
        z,
        lambda x: _mills_cf(xp, x),
        lambda zc: xp.exp(-0.5 * zc * zc - _LOG_SQRT_2PI - _lib_log_ndtr(xp, zc)),
    )


def inv_mills_curv(xp, z):
    """``lambda(z)`` and ``-lambda'(z) = lambda(z) (z + lambda(z))`` (in (0, 1), clamped there).

    Below -8 ``z + lambda(z)`` is the continued fraction's remainder itself: as a difference it
    would cancel completely far in the tail (1e-9 next to 1e9 at z = -1e9), which once made the
    Newton curvature of EXACT wrong (and, with a rounding error of the other sign, positive).
    """
    lam = inv_mills(xp, z)
    rest = _tail_or_body(
        xp,
        z,
        lambda x: _mills_frac(xp, x),
        lambda zc: zc + xp.exp(-0.5 * zc * zc - _LOG_SQRT_2PI - _lib_log_ndtr(xp, zc)),
    )
    zero = xp.zeros_like(z)
    return lam, xp.minimum(xp.maximum(lam * rest, zero), zero + 1.0)


def stop_gradient(xp, x):
    """`x` without autograd history (torch ``detach``, jax ``stop_gradient``); numpy as is."""
    if aac.is_torch_namespace(xp):
        return x.detach()
    if aac.is_jax_namespace(xp):
        import jax

        return jax.lax.stop_gradient(x)
    return x
