"""Noise processes of denoising diffusion with exact closed forms.

Every process here is linear Gaussian: given data x_0, the noised state is

    x_t = s(t) x_0 + sigma(t) n,    n ~ N(0, I),

with mean scale ``s(t)`` and noise std ``sigma(t)``. The continuous processes are the Itô SDEs
``dx = f(t) x dt + g(t) dW`` of Song et al. (2021, arXiv 2011.13456), whose exact moments obey

    d s / dt = f(t) s,        d sigma^2 / dt = 2 f(t) sigma^2 + g(t)^2,

started at ``s = 1, sigma = 0`` when the data sit at t = 0. The signal-to-noise ratio is
``SNR(t) = s(t)^2 / sigma(t)^2`` and ``log_snr(t) = 2 log s(t) - 2 log sigma(t)`` (strictly
decreasing in t). All functions of t are vectorised: pass a float (a float comes back) or an
array (an array of the same shape comes back). Times outside ``[t_min, t_max]`` raise ValueError.

:class:`DiscreteDDPM` is the discrete chain of Ho et al. (2020) with the same ``s``/``sigma``/
``log_snr`` interface over integer time indices.
"""

from __future__ import annotations

import abc
import math
from typing import Tuple

import numpy as np


def _as_real_array(value, name: str) -> Tuple[np.ndarray, bool]:
    """float64 array of finite values and whether the input was a scalar."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        first = arr[~np.isfinite(arr)].ravel()[0]
        raise ValueError(f"{name} contains NaN or infinite values (e.g. {first})")
    return arr, arr.ndim == 0


def _out(arr: np.ndarray, scalar: bool):
    return float(arr) if scalar else arr


def _first_bad(arr: np.ndarray, bad: np.ndarray) -> float:
    return float(np.asarray(arr)[bad].ravel()[0])


class NoiseProcess(abc.ABC):
    """Base class of the continuous-time processes ``dx = f(t) x dt + g(t) dW``.

    Subclasses provide the closed forms on float64 arrays of valid times; this class checks the
    times, vectorises, and derives the shared methods.
    """

    # ---- closed forms supplied by subclasses (unchecked, float64 arrays) ----
    @property
    @abc.abstractmethod
    def t_min(self) -> float:
        """Smallest valid time."""

    @property
    @abc.abstractmethod
    def t_max(self) -> float:
        """Largest valid time (the terminal time T)."""

    @property
    @abc.abstractmethod
    def prior_std(self) -> float:
        """Standard deviation of the isotropic Gaussian prior at ``t_max``."""

    @abc.abstractmethod
    def _s(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _sigma(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _log_snr(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _f_coef(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _g2(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _t_from_sigma(self, sigma: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _t_from_log_snr(self, lam: np.ndarray) -> np.ndarray: ...

    # ---- checked, vectorised public API ----
    def check_t(self, t, name: str = "t") -> Tuple[np.ndarray, bool]:
        """Return `t` as a float64 array (and whether it was a scalar); raise if outside the domain.

        Raises
        ------
        ValueError
            If a time is NaN, infinite or outside ``[t_min, t_max]``.
        """
        arr, scalar = _as_real_array(t, name)
        bad = (arr < self.t_min) | (arr > self.t_max)
        if bad.any():
            raise ValueError(
                f"{name}={_first_bad(arr, bad)!r} is outside the domain "
                f"[t_min, t_max] = [{self.t_min}, {self.t_max}] of {type(self).__name__}"
            )
        return arr, scalar

    def s(self, t):
        """Mean scale s(t): E[x_t | x_0] = s(t) x_0."""
        arr, scalar = self.check_t(t)
        return _out(self._s(arr), scalar)

    def sigma(self, t):
        """Noise std sigma(t) of x_t given x_0 (exact transition std from the data at t = 0)."""
        arr, scalar = self.check_t(t)
        return _out(self._sigma(arr), scalar)

    def log_snr(self, t):
        """Log signal-to-noise ratio ``log(s(t)^2 / sigma(t)^2)``; strictly decreasing in t."""
        arr, scalar = self.check_t(t)
        with np.errstate(divide="ignore"):
            return _out(self._log_snr(arr), scalar)

    def g(self, t):
        """Diffusion coefficient g(t) of the forward SDE."""
        arr, scalar = self.check_t(t)
        return _out(np.sqrt(self._g2(arr)), scalar)

    def f(self, x, t):
        """Drift f(x, t) = f(t) x of the forward SDE.

        Parameters
        ----------
        x : array_like, shape (B, ...)
            States; the first axis is the batch axis.
        t : float or array_like of shape (B,)
            One time for all samples, or one per sample.
        """
        x = _as_state(x, "x")
        arr, _ = self.check_t(t)
        return _per_sample(self._f_coef(arr), x, "t") * x

    def _inverse(self, value, name: str, fn, forward) -> object:
        arr, scalar = _as_real_array(value, name)
        with np.errstate(all="ignore"):
            t = np.asarray(fn(arr), dtype=np.float64)
        lo, hi = self.t_min, self.t_max
        tol_lo, tol_hi = 1e-9 * abs(lo), 1e-9 * abs(hi)
        bad = ~np.isfinite(t) | (t < lo - tol_lo) | (t > hi + tol_hi)
        if bad.any():
            with np.errstate(divide="ignore"):
                a, b = forward(np.array(lo)), forward(np.array(hi))
            raise ValueError(
                f"{name}={_first_bad(arr, bad)!r} is outside the range [{min(a, b)}, {max(a, b)}] "
                f"that {type(self).__name__} reaches on its domain t in [{lo}, {hi}]"
            )
        return _out(np.clip(t, lo, hi), scalar)

    def t_from_sigma(self, sigma):
        """Inverse of :meth:`sigma`: the time at which the noise std equals `sigma`.

        Raises ValueError for values that no time in the domain reaches.
        """
        return self._inverse(sigma, "sigma", self._t_from_sigma, self._sigma)

    def t_from_log_snr(self, lam):
        """Inverse of :meth:`log_snr`. Raises ValueError for values outside its range."""
        return self._inverse(lam, "lam", self._t_from_log_snr, self._log_snr)

    def prior_sample(self, shape, rng=None) -> np.ndarray:
        """Draw from the prior N(0, prior_std^2 I) at ``t_max``.

        Parameters
        ----------
        shape : int or tuple of int
            Output shape, batch axis first.
        rng : numpy.random.Generator, int or None
            Generator or seed (passed to :func:`numpy.random.default_rng`).
        """
        rng = np.random.default_rng(rng)
        return self.prior_std * rng.standard_normal(shape)

    def prior_logp(self, x) -> np.ndarray:
        """Log-density of each sample under the prior; x has shape (B, ...), result shape (B,)."""
        x = _as_state(x, "x").astype(np.float64)
        flat = x.reshape(x.shape[0], -1)
        d = flat.shape[1]
        var = self.prior_std**2
        return -0.5 * (flat * flat).sum(axis=1) / var - 0.5 * d * math.log(2.0 * math.pi * var)


def _as_state(x, name: str) -> np.ndarray:
    """A finite float array with a leading batch axis (float32 kept, other input float64)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a leading batch axis, got a scalar")
    dtype = np.float32 if arr.dtype in (np.float32, np.float16) else np.float64
    arr = arr.astype(dtype, copy=False)
    if not np.isfinite(arr).all():
        first = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} contains NaN or infinite values (first at sample {first[0]}, "
            f"index {tuple(int(i) for i in first)})"
        )
    return arr


def _per_sample(values: np.ndarray, x: np.ndarray, name: str) -> np.ndarray:
    """Per-time values reshaped to broadcast over x (B, ...); scalar values stay scalar."""
    values = np.asarray(values)
    if values.ndim == 0:
        return values.astype(x.dtype)
    if values.ndim != 1 or values.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name} has shape {values.shape} but the batch has {x.shape[0]} samples "
            f"(x has shape {x.shape}); pass one time or one per sample"
        )
    return values.reshape((-1,) + (1,) * (x.ndim - 1)).astype(x.dtype)
