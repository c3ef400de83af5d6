"""Variance-exploding processes: VE (geometric sigma) and EDM (sigma = t)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import (
    check_real,
)
from ._process import NoiseProcess, _out


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
