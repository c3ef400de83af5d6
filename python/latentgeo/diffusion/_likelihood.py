"""Exact (or Hutchinson) log-likelihood through the probability-flow ODE."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from .. import _core
from .._progress import Progress
from .._validate import (
    check_choice,
    check_int,
    check_n_threads,
)
from ._discrete import DiscreteDDPM
from ._grids import LIKELIHOOD_METHODS, _schedule_args
from ._sample import _adaptive_options, _batches, _model, _seed, _state


@dataclass(frozen=True)
class LikelihoodResult:
    """The output of :func:`log_likelihood`.

    Attributes
    ----------
    log_prob : numpy.ndarray
        ``log p_0(x)`` per sample (the mean over probes for Hutchinson).
    prior_logp : numpy.ndarray
        ``log p_T(x_T)`` of the end states under the prior used.
    delta : numpy.ndarray
        ``log p_0(x) - log p_T(x_T)`` per sample and probe, shape (B, probes) (one column for the
        exact divergence).
    stderr : numpy.ndarray or None
        Hutchinson with several probes: the standard error of ``log_prob`` over the probes.
    x_end : numpy.ndarray
        The states at ``t_end``.
    nfe : int
        Batch model evaluations.
    accepted, rejected : numpy.ndarray or None
        ``dopri5`` step counts per sample.
    """

    log_prob: np.ndarray
    prior_logp: np.ndarray
    delta: np.ndarray
    stderr: Optional[np.ndarray]
    x_end: np.ndarray
    nfe: int
    accepted: Optional[np.ndarray] = None
    rejected: Optional[np.ndarray] = None

    def bits_per_dim(self, offset: float = 0.0) -> np.ndarray:
        """``-log_prob / (D ln 2) + offset`` per sample (``offset = 8`` for data scaled from 256
        levels to [0, 1), as score_sde reports)."""
        dims = math.prod(self.x_end.shape[1:])
        return -self.log_prob / (dims * math.log(2.0)) + offset

    def to_dict(self) -> dict:
        """Plain-Python summary (per-sample arrays as lists; ``x_end`` left out)."""
        d = asdict(self)
        d.pop("x_end")
        return {
            k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in d.items()
        }


def log_likelihood(
    process,
    model,
    x,
    *,
    method: str = "dopri5",
    steps: int = 100,
    divergence: str = "exact",
    probes: int = 1,
    probe: str = "rademacher",
    prior: str = "auto",
    kind: str = "eps",
    t_start=None,
    t_end=None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    first_step: Optional[float] = None,
    max_steps: int = 10_000,
    seed: int = 0,
    first_index: int = 0,
    batch_size: Optional[int] = None,
    progress: bool = False,
    n_threads: Optional[int] = None,
) -> LikelihoodResult:
    """Log-density of data under the probability-flow ODE of a model.

    Integrates ``[x, delta]`` with ``dx/dt = v = f x - g^2 score / 2`` and ``d delta / dt =
    div v`` from ``t_start`` (default ``t_min``) to ``t_end`` (default ``t_max``); then
    ``log p(x) = log p_T(x_T) + delta`` (the instantaneous change of variables).

    Parameters
    ----------
    process : VP, SubVP, VPCosine, VE or EDM
    model : GaussianMixture, ModelAdapter or callable
    x : array_like of shape (B, ...)
        The data points.
    method : {"dopri5", "euler", "midpoint", "heun", "rk4"}
        Adaptive Dormand-Prince 5(4) with a step size per sample, or a fixed uniform grid of
        `steps` steps.
    divergence : {"exact", "hutchinson"}
        ``"exact"``: ``d f - g^2 Laplacian(log p_t) / 2``, for analytic models (GaussianMixture).
        ``"hutchinson"``: ``e^T (dv/dx) e`` with `probes` probe vectors per sample, fixed for the
        whole solve (each has its own accumulator, so the spread over probes gives a standard
        error); the Jacobian-vector product uses central differences of the score with step
        ``6e-6 sigma(t)`` (relative error far below the Monte-Carlo error), two more model
        evaluations per probe and stage.
    probes : int
        Number of Hutchinson probes.
    probe : {"rademacher", "gaussian"}
    prior : {"auto", "process", "exact"}
        ``"process"``: the process prior ``N(0, prior_std^2 I)``; ``"exact"``: the true marginal
        ``p_T`` of a GaussianMixture (the process prior is only approximately p_T, e.g. VP's
        N(0, I)); ``"auto"``: exact for mixtures, the process prior otherwise.
    kind : {"score", "eps", "x0", "v"}
        What a plain callable predicts.
    rtol, atol, first_step, max_steps, seed, batch_size, progress, n_threads
        As in :func:`sample` (`seed` keys the probes).
    first_index : int
        Index of the first data point: Hutchinson probes of row i are those of point
        ``first_index + i``, so runs over consecutive ranges give the values of one run.

    Returns
    -------
    LikelihoodResult
    """
    check_choice(method, "method", LIKELIHOOD_METHODS)
    check_choice(divergence, "divergence", ("exact", "hutchinson"))
    check_choice(probe, "probe", ("rademacher", "gaussian"))
    check_choice(prior, "prior", ("auto", "process", "exact"))
    if isinstance(process, DiscreteDDPM):
        raise TypeError("log_likelihood needs a continuous process (VP, SubVP, VPCosine, VE, EDM)")
    sched = _schedule_args(process)
    m = _model(process, model, kind)
    if divergence == "exact" and m.gmm is None:
        raise ValueError(
            "divergence='exact' needs an analytic model (GaussianMixture); use "
            "divergence='hutchinson' for other models"
        )
    if prior == "exact" and m.gmm is None:
        raise ValueError("prior='exact' needs an analytic model (GaussianMixture)")
    probes = check_int(probes, "probes", low=1)
    steps = check_int(steps, "steps", low=1)
    rtol, atol, first_step, max_steps = _adaptive_options(rtol, atol, first_step, max_steps)
    seed = _seed(seed)
    first_index = check_int(first_index, "first_index", low=0)
    n_threads = check_n_threads(n_threads)
    lo_t = process.t_min if t_start is None else float(process.check_t(t_start, "t_start")[0])
    hi_t = process.t_max if t_end is None else float(process.check_t(t_end, "t_end")[0])
    if not hi_t > lo_t:
        raise ValueError(f"t_end={hi_t} must be larger than t_start={lo_t}")
    times = np.linspace(lo_t, hi_t, steps + 1)
    times[0], times[-1] = lo_t, hi_t
    x0 = _state(x)
    sample_shape = tuple(x0.shape[1:])
    d = math.prod(sample_shape)
    if m.gmm is not None and (len(sample_shape) != 1 or d != m.gmm.dim):
        raise ValueError(
            f"dimension mismatch: x has shape {x0.shape} but the mixture has dimension {m.gmm.dim}"
        )
    call_f32 = x0.dtype in (np.float32, np.float16)
    flat = np.ascontiguousarray(x0.reshape(x0.shape[0], d), dtype=np.float64)
    deltas, ends, acc, rej, nfe = [], [], [], [], 0
    with Progress(1, f"log_likelihood {method}", enabled=progress) as bar:
        for lo, hi in _batches(flat.shape[0], batch_size):
            delta, x_end, stats = _core.diffusion_likelihood(
                sched,
                m.obj,
                flat[lo:hi],
                kind=m.kind,
                sample_shape=list(sample_shape),
                call_f32=call_f32,
                times=times,
                method=method,
                divergence=divergence,
                probes=probes,
                probe=probe,
                seed=seed,
                first_index=first_index + lo,
                rtol=rtol,
                atol=atol,
                first_step=first_step,
                max_steps=max_steps,
                progress=bar if progress else None,
                n_threads=n_threads,
            )
            deltas.append(delta)
            ends.append(x_end)
            nfe += stats["nfe"]
            if method == "dopri5":
                acc.append(stats["accepted"])
                rej.append(stats["rejected"])
        bar.update(bar.total)
    delta = np.concatenate(deltas)
    x_end = np.concatenate(ends)
    use_exact = prior == "exact" or (prior == "auto" and m.gmm is not None)
    if use_exact:
        prior_lp = m.gmm.log_prob(x_end, process.s(hi_t), process.sigma(hi_t))
    else:
        prior_lp = process.prior_logp(x_end)
    p = delta.shape[1]
    log_prob = prior_lp + delta.mean(axis=1)
    stderr = None
    if divergence == "hutchinson" and p > 1:
        stderr = delta.std(axis=1, ddof=1) / math.sqrt(p)
    return LikelihoodResult(
        log_prob=log_prob,
        prior_logp=prior_lp,
        delta=delta,
        stderr=stderr,
        x_end=x_end.reshape((-1,) + sample_shape),
        nfe=int(nfe),
        accepted=np.concatenate(acc) if acc else None,
        rejected=np.concatenate(rej) if rej else None,
    )
