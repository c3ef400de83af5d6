"""Adapters that turn a user's batch model into score, epsilon, x_0 and v predictions.

For a process with ``x_t = s x_0 + sigma eps`` (s = s(t), sigma = sigma(t)) the four
parametrisations of the same denoiser are related by

- ``score = -eps / sigma`` (Tweedie: ``E[x_0 | x_t] = (x_t + sigma^2 score) / s``);
- ``x_0 = (x_t - sigma eps) / s``, ``eps = (x_t - s x_0) / sigma``;
- ``v = a eps - b x_0`` with ``a = s / r``, ``b = sigma / r``, ``r = sqrt(s^2 + sigma^2)``, and
  conversely ``x_0 = a x~ - b v``, ``eps = b x~ + a v`` where ``x~ = x_t / r``.

For variance-preserving processes (``s^2 + sigma^2 = 1``) ``v`` is the v-prediction of Salimans &
Ho (2022) and diffusers; for ``s = 1`` (VE, EDM) it is ``(eps - sigma x_0) / sqrt(1 + sigma^2)``,
minus the EDM network target ``F`` with ``sigma_data = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .._validate import check_choice
from ._discrete import DiscreteDDPM
from ._process import NoiseProcess, _as_state

__all__ = ["MODEL_KINDS", "ModelAdapter"]

MODEL_KINDS = ("score", "eps", "x0", "v")


@dataclass(frozen=True, eq=False)
class ModelAdapter:
    """A batch model declared as one parametrisation, readable as any of the four.

    Parameters
    ----------
    fn : callable
        ``fn(x, t) -> array`` with x of shape (B, ...) and t a 1-D array of shape (B,) (float64
        times, or int64 indices for :class:`DiscreteDDPM`); must return an array of x's shape.
        Each method below calls it exactly once, on the whole batch.
    kind : {"score", "eps", "x0", "v"}
        What `fn` predicts.
    process : NoiseProcess or DiscreteDDPM
        Supplies s(t) and sigma(t) for the conversions (see the module docstring).

    Raises
    ------
    ValueError
        From the methods, when t is outside the process domain, when the output's shape differs
        from x's, or when the output holds NaN or infinite values.
    """

    fn: Callable
    kind: str
    process: object

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"fn must be callable, got {type(self.fn).__name__}")
        check_choice(self.kind, "kind", MODEL_KINDS)
        if not isinstance(self.process, (NoiseProcess, DiscreteDDPM)):
            raise TypeError(
                "process must be a NoiseProcess (VP, VPCosine, SubVP, VE, EDM) or a "
                f"DiscreteDDPM, got {type(self.process).__name__}"
            )

    def _evaluate(self, x, t):
        """Checked (x, s, sigma, output), with s and sigma shaped to broadcast over x."""
        x = _as_state(x, "x")
        b = x.shape[0]
        t_arr = np.asarray(t)
        if t_arr.ndim == 0:
            t_arr = np.full(b, t_arr)
        elif t_arr.shape != (b,):
            raise ValueError(
                f"t has shape {t_arr.shape} but x has shape {x.shape}; pass one time or one "
                "per sample"
            )
        s = np.asarray(self.process.s(t_arr), dtype=np.float64)
        sigma = np.asarray(self.process.sigma(t_arr), dtype=np.float64)
        t_pass = self.process.check_t(t_arr)[0]
        out = np.asarray(self.fn(x, t_pass))
        if out.dtype.kind not in "biuf":
            raise ValueError(f"model output must hold real numbers, got dtype {out.dtype}")
        if out.shape != x.shape:
            raise ValueError(f"model output has shape {out.shape} but x has shape {x.shape}")
        finite = np.isfinite(out)
        if not finite.all():
            i = int(np.argwhere(~finite)[0][0])
            raise ValueError(
                f"model output contains NaN or infinite values (first at sample {i}, "
                f"t = {t_pass[i]})"
            )
        dtype = np.float32 if x.dtype == out.dtype == np.float32 else np.float64
        shape = (-1,) + (1,) * (x.ndim - 1)
        x = x.astype(dtype, copy=False)
        return (
            x,
            s.reshape(shape).astype(dtype),
            sigma.reshape(shape).astype(dtype),
            out.astype(dtype, copy=False),
        )

    def _x0_eps(self, x, s, sigma, out):
        """(x_0, eps) implied by the raw output."""
        k = self.kind
        if k == "eps":
            return (x - sigma * out) / s, out
        if k == "score":
            return (x + sigma * sigma * out) / s, -sigma * out
        if k == "x0":
            return out, (x - s * out) / sigma
        r = np.sqrt(s * s + sigma * sigma)
        a, b, xs = s / r, sigma / r, x / r
        return a * xs - b * out, b * xs + a * out

    def _convert(self, target, x, t):
        x, s, sigma, out = self._evaluate(x, t)
        if self.kind == target:
            return out
        x0, eps = self._x0_eps(x, s, sigma, out)
        if target == "x0":
            return x0
        if target == "eps":
            return eps
        if target == "score":
            return -eps / sigma
        r = np.sqrt(s * s + sigma * sigma)
        return (s * eps - sigma * x0) / r

    def score(self, x, t) -> np.ndarray:
        """Score of the noised marginal, grad log p_t(x) = -eps / sigma(t)."""
        return self._convert("score", x, t)

    def eps(self, x, t) -> np.ndarray:
        """Noise prediction eps = (x - s(t) x_0) / sigma(t)."""
        return self._convert("eps", x, t)

    def x0(self, x, t) -> np.ndarray:
        """Denoiser x_0 = E[x_0 | x_t] = (x - sigma(t) eps) / s(t)."""
        return self._convert("x0", x, t)

    def v(self, x, t) -> np.ndarray:
        """v prediction (s eps - sigma x_0) / sqrt(s^2 + sigma^2)."""
        return self._convert("v", x, t)
