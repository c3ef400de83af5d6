"""DDPM maths as plain functions (Ho et al. 2020, arXiv 2006.11239).

Conventions: 0-based time indices ``t in {0, ..., T - 1}`` as in :class:`DiscreteDDPM`; states
carry a leading batch axis ``(B, ...)``; ``t`` is one index for the whole batch or one per sample,
shape ``(B,)``. Per-time quantities are returned reshaped to broadcast against the states.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from .._validate import check_choice
from ._discrete import DiscreteDDPM, check_betas
from ._process import _as_state, _per_sample

__all__ = [
    "VARIANCES",
    "alpha_bar",
    "q_sample",
    "posterior_mean_var",
    "reverse_variance",
    "reverse_mean_var",
    "x0_from_eps",
    "eps_from_x0",
]

VARIANCES = ("posterior", "beta")


def alpha_bar(betas) -> np.ndarray:
    """Cumulative products ``alpha_bar[t] = prod_{k <= t} (1 - beta_k)``, shape (T,).

    Computed as ``exp(cumsum(log1p(-beta)))`` to keep the relative error at rounding level for
    small betas. Raises ValueError unless every beta is in (0, 1).
    """
    return np.exp(np.cumsum(np.log1p(-check_betas(betas))))


def _as_chain(betas) -> DiscreteDDPM:
    return betas if isinstance(betas, DiscreteDDPM) else DiscreteDDPM(betas=betas)


def _pair(a, b, name_a: str, name_b: str) -> Tuple[np.ndarray, np.ndarray]:
    a = _as_state(a, name_a)
    b = _as_state(b, name_b)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}")
    dtype = np.float32 if a.dtype == b.dtype == np.float32 else np.float64
    return a.astype(dtype, copy=False), b.astype(dtype, copy=False)


def q_sample(x0, t, noise, process) -> np.ndarray:
    """Draw from q(x_t | x_0): ``x_t = s(t) x_0 + sigma(t) noise``.

    Parameters
    ----------
    x0 : array_like, shape (B, ...)
        Clean data.
    t : float, int or array_like of shape (B,)
        Time(s) in the domain of `process` (indices for :class:`DiscreteDDPM`).
    noise : array_like, same shape as x0
        Standard normal draws.
    process : NoiseProcess or DiscreteDDPM
        Anything with ``s(t)`` and ``sigma(t)``.
    """
    x0, noise = _pair(x0, noise, "x0", "noise")
    s = _per_sample(process.s(t), x0, "t")
    sig = _per_sample(process.sigma(t), x0, "t")
    return s * x0 + sig * noise


def x0_from_eps(xt, eps, t, process) -> np.ndarray:
    """``x_0 = (x_t - sigma(t) eps) / s(t)`` (for DDPM: ``(x_t - sqrt(1 - alpha_bar) eps) /
    sqrt(alpha_bar)``)."""
    xt, eps = _pair(xt, eps, "xt", "eps")
    s = _per_sample(process.s(t), xt, "t")
    sig = _per_sample(process.sigma(t), xt, "t")
    return (xt - sig * eps) / s


def eps_from_x0(xt, x0, t, process) -> np.ndarray:
    """``eps = (x_t - s(t) x_0) / sigma(t)``; sigma(t) must be positive."""
    xt, x0 = _pair(xt, x0, "xt", "x0")
    sig_raw = np.asarray(process.sigma(t))
    if (sig_raw <= 0).any():
        raise ValueError("sigma(t) is 0 at some t; eps is undefined there")
    s = _per_sample(process.s(t), xt, "t")
    sig = _per_sample(sig_raw, xt, "t")
    return (xt - s * x0) / sig


def posterior_mean_var(x0, xt, t, betas):
    """Mean and variance of the posterior q(x_{t-1} | x_t, x_0) of the DDPM chain.

    ``mean = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0 + sqrt(alpha_t) (1 -
    alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t`` and ``var = beta_tilde_t = beta_t (1 -
    alpha_bar_{t-1}) / (1 - alpha_bar_t)``, with ``alpha_bar_{-1} = 1`` (at t = 0 the posterior
    is the point mass at x_0).

    Parameters
    ----------
    x0, xt : array_like, shape (B, ...)
        Data and the noised state at index t.
    t : int or array_like of int, shape (B,)
        0-based time indices.
    betas : array_like of shape (T,) or DiscreteDDPM
        The schedule.

    Returns
    -------
    mean : ndarray, shape (B, ...)
    var : float or ndarray of shape (B, 1, ..., 1)
        Broadcasts against `mean`.
    """
    chain = _as_chain(betas)
    x0, xt = _pair(x0, xt, "x0", "xt")
    idx, scalar = chain.check_t(t)
    c1 = _per_sample(chain.posterior_mean_coef1[idx], x0, "t")
    c2 = _per_sample(chain.posterior_mean_coef2[idx], x0, "t")
    var = _per_sample(chain.posterior_variance[idx], x0, "t")
    return c1 * x0 + c2 * xt, (float(var) if scalar else var)


def reverse_variance(t, betas, variance: str = "posterior"):
    """Variance of the reverse (ancestral) step p(x_{t-1} | x_t) at index t.

    Parameters
    ----------
    t : int or array_like of int
        0-based time indices.
    betas : array_like of shape (T,) or DiscreteDDPM
    variance : {"posterior", "beta"}
        ``"posterior"``: beta_tilde_t (diffusers ``fixed_small``; 0 at t = 0; optimal when x_0
        is a single point). ``"beta"``: beta_t (``fixed_large``; optimal for x_0 ~ N(0, I)).

    Returns
    -------
    float or ndarray of the shape of `t`
    """
    variance = check_choice(variance, "variance", VARIANCES)
    chain = _as_chain(betas)
    idx, scalar = chain.check_t(t)
    table = chain.posterior_variance if variance == "posterior" else chain.betas
    out = table[idx]
    return float(out) if scalar else out


def reverse_mean_var(xt, x0_pred, t, betas, variance: str = "posterior"):
    """Mean and variance of the DDPM reverse step given a prediction of x_0.

    The mean is the posterior mean with x_0 replaced by `x0_pred` (e.g. from
    :func:`x0_from_eps`), the variance is chosen by `variance` (see :func:`reverse_variance`).
    Returns ``(mean, var)`` with `var` broadcastable as in :func:`posterior_mean_var`.
    """
    chain = _as_chain(betas)
    mean, _ = posterior_mean_var(x0_pred, xt, t, chain)
    var = reverse_variance(t, chain, variance)
    if np.ndim(var) == 0:
        return mean, float(var)
    return mean, _per_sample(var, mean, "t")
