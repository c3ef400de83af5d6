"""Variance-preserving processes: VP (linear beta), sub-VP and the cosine VP."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from .._validate import (
    check_real,
)
from ._process import NoiseProcess, _out


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
        # The same cos for both (numpy's may differ from libm's by an ulp), so s(0) is exactly 1.
        return np.cos(self._theta(t)) / np.cos(self._theta0)

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
