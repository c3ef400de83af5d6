"""Samplers and exact likelihoods: time grids, ``sample`` and ``log_likelihood``.

The loops run in Rust. An analytic :class:`~latentgeo.diffusion.GaussianMixture` is evaluated in
Rust with the GIL released; a Python model ``fn(x, t)`` is called once per evaluation with the
whole batch (``x`` of the batch's shape and dtype, ``t`` a float64 array of shape (B,), or int64
indices for :class:`~latentgeo.diffusion.DiscreteDDPM`).

Noise is counter-based (Philox4x32-10 keyed by the seed and counted by sample index and step),
so a sample depends only on the seed and its index: the same seed gives the same samples
whatever the batch size and thread count.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np

from .. import _core
from .._progress import Progress
from .._validate import (
    check_choice,
    check_int,
    check_n_threads,
    check_real,
)
from ._discrete import DiscreteDDPM
from ._gmm import GaussianMixture
from ._grids import (
    NODE_SAMPLERS,
    SAMPLERS,
    _check_grid,
    _schedule_args,
    time_grid,
)
from ._models import MODEL_KINDS, ModelAdapter


@dataclass(frozen=True)
class _Model:
    obj: object  # GaussianMixtureCore or callable
    kind: str
    gmm: Optional[GaussianMixture]


def _model(process, model, kind) -> _Model:
    if isinstance(model, GaussianMixture):
        return _Model(model._core, "score", model)
    if isinstance(model, ModelAdapter):
        if model.process != process:
            raise ValueError(
                "the ModelAdapter was built for a different process than the one sampled "
                f"({model.process!r} vs {process!r})"
            )
        return _Model(model.fn, model.kind, None)
    if callable(model):
        check_choice(kind, "kind", MODEL_KINDS)
        return _Model(model, kind, None)
    raise TypeError(
        "model must be a GaussianMixture, a ModelAdapter or a callable fn(x, t), got "
        f"{type(model).__name__}"
    )


def _state(x, name="x") -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must have a batch axis and at least one state axis, got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or math.prod(arr.shape[1:]) == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        first = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or infinite values (first at sample {first[0]})")
    return arr


def _batches(n: int, batch_size):
    if batch_size is None:
        return [(0, n)]
    b = check_int(batch_size, "batch_size", low=1)
    return [(i, min(n, i + b)) for i in range(0, n, b)]


def _adaptive_options(rtol, atol, first_step, max_steps):
    """Checked (rtol, atol, first_step, max_steps) of the adaptive solver."""
    rtol = check_real(rtol, "rtol", low=0.0)
    atol = check_real(atol, "atol", low=0.0)
    if rtol + atol <= 0:
        raise ValueError("rtol and atol must not both be 0")
    if first_step is not None:
        first_step = check_real(first_step, "first_step", low=0.0, low_open=True)
    return rtol, atol, first_step, check_int(max_steps, "max_steps", low=1)


def _seed(seed) -> int:
    seed = check_int(seed, "seed", low=0)
    if seed >= 2**64:
        raise ValueError(f"seed must be below 2**64, got {seed}")
    return seed


@dataclass(frozen=True)
class SampleResult:
    """The output of :func:`sample`.

    Attributes
    ----------
    x : numpy.ndarray
        Final states, shape (B, ...) and the dtype of the initial state (fewer rows when a
        callback stopped a batched run).
    t : float or None
        Time of the final states (None after a final denoising step to the data, or for a
        stopped adaptive solve, where times differ per sample).
    nfe : int
        Batch model evaluations (summed over batches).
    steps : int
        Steps taken (iterations for ``dopri5``), per batch.
    stopped : bool
        Whether the callback stopped the run early.
    trajectory : numpy.ndarray or None
        With ``save_every=k``: the states after every k-th step, shape (S, B, ...).
    trajectory_t : numpy.ndarray or None
        The times of the saved states (NaN for the data).
    accepted, rejected : numpy.ndarray or None
        ``dopri5`` only: accepted and rejected steps per sample.
    """

    x: np.ndarray
    t: Optional[float]
    nfe: int
    steps: int
    stopped: bool
    trajectory: Optional[np.ndarray] = None
    trajectory_t: Optional[np.ndarray] = None
    accepted: Optional[np.ndarray] = None
    rejected: Optional[np.ndarray] = None

    def to_dict(self) -> dict:
        """Plain-Python summary (arrays as lists, except ``x`` and the trajectory)."""
        d = asdict(self)
        for key in ("x", "trajectory"):
            d.pop(key)
        for key in ("trajectory_t", "accepted", "rejected"):
            if d[key] is not None:
                d[key] = np.asarray(d[key]).tolist()
        return d


def prior_sample(process, shape, seed: int = 0, first_index: int = 0) -> np.ndarray:
    """Counter-based draws from the prior N(0, prior_std^2 I), float64 of shape `shape`.

    Row i is a function of ``(seed, first_index + i)`` only, so any batching of the same indices
    gives the same rows.
    """
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"shape must be (B, ...) with positive sizes, got {shape}")
    d = math.prod(shape[1:])
    z = _core.diffusion_normals(
        _seed(seed), stream="prior", first_index=int(first_index), step=0, n=shape[0], d=d
    )
    return (process.prior_std * z).reshape(shape)


def sample(
    process,
    model,
    x=None,
    *,
    shape=None,
    method: str = "heun",
    steps: int = 50,
    grid="uniform",
    kind: str = "eps",
    eta: float = 0.0,
    r: float = 1.0,
    snr: float = 0.16,
    n_corrector: int = 1,
    denoise_final: Optional[bool] = None,
    t_start=None,
    t_end=None,
    rho: float = 7.0,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    first_step: Optional[float] = None,
    max_steps: int = 10_000,
    seed: int = 0,
    first_index: int = 0,
    batch_size: Optional[int] = None,
    save_every: Optional[int] = None,
    callback: Optional[Callable] = None,
    progress: bool = False,
    n_threads: Optional[int] = None,
) -> SampleResult:
    """Generate samples by integrating the reverse process from noise to data.

    Parameters
    ----------
    process : VP, SubVP, VPCosine, VE, EDM or DiscreteDDPM
    model : GaussianMixture, ModelAdapter or callable
        An analytic mixture (its exact score at every noise level), an adapter, or a batch
        callable ``fn(x, t)`` whose output is declared by `kind`. The callable may keep or modify
        the arrays it is given: the loop refills the same ``x`` and ``t`` arrays between calls
        only while the callable keeps no reference to them.
    x : array_like of shape (B, ...), optional
        The initial states at ``t_start`` (float32 is kept: the model sees float32 and the result
        is float32; the update arithmetic is float64). Default: counter-based draws from the
        process prior with `shape`.
    shape : tuple of int, optional
        ``(B, ...)`` when `x` is not given.
    method : str
        ODE: ``"euler"``, ``"heun"``, ``"midpoint"``, ``"rk4"`` (on ``dx/dt = f x - g^2 score /
        2``), ``"ddim"`` (eta = 0: deterministic; equals Euler in ``x / s`` against
        ``sigma / s``), ``"dpmpp_2m"`` (DPM-Solver++ 2M), ``"dopri5"`` (adaptive Dormand-Prince
        5(4) with a step size per sample; ignores `steps` and `grid`).
        SDE: ``"euler_maruyama"`` (the reverse-time family with noise scale `r`: drift
        ``f x - (1 + r^2) g^2 score / 2``, diffusion ``r g``; r = 0 is the ODE, r = 1 the reverse
        SDE), ``"ancestral"`` (DDPM: the exact posterior step q(x_t' | x_t, x_0 = model's x_0),
        equal to DDIM with eta = 1), ``"ddim"`` with ``eta > 0``, ``"pc"`` (Langevin corrector
        steps with `snr` then an Euler-Maruyama predictor).
        A DiscreteDDPM supports ``"ddim"``, ``"ancestral"`` and ``"dpmpp_2m"``.
    steps : int
        Number of grid steps (see :func:`time_grid`); at least 1.
    grid : str or array_like
        A :data:`GRIDS` kind or explicit decreasing times.
    kind : {"score", "eps", "x0", "v"}
        What a plain callable predicts (ignored for mixtures and adapters).
    eta : float
        DDIM noise (0 = deterministic, 1 = ancestral).
    r : float
        Euler-Maruyama noise scale, >= 0.
    snr, n_corrector : float, int
        Langevin corrector of ``"pc"``: `n_corrector` steps ``x += e score + sqrt(2 e) z`` with
        ``e = 2 (s_t / s_t')^2 (snr sigma_t)^2`` (score_sde's annealed Langevin dynamics), the
        same for every sample. (score_sde's ``langevin`` rule ``(snr |z| / |score|)^2`` uses
        batch-mean norms, which couple the samples of a batch; with per-sample norms the step
        depends on the state and biases the samples of low-dimensional data.)
    denoise_final : bool, optional
        End with one more evaluation that returns the model's x_0 at the last time (default: True
        for a DiscreteDDPM, as DDPM/DDIM do, and False otherwise).
    t_start, t_end, rho : optional
        Grid ends and the Karras exponent (see :func:`time_grid`).
    rtol, atol, first_step, max_steps : optional
        ``dopri5`` controls: tolerances, first step (default: Hairer's rule per sample), and the
        most attempted steps per sample.
    seed : int
        Seed of the counter-based noise (prior draws, SDE noise).
    first_index : int
        Index of the first sample: row i draws the noise of sample ``first_index + i``. Runs
        over consecutive index ranges (e.g. on Dask workers) together give the samples of one
        run, bit for bit.
    batch_size : int, optional
        Integrate this many samples at a time (results do not change).
    save_every : int, optional
        Keep the states after every k-th step in ``trajectory`` (not with ``dopri5``).
    callback : callable, optional
        ``callback(info)`` after every step with a dict of ``step``, ``t`` (per-sample array for
        ``dopri5``; None at the data) and ``x`` (a copy, the batch's shape and dtype). Return True
        or raise StopIteration to stop early (the result is then marked ``stopped``; with
        `batch_size`, stopping ends the whole run and ``x`` holds only the rows of the batches
        run so far, the last one at its current step).
    progress : bool
        Show a progress bar.
    n_threads : int, optional
        Threads for analytic models (default: all cores). Results never depend on it.

    Returns
    -------
    SampleResult
    """
    check_choice(method, "method", SAMPLERS)
    discrete = isinstance(process, DiscreteDDPM)
    sched = _schedule_args(process)
    m = _model(process, model, kind)
    if discrete and method not in NODE_SAMPLERS:
        raise ValueError(
            f"method={method!r} needs a continuous process; a DiscreteDDPM supports "
            f"{', '.join(NODE_SAMPLERS)}"
        )
    steps = check_int(steps, "steps", low=1)
    eta = check_real(eta, "eta", low=0.0)
    r = check_real(r, "r", low=0.0)
    snr = check_real(snr, "snr", low=0.0)
    n_corrector = check_int(n_corrector, "n_corrector", low=0)
    rtol, atol, first_step, max_steps = _adaptive_options(rtol, atol, first_step, max_steps)
    seed = _seed(seed)
    first_index = check_int(first_index, "first_index", low=0)
    n_threads = check_n_threads(n_threads)
    save = 0 if save_every is None else check_int(save_every, "save_every", low=1)
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable")
    to_data = discrete if denoise_final is None else bool(denoise_final)
    if isinstance(grid, str):
        times = time_grid(process, steps, grid, t_start=t_start, t_end=t_end, rho=rho)
    else:
        times = _check_grid(process, grid)
    if x is None:
        if shape is None:
            raise ValueError("pass the initial states x or their shape")
        x0 = prior_sample(process, shape, seed, first_index)
        out_dtype = np.dtype(np.float64)
    else:
        if shape is not None:
            raise ValueError("pass either x or shape, not both")
        x0 = _state(x)
        out_dtype = np.dtype(np.float32 if x0.dtype in (np.float32, np.float16) else np.float64)
    sample_shape = tuple(x0.shape[1:])
    d = math.prod(sample_shape)
    if m.gmm is not None and (len(sample_shape) != 1 or d != m.gmm.dim):
        raise ValueError(
            f"dimension mismatch: states have shape {x0.shape} but the mixture has dimension "
            f"{m.gmm.dim}"
        )
    flat = np.ascontiguousarray(x0.reshape(x0.shape[0], d), dtype=np.float64)
    n = flat.shape[0]
    outs, saved, saved_t = [], [], None
    nfe, n_steps, stopped, acc, rej = 0, 0, False, [], []
    total = max(len(times) - 1 + int(to_data), 1)
    with Progress(total, f"sample {method}", enabled=progress) as bar:
        for lo, hi in _batches(n, batch_size):
            xb, sv, st, stats = _core.diffusion_sample(
                sched,
                m.obj,
                flat[lo:hi],
                kind=m.kind,
                sample_shape=list(sample_shape),
                call_f32=out_dtype == np.float32,
                int_t=discrete,
                grid=times,
                to_data=to_data,
                method=method,
                eta=eta,
                r=r,
                snr=snr,
                n_corrector=n_corrector,
                seed=seed,
                first_index=first_index + lo,
                rtol=rtol,
                atol=atol,
                first_step=first_step,
                max_steps=max_steps,
                save_every=save,
                callback=_wrap_callback(callback, first_index + lo),
                progress=bar if progress else None,
                n_threads=n_threads,
            )
            outs.append(xb)
            if save:
                saved.append(sv.reshape(len(st), hi - lo, d))
                saved_t = st
            nfe += stats["nfe"]
            n_steps = stats["steps"]
            if method == "dopri5":
                acc.append(stats["accepted"])
                rej.append(stats["rejected"])
            if stats["stopped"]:
                stopped = True
                break
        if not stopped:
            # Python models report progress only every 100 ms: end the bar at 100%.
            bar.update(bar.total)
    xs = outs[0] if len(outs) == 1 else np.concatenate(outs)
    xs = xs.reshape((-1,) + sample_shape).astype(out_dtype, copy=False)
    trajectory = None
    if save:
        rows = min(s.shape[0] for s in saved)
        trajectory = np.concatenate([s[:rows] for s in saved], axis=1)
        trajectory = trajectory.reshape((rows, -1) + sample_shape).astype(out_dtype, copy=False)
        saved_t = np.asarray(saved_t[:rows])
    if method == "dopri5":
        t_final = None if stopped else float(times[-1])
    else:
        t_final = None if (to_data and not stopped) else float(times[min(n_steps, len(times) - 1)])
    return SampleResult(
        x=xs,
        t=t_final,
        nfe=int(nfe),
        steps=int(n_steps),
        stopped=stopped,
        trajectory=trajectory,
        trajectory_t=saved_t if save else None,
        accepted=np.concatenate(acc) if acc else None,
        rejected=np.concatenate(rej) if rej else None,
    )


def _wrap_callback(callback, first_index: int):
    if callback is None:
        return None

    def wrapped(info):
        info["first_index"] = first_index
        return callback(info)

    return wrapped
