"""Time grids and the process descriptions the Rust loops take."""

from __future__ import annotations

import math

import numpy as np

from .._validate import (
    check_choice,
    check_int,
    check_real,
)
from ._discrete import DiscreteDDPM
from ._process import NoiseProcess
from ._ve import EDM, VE
from ._vp import VP, SubVP, VPCosine

#: Time grid kinds accepted by :func:`time_grid`.
GRIDS = ("uniform", "quadratic", "logsnr", "karras")


#: Sampling methods: probability-flow ODE (euler, heun, midpoint, rk4, ddim with eta = 0,
#: dpmpp_2m, adaptive dopri5) and stochastic (euler_maruyama, ancestral, ddim with eta > 0, pc).
SAMPLERS = (
    "euler",
    "heun",
    "midpoint",
    "rk4",
    "ddim",
    "dpmpp_2m",
    "dopri5",
    "euler_maruyama",
    "ancestral",
    "pc",
)


#: Methods that only evaluate the model at grid nodes (the ones a DiscreteDDPM supports).
NODE_SAMPLERS = ("ddim", "ancestral", "dpmpp_2m")


#: Integrators of the likelihood ODE.
LIKELIHOOD_METHODS = ("dopri5", "euler", "midpoint", "heun", "rk4")


def _spec(process):
    """(kind, params, table) of the Rust schedule of a process.

    Exact types only: a subclass may override the closed forms that Rust re-implements.
    """
    kind = type(process)
    if kind is VP:
        return "vp", [process.beta_min, process.beta_max], None
    if kind is SubVP:
        return "subvp", [process.beta_min, process.beta_max], None
    if kind is VPCosine:
        return "cosine", [process.cosine_s], None
    if kind is VE:
        return "ve", [process.sigma_min, process.sigma_max], None
    if kind is EDM:
        return "edm", [], None
    if kind is DiscreteDDPM:
        table = np.ascontiguousarray(np.stack([process.alpha_bar, process.one_minus_alpha_bar]))
        return "discrete", [], table
    raise TypeError(
        "process must be one of VP, SubVP, VPCosine, VE, EDM or DiscreteDDPM (the samplers use "
        f"their closed forms, re-implemented in Rust; subclasses are not accepted), got "
        f"{type(process).__name__}"
    )


def _schedule_args(process):
    kind, params, table = _spec(process)
    return kind, np.asarray(params, dtype=np.float64), table


def time_grid(
    process,
    steps: int,
    kind: str = "uniform",
    *,
    t_start=None,
    t_end=None,
    rho: float = 7.0,
) -> np.ndarray:
    """Decreasing sampling times from ``t_start`` (default ``t_max``) to ``t_end`` (default
    ``t_min``).

    Parameters
    ----------
    process : NoiseProcess or DiscreteDDPM
    steps : int
        Number of steps: a continuous grid has ``steps + 1`` times; a discrete chain has ``steps``
        time indices (each evaluated once; the sampler then steps to the data).
    kind : {"uniform", "quadratic", "logsnr", "karras"}
        - ``"uniform"``: equal steps in t.
        - ``"quadratic"``: equal steps in sqrt(t) (DPM-Solver's ``time_quadratic``), finer near
          ``t_end``.
        - ``"logsnr"``: equal steps in the log-SNR.
        - ``"karras"``: Karras et al. (2022), ``sigma_i = (sigma_max^(1/rho) + i / steps
          (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho`` on the scale-free noise level
          ``sigma / s`` (= sigma for VE and EDM).
        A discrete chain supports ``"uniform"`` and ``"quadratic"`` (on the indices).
    t_start, t_end : float, optional
        Ends of the grid (``t_start > t_end``), inside the process domain.
    rho : float
        Exponent of the Karras grid.

    Returns
    -------
    numpy.ndarray
        float64 times (int-valued for a discrete chain), strictly decreasing.
    """
    check_choice(kind, "grid", GRIDS)
    steps = check_int(steps, "steps", low=1)
    if isinstance(process, DiscreteDDPM):
        if kind not in ("uniform", "quadratic"):
            raise ValueError(f"a DiscreteDDPM supports grid='uniform' or 'quadratic', not {kind!r}")
        hi = process.t_max if t_start is None else int(process.check_t(t_start, "t_start")[0])
        lo = 0 if t_end is None else int(process.check_t(t_end, "t_end")[0])
        if hi <= lo and steps > 1:
            raise ValueError(f"t_start={hi} must be larger than t_end={lo}")
        if steps > hi - lo + 1:
            raise ValueError(
                f"steps={steps} exceeds the {hi - lo + 1} time indices between t_end={lo} and "
                f"t_start={hi}"
            )
        if kind == "uniform":
            grid = np.linspace(hi, lo, steps)
        else:
            grid = np.linspace(math.sqrt(hi - lo), 0.0, steps) ** 2 + lo
        grid = np.round(grid)
        # Rounding may merge neighbours: keep the count by stepping by at least one index, and
        # leave room for the indices still to come (the quadratic grid crowds near t_end).
        for i in range(1, steps):
            grid[i] = max(min(grid[i], grid[i - 1] - 1), lo + steps - 1 - i)
        if grid[-1] < lo:
            raise ValueError(f"cannot place {steps} distinct indices in [{lo}, {hi}]")
        return grid.astype(np.float64)
    if not isinstance(process, NoiseProcess):
        raise TypeError(f"process must be a NoiseProcess or DiscreteDDPM, got {process!r}")
    hi = process.t_max if t_start is None else float(process.check_t(t_start, "t_start")[0])
    lo = process.t_min if t_end is None else float(process.check_t(t_end, "t_end")[0])
    if not hi > lo:
        raise ValueError(f"t_start={hi} must be larger than t_end={lo}")
    u = np.linspace(0.0, 1.0, steps + 1)
    if kind == "uniform":
        grid = hi + u * (lo - hi)
    elif kind == "quadratic":
        grid = (math.sqrt(hi) + u * (math.sqrt(lo) - math.sqrt(hi))) ** 2
    elif kind == "logsnr":
        a, b = process.log_snr(hi), process.log_snr(lo)
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError("grid='logsnr' needs a finite log-SNR at both ends (sigma > 0)")
        grid = process.t_from_log_snr(a + u * (b - a))
    else:
        rho = check_real(rho, "rho", low=0.0, low_open=True)
        s_hi = process.sigma(hi) / process.s(hi)
        s_lo = process.sigma(lo) / process.s(lo)
        if not s_lo > 0:
            raise ValueError("grid='karras' needs sigma > 0 at t_end")
        sig = (s_hi ** (1 / rho) + u * (s_lo ** (1 / rho) - s_hi ** (1 / rho))) ** rho
        grid = process.t_from_log_snr(-2.0 * np.log(sig))
    grid = np.asarray(grid, dtype=np.float64)
    grid[0], grid[-1] = hi, lo
    if not (np.diff(grid) < 0).all():
        raise ValueError(
            f"the {kind} grid with {steps} steps is not strictly decreasing in t (too many steps "
            "for the float64 resolution of the time range?)"
        )
    return grid


def _check_grid(process, grid) -> np.ndarray:
    arr = np.asarray(grid)
    if arr.dtype.kind not in "iuf" or arr.ndim != 1 or arr.shape[0] < 1:
        raise ValueError(f"grid must be a 1-D array of times, got shape {arr.shape}")
    checked, _ = process.check_t(arr, "grid")
    checked = checked.astype(np.float64)
    if (np.diff(checked) >= 0).any():
        raise ValueError("grid must be strictly decreasing (sampling runs from noise to data)")
    if not isinstance(process, DiscreteDDPM) and checked.shape[0] < 2:
        raise ValueError("a continuous grid needs at least two times")
    return np.ascontiguousarray(checked)
