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
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np
from scipy.special import expit

from .._validate import check_int, check_real

__all__ = [
    "NoiseProcess",
    "VP",
    "VPCosine",
    "SubVP",
    "VE",
    "EDM",
    "DiscreteDDPM",
    "check_betas",
]


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


class _LinearBeta(NoiseProcess):
    """Shared linear schedule beta(t) = beta_min + t (beta_max - beta_min) on [eps, 1]."""

    beta_min: float
    beta_max: float
    eps: float

    def _check_params(self):
        object.__setattr__(self, "beta_min", check_real(self.beta_min, "beta_min", low=0.0))
        beta_max = check_real(self.beta_max, "beta_max", low=0.0, low_open=True)
        object.__setattr__(self, "beta_max", beta_max)
        if self.beta_max < self.beta_min:
            raise ValueError(f"beta_max={self.beta_max} must be at least beta_min={self.beta_min}")
        object.__setattr__(
            self, "eps", check_real(self.eps, "eps", low=0.0, high=1.0, high_open=True)
        )

    @property
    def t_min(self) -> float:
        return self.eps

    @property
    def t_max(self) -> float:
        return 1.0

    @property
    def prior_std(self) -> float:
        return 1.0

    def beta(self, t):
        """beta(t) = beta_min + t (beta_max - beta_min)."""
        arr, scalar = self.check_t(t)
        return _out(self._beta(arr), scalar)

    def _beta(self, t):
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def _B(self, t):
        """B(t) = integral of beta from 0 to t = beta_min t + (beta_max - beta_min) t^2 / 2."""
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def _t_from_B(self, B):
        """Positive root of B(t) = B, in the cancellation-free form 2B / (b0 + sqrt(...))."""
        b0, d = self.beta_min, self.beta_max - self.beta_min
        den = b0 + np.sqrt(b0 * b0 + 2.0 * d * B)
        return np.where(B == 0, 0.0, 2.0 * B / np.where(den == 0, 1.0, den))

    def _s(self, t):
        return np.exp(-0.5 * self._B(t))

    def _f_coef(self, t):
        return -0.5 * self._beta(t)


@dataclass(frozen=True)
class VP(_LinearBeta):
    """Variance-preserving SDE with a linear beta schedule (DDPM in continuous time).

    ``dx = -beta(t) x / 2 dt + sqrt(beta(t)) dW`` with ``beta(t) = beta_min + t (beta_max -
    beta_min)`` on ``[eps, 1]``. With ``B(t) = beta_min t + (beta_max - beta_min) t^2 / 2``:

    - ``s(t) = exp(-B(t) / 2)``, ``sigma(t) = sqrt(1 - s(t)^2) = sqrt(-expm1(-B(t)))``;
    - ``log_snr(t) = -log(expm1(B(t)))``, inverse ``B = log1p(exp(-lam))``;
    - ``f(x, t) = -beta(t) x / 2``, ``g(t) = sqrt(beta(t))``; prior N(0, I).

    Note that N(0, I) is not the exact p_1: s(1) = exp(-5.025) ~ 6.6e-3 with the defaults.

    Parameters
    ----------
    beta_min, beta_max : float
        ``0 <= beta_min <= beta_max``, ``beta_max > 0``.
    eps : float
        Smallest valid time ``t_min`` (default 1e-5; 0 is allowed, where sigma = 0).
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    eps: float = 1e-5

    def __post_init__(self):
        self._check_params()

    def _sigma(self, t):
        return np.sqrt(-np.expm1(-self._B(t)))

    def _log_snr(self, t):
        return -np.log(np.expm1(self._B(t)))

    def _g2(self, t):
        return self._beta(t)

    def _t_from_sigma(self, sigma):
        return self._t_from_B(-np.log1p(-sigma * sigma))

    def _t_from_log_snr(self, lam):
        return self._t_from_B(np.logaddexp(0.0, -lam))


@dataclass(frozen=True)
class SubVP(_LinearBeta):
    """Sub-variance-preserving SDE (Song et al. 2021) with the linear beta schedule of :class:`VP`.

    ``dx = -beta(t) x / 2 dt + sqrt(beta(t) (1 - exp(-2 B(t)))) dW``:

    - ``s(t) = exp(-B(t) / 2)``, ``sigma(t) = 1 - s(t)^2 = -expm1(-B(t))`` (no square root: the
      variance is ``(1 - s^2)^2``);
    - ``log_snr(t) = -B(t) - 2 log(-expm1(-B(t)))``; with ``b = exp(-lam)`` the inverse is
      ``B = log((2 + b + sqrt(b (4 + b))) / 2)``;
    - prior N(0, I).
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    eps: float = 1e-5

    def __post_init__(self):
        self._check_params()

    def _sigma(self, t):
        return -np.expm1(-self._B(t))

    def _log_snr(self, t):
        B = self._B(t)
        return -B - 2.0 * np.log(-np.expm1(-B))

    def _g2(self, t):
        return self._beta(t) * -np.expm1(-2.0 * self._B(t))

    def _t_from_sigma(self, sigma):
        return self._t_from_B(-np.log1p(-sigma))

    def _t_from_log_snr(self, lam):
        b = np.exp(-lam)
        return self._t_from_B(np.log(2.0 + b + np.sqrt(b * (4.0 + b))) - math.log(2.0))


@dataclass(frozen=True)
class VPCosine(NoiseProcess):
    """Variance-preserving process with the cosine schedule of Nichol & Dhariwal (2021).

    With ``theta(t) = (t + cosine_s) / (1 + cosine_s) * pi / 2`` and ``theta0 = theta(0)``:

    - ``s(t) = cos(theta(t)) / cos(theta0)`` (so ``alpha_bar(t) = s(t)^2``), ``sigma(t) =
      sqrt(1 - s(t)^2) = sqrt(sin(theta - theta0) sin(theta + theta0)) / cos(theta0)``;
    - ``beta(t) = -d log alpha_bar / dt = pi tan(theta(t)) / (1 + cosine_s)``,
      ``f(x, t) = -beta(t) x / 2``, ``g(t) = sqrt(beta(t))``; prior N(0, I);
    - inverses through ``theta = atan2(sqrt(sin^2 theta0 + sigma^2 cos^2 theta0),
      sqrt(1 - sigma^2) cos theta0)``.

    beta(t) diverges at t = 1, so the domain ends where ``beta(t_max) = beta_max`` (as DPM-Solver's
    ``NoiseScheduleVP("cosine")`` computes ``cosine_t_max``: t_max ~ 0.99798 with the defaults).

    Parameters
    ----------
    cosine_s : float
        The offset ``s`` of the schedule (named so to leave ``s(t)`` for the mean scale).
    beta_max : float
        beta at the terminal time; fixes ``t_max``.
    eps : float
        Smallest valid time ``t_min``.
    """

    cosine_s: float = 0.008
    beta_max: float = 999.0
    eps: float = 1e-5

    def __post_init__(self):
        object.__setattr__(self, "cosine_s", check_real(self.cosine_s, "cosine_s", low=0.0))
        beta_max = check_real(self.beta_max, "beta_max", low=0.0, low_open=True)
        object.__setattr__(self, "beta_max", beta_max)
        object.__setattr__(self, "eps", check_real(self.eps, "eps", low=0.0))
        if not self.eps < self.t_max:
            raise ValueError(
                f"eps={self.eps} must be smaller than t_max={self.t_max} (set by beta_max)"
            )
        if self._beta(np.array(0.0)) > self.beta_max:
            raise ValueError(f"beta_max={self.beta_max} is below beta(0); raise it")

    @property
    def _theta0(self) -> float:
        return self.cosine_s / (1.0 + self.cosine_s) * math.pi / 2.0

    def _theta(self, t):
        return (t + self.cosine_s) / (1.0 + self.cosine_s) * (math.pi / 2.0)

    def _t_from_theta(self, theta):
        return theta * 2.0 * (1.0 + self.cosine_s) / math.pi - self.cosine_s

    @property
    def t_min(self) -> float:
        return self.eps

    @property
    def t_max(self) -> float:
        return float(self._t_from_theta(math.atan(self.beta_max * (1.0 + self.cosine_s) / math.pi)))

    @property
    def prior_std(self) -> float:
        return 1.0

    def beta(self, t):
        """beta(t) = pi tan(theta(t)) / (1 + cosine_s)."""
        arr, scalar = self.check_t(t)
        return _out(self._beta(arr), scalar)

    def _beta(self, t):
        return math.pi * np.tan(self._theta(t)) / (1.0 + self.cosine_s)

    def _s(self, t):
        return np.cos(self._theta(t)) / math.cos(self._theta0)

    def _var_num(self, t):
        th, th0 = self._theta(t), self._theta0
        return np.sin(th - th0) * np.sin(th + th0)

    def _sigma(self, t):
        return np.sqrt(self._var_num(t)) / math.cos(self._theta0)

    def _log_snr(self, t):
        return 2.0 * np.log(np.cos(self._theta(t))) - np.log(self._var_num(t))

    def _f_coef(self, t):
        return -0.5 * self._beta(t)

    def _g2(self, t):
        return self._beta(t)

    def _t_from_var(self, one_minus_ab, ab):
        c0, s0 = math.cos(self._theta0), math.sin(self._theta0)
        theta = np.arctan2(np.sqrt(s0 * s0 + one_minus_ab * c0 * c0), np.sqrt(ab) * c0)
        return self._t_from_theta(theta)

    def _t_from_sigma(self, sigma):
        return self._t_from_var(sigma * sigma, 1.0 - sigma * sigma)

    def _t_from_log_snr(self, lam):
        return self._t_from_var(expit(-lam), expit(lam))


@dataclass(frozen=True)
class VE(NoiseProcess):
    """Variance-exploding SDE (SMLD in continuous time) on ``[eps, 1]``.

    With the geometric noise level ``sigma_geo(t) = sigma_min (sigma_max / sigma_min)^t`` and
    ``r = log(sigma_max / sigma_min)``:

    - ``f = 0``, ``g(t) = sigma_geo(t) sqrt(2 r)`` (so ``g^2 = d sigma_geo^2 / dt``), ``s(t) = 1``;
    - ``sigma(t)`` is the **exact** transition std from the data at t = 0:
      ``sigma(t)^2 = sigma_geo(t)^2 - sigma_min^2 = sigma_min^2 expm1(2 r t)``. (score_sde's
      ``marginal_prob`` returns ``sigma_geo(t)``, which ignores ``sigma_min^2``; see
      :meth:`sigma_geometric`.)
    - ``log_snr(t) = -2 log sigma(t)``; ``t_from_sigma(sigma) = log1p((sigma / sigma_min)^2) /
      (2 r)``;
    - prior N(0, sigma_max^2 I), as in score_sde.
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0
    eps: float = 1e-5

    def __post_init__(self):
        object.__setattr__(
            self, "sigma_min", check_real(self.sigma_min, "sigma_min", low=0.0, low_open=True)
        )
        object.__setattr__(self, "sigma_max", check_real(self.sigma_max, "sigma_max"))
        if not self.sigma_max > self.sigma_min:
            raise ValueError(
                f"sigma_max={self.sigma_max} must be larger than sigma_min={self.sigma_min}"
            )
        object.__setattr__(
            self, "eps", check_real(self.eps, "eps", low=0.0, high=1.0, high_open=True)
        )

    @property
    def _r(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    @property
    def t_min(self) -> float:
        return self.eps

    @property
    def t_max(self) -> float:
        return 1.0

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    def sigma_geometric(self, t):
        """The geometric noise level sigma_min (sigma_max / sigma_min)^t (not the exact std)."""
        arr, scalar = self.check_t(t)
        return _out(self.sigma_min * np.exp(self._r * arr), scalar)

    def _s(self, t):
        return np.ones_like(t)

    def _sigma(self, t):
        return self.sigma_min * np.sqrt(np.expm1(2.0 * self._r * t))

    def _log_snr(self, t):
        return -2.0 * math.log(self.sigma_min) - np.log(np.expm1(2.0 * self._r * t))

    def _f_coef(self, t):
        return np.zeros_like(t)

    def _g2(self, t):
        return 2.0 * self._r * (self.sigma_min * np.exp(self._r * t)) ** 2

    def _t_from_sigma(self, sigma):
        return np.log1p((sigma / self.sigma_min) ** 2) / (2.0 * self._r)

    def _t_from_log_snr(self, lam):
        return np.logaddexp(0.0, -lam - 2.0 * math.log(self.sigma_min)) / (2.0 * self._r)


@dataclass(frozen=True)
class EDM(NoiseProcess):
    """The sigma form of Karras et al. (2022): time is the noise level, ``x_t = x_0 + t n``.

    - ``s(t) = 1``, ``sigma(t) = t`` on ``[sigma_min, sigma_max]``;
    - ``f = 0``, ``g(t) = sqrt(2 t)`` (``g^2 = d sigma^2 / dt``);
    - ``log_snr(t) = -2 log t``, inverse ``t = exp(-lam / 2)``; prior N(0, sigma_max^2 I).
    """

    sigma_min: float = 0.002
    sigma_max: float = 80.0

    def __post_init__(self):
        object.__setattr__(
            self, "sigma_min", check_real(self.sigma_min, "sigma_min", low=0.0, low_open=True)
        )
        object.__setattr__(self, "sigma_max", check_real(self.sigma_max, "sigma_max"))
        if not self.sigma_max > self.sigma_min:
            raise ValueError(
                f"sigma_max={self.sigma_max} must be larger than sigma_min={self.sigma_min}"
            )

    @property
    def t_min(self) -> float:
        return self.sigma_min

    @property
    def t_max(self) -> float:
        return self.sigma_max

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    def _s(self, t):
        return np.ones_like(t)

    def _sigma(self, t):
        return np.array(t, dtype=np.float64, copy=True)

    def _log_snr(self, t):
        return -2.0 * np.log(t)

    def _f_coef(self, t):
        return np.zeros_like(t)

    def _g2(self, t):
        return 2.0 * t

    def _t_from_sigma(self, sigma):
        return np.array(sigma, dtype=np.float64, copy=True)

    def _t_from_log_snr(self, lam):
        return np.exp(-0.5 * lam)


def check_betas(betas, name: str = "betas") -> np.ndarray:
    """Return a read-only 1-D float64 copy of a beta schedule with every ``0 < beta < 1``, or raise.

    Raises
    ------
    ValueError
        If the array is not 1-D, is empty, holds NaN/inf, or a beta is not in (0, 1).
    """
    arr = np.asarray(betas)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    arr = np.array(arr, dtype=np.float64, copy=True)
    if not np.isfinite(arr).all():
        i = int(np.argmax(~np.isfinite(arr)))
        raise ValueError(f"{name} contains NaN or infinite values ({name}[{i}] = {arr[i]})")
    if (arr <= 0).any():
        i = int(np.argmax(arr <= 0))
        raise ValueError(f"{name} must be positive; {name}[{i}] = {arr[i]}")
    if (arr >= 1).any():
        i = int(np.argmax(arr >= 1))
        raise ValueError(f"{name} must be smaller than 1; {name}[{i}] = {arr[i]}")
    arr.setflags(write=False)
    return arr


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class DiscreteDDPM:
    """The discrete DDPM chain of Ho et al. (2020): ``x_t = sqrt(1 - beta_t) x_{t-1} +
    sqrt(beta_t) n_t``.

    Time indices are 0-based, ``t in {0, ..., T - 1}`` (the convention of the reference code and
    diffusers): index t is noised by ``beta_0 .. beta_t``, so

    - ``alpha_bar[t] = prod_{k <= t} (1 - beta_k)``, ``s(t) = sqrt(alpha_bar[t])``,
      ``sigma(t) = sqrt(1 - alpha_bar[t])``, ``log_snr(t) = log(alpha_bar / (1 - alpha_bar))``;
    - ``alpha_bar_prev[t] = alpha_bar[t - 1]`` with ``alpha_bar_prev[0] = 1`` (the "previous"
      state of index 0 is the data itself);
    - posterior q(x_{t-1} | x_t, x_0) = N(coef1 x_0 + coef2 x_t, beta_tilde_t) with
      ``coef1 = sqrt(alpha_bar_prev) beta / (1 - alpha_bar)``, ``coef2 = sqrt(alpha) (1 -
      alpha_bar_prev) / (1 - alpha_bar)``, ``beta_tilde = beta (1 - alpha_bar_prev) / (1 -
      alpha_bar)`` (``beta_tilde[0] = 0``).

    Parameters
    ----------
    betas : array_like of shape (T,), optional
        The schedule, each in (0, 1). Default: ``linspace(beta_start, beta_end, T)``.
    T : int, optional
        Number of steps (default 1000). With `betas` given it must equal ``len(betas)`` if passed.
    beta_start, beta_end : float
        Ends of the default linear schedule (1e-4 and 0.02).
    """

    betas: Optional[np.ndarray] = field(default=None, repr=False)
    T: Optional[int] = None
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self):
        if self.betas is None:
            T = 1000 if self.T is None else check_int(self.T, "T", low=1)
            start = check_real(
                self.beta_start, "beta_start", low=0.0, low_open=True, high=1.0, high_open=True
            )
            end = check_real(
                self.beta_end, "beta_end", low=0.0, low_open=True, high=1.0, high_open=True
            )
            betas = check_betas(np.linspace(start, end, T))
        else:
            betas = check_betas(self.betas)
            if self.T is not None and check_int(self.T, "T", low=1) != betas.shape[0]:
                raise ValueError(f"T={self.T} but betas has {betas.shape[0]} entries")
            T = betas.shape[0]
        object.__setattr__(self, "betas", betas)
        object.__setattr__(self, "T", T)
        log_ab = np.cumsum(np.log1p(-betas))
        ab = np.exp(log_ab)
        one_minus_ab = -np.expm1(log_ab)
        ab_prev = np.concatenate([[1.0], ab[:-1]])
        one_minus_prev = np.concatenate([[0.0], one_minus_ab[:-1]])
        var = betas * one_minus_prev / one_minus_ab
        object.__setattr__(self, "_ab", _readonly(ab))
        object.__setattr__(self, "_one_minus_ab", _readonly(one_minus_ab))
        object.__setattr__(self, "_ab_prev", _readonly(ab_prev))
        object.__setattr__(self, "_var", _readonly(var))
        object.__setattr__(self, "_coef1", _readonly(np.sqrt(ab_prev) * betas / one_minus_ab))
        object.__setattr__(
            self, "_coef2", _readonly(np.sqrt(1.0 - betas) * one_minus_prev / one_minus_ab)
        )

    @property
    def t_min(self) -> int:
        """First index, 0."""
        return 0

    @property
    def t_max(self) -> int:
        """Last index, T - 1."""
        return self.T - 1

    @property
    def prior_std(self) -> float:
        """The prior is N(0, I)."""
        return 1.0

    @property
    def alphas(self) -> np.ndarray:
        """1 - betas."""
        return _readonly(1.0 - self.betas)

    @property
    def alpha_bar(self) -> np.ndarray:
        """Cumulative products prod_{k <= t} (1 - beta_k), shape (T,)."""
        return self._ab

    @property
    def alpha_bar_prev(self) -> np.ndarray:
        """alpha_bar shifted right with 1 in front, shape (T,)."""
        return self._ab_prev

    @property
    def one_minus_alpha_bar(self) -> np.ndarray:
        """1 - alpha_bar, computed without cancellation."""
        return self._one_minus_ab

    @property
    def posterior_variance(self) -> np.ndarray:
        """beta_tilde_t = beta_t (1 - alpha_bar_prev) / (1 - alpha_bar); 0 at t = 0."""
        return self._var

    @property
    def posterior_log_variance_clipped(self) -> np.ndarray:
        """log beta_tilde with the t = 0 entry replaced by log beta_tilde_1 (as the reference)."""
        v = self._var
        first = v[1] if self.T > 1 else self.betas[0]
        return _readonly(np.log(np.concatenate([[first], v[1:]])))

    @property
    def posterior_mean_coef1(self) -> np.ndarray:
        """Coefficient of x_0 in the posterior mean."""
        return self._coef1

    @property
    def posterior_mean_coef2(self) -> np.ndarray:
        """Coefficient of x_t in the posterior mean."""
        return self._coef2

    def check_t(self, t, name: str = "t") -> Tuple[np.ndarray, bool]:
        """`t` as an int64 index array (and whether it was a scalar); raise unless in [0, T-1].

        Float input is accepted when it holds whole numbers.
        """
        arr = np.asarray(t)
        if arr.dtype.kind not in "biuf" or arr.dtype.kind == "b":
            raise TypeError(f"{name} must hold integer time indices, got dtype {arr.dtype}")
        if arr.dtype.kind == "f":
            if not np.isfinite(arr).all():
                raise ValueError(f"{name} contains NaN or infinite values")
            if (arr != np.round(arr)).any():
                bad = arr != np.round(arr)
                raise ValueError(
                    f"{name}={_first_bad(arr, bad)!r} is not a whole number; DiscreteDDPM "
                    "times are integer indices"
                )
        bad = (arr < 0) | (arr > self.T - 1)
        if bad.any():
            raise ValueError(
                f"{name}={_first_bad(arr, bad)!r} is outside the domain [0, {self.T - 1}] of "
                f"DiscreteDDPM(T={self.T})"
            )
        return arr.astype(np.int64), arr.ndim == 0

    def s(self, t):
        """sqrt(alpha_bar[t])."""
        idx, scalar = self.check_t(t)
        return _out(np.sqrt(self._ab[idx]), scalar)

    def sigma(self, t):
        """sqrt(1 - alpha_bar[t])."""
        idx, scalar = self.check_t(t)
        return _out(np.sqrt(self._one_minus_ab[idx]), scalar)

    def log_snr(self, t):
        """log(alpha_bar[t] / (1 - alpha_bar[t]))."""
        idx, scalar = self.check_t(t)
        return _out(np.log(self._ab[idx]) - np.log(self._one_minus_ab[idx]), scalar)

    def prior_sample(self, shape, rng=None) -> np.ndarray:
        """Draw from N(0, I)."""
        return np.random.default_rng(rng).standard_normal(shape)

    def prior_logp(self, x) -> np.ndarray:
        """Log N(x; 0, I) per sample; x has shape (B, ...), result shape (B,)."""
        x = _as_state(x, "x").astype(np.float64)
        flat = x.reshape(x.shape[0], -1)
        return -0.5 * (flat * flat).sum(axis=1) - 0.5 * flat.shape[1] * math.log(2.0 * math.pi)
