"""The discrete DDPM chain of Ho et al. (2020) over integer time indices."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

from .._validate import (
    check_int,
    check_real,
)
from ._process import _as_state, _first_bad, _out


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
