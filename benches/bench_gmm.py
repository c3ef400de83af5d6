"""Benchmark: the analytic GMM score and Euler steps of the VP probability-flow ODE in
latentgeo's Rust core vs a vectorised numpy implementation (and torch on CPU if installed).

Issue 5 target: at least 10x numpy for one Euler step with 8 components, d = 2, 10^6 points.
The numpy version is the usual vectorised one: per component, residuals against s mu_k, the
quadratic form with a precomputed precision matrix, a log-sum-exp over components, and the
responsibility-weighted sum of -P_k (x - s mu_k). torch runs the same maths batched over the
components. All run in float64 on full covariances.

Rows:

- ``score``: ``GaussianMixture.score`` alone.
- ``score + numpy update``: the score from Rust, the Euler update in numpy.
- ``sample, 1 step`` / ``sample, 10 steps``: ``latentgeo.diffusion.sample(VP(), gmm, x,
  method="euler", grid=...)`` (the whole loop in Rust) on the grid t = 0.5, 0.499, ... against
  the same steps written in numpy (or torch), schedule coefficients from ``VP()``.

    python benches/bench_gmm.py                  # K = 8, d = 2, n = 10^6
    python benches/bench_gmm.py --n 100000 --repeats 5 --threads 1
    python benches/bench_gmm.py --memory         # also peak RSS of each in a fresh process
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

import numpy as np
from timing import median_time

from latentgeo.diffusion import VP, GaussianMixture, sample

try:  # optional peer
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    torch = None

#: VP, linear beta 0.1 -> 20: Euler steps of the probability-flow ODE from t = 0.5 by -1e-3.
T0, DT = 0.5, 1e-3


def mixture(k, d, seed=0, n_threads=None):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, d, d))
    cov = a @ a.transpose(0, 2, 1) / d + 0.1 * np.eye(d)
    w, mu = rng.dirichlet(np.ones(k)), rng.normal(scale=3.0, size=(k, d))
    return GaussianMixture(w, mu, cov, n_threads=n_threads)


def numpy_score(w, mu, cov, x, s, sigma):
    """Vectorised numpy score of sum_k w_k N(s mu_k, s^2 cov_k + sigma^2 I) at the rows of x."""
    k, d = mu.shape
    c = s * s * cov + sigma * sigma * np.eye(d)
    prec = np.linalg.inv(c)
    logdet = np.linalg.slogdet(c)[1]
    logits = np.empty((k, x.shape[0]))
    grads = np.empty((k,) + x.shape)
    for i in range(k):
        diff = x - s * mu[i]
        g = -diff @ prec[i]
        grads[i] = g
        logits[i] = (
            np.log(w[i])
            - 0.5 * (d * np.log(2 * np.pi) + logdet[i])
            + 0.5 * np.einsum("nj,nj->n", diff, g)
        )
    logits -= logits.max(axis=0)
    r = np.exp(logits)
    r /= r.sum(axis=0)
    return np.einsum("kn,knj->nj", r, grads)


def torch_score(w, mu, cov, x, s, sigma):
    """The same in torch (CPU), batched over the components; tensors in, tensor out."""
    k, d = mu.shape
    c = s * s * cov + sigma * sigma * torch.eye(d, dtype=cov.dtype)
    prec = torch.linalg.inv(c)
    logdet = torch.linalg.slogdet(c)[1]
    diff = x.unsqueeze(0) - s * mu.unsqueeze(1)  # (k, n, d)
    g = -torch.matmul(diff, prec)  # prec is symmetric
    logits = (
        torch.log(w)[:, None]
        - 0.5 * (d * np.log(2 * np.pi) + logdet)[:, None]
        + 0.5 * (diff * g).sum(-1)
    )
    r = torch.softmax(logits, dim=0)
    return torch.einsum("kn,knj->nj", r, g)


def grid_of(steps):
    return T0 - DT * np.arange(steps + 1)


def euler_loop(score, x, grid, process):
    """Euler steps x += h (f x - g^2 score / 2) of the VP probability-flow ODE."""
    for t, t2 in zip(grid[:-1], grid[1:]):
        h = float(t2 - t)
        s, sigma, beta = float(process.s(t)), float(process.sigma(t)), float(process.beta(t))
        x = (1.0 - 0.5 * h * beta) * x - (0.5 * h * beta) * score(x, s, sigma)
    return x


def tasks(g, x, threads):
    """name -> (latentgeo, numpy, torch or None); each a no-argument callable."""
    process = VP()
    w, mu, cov = g.weights, g.means, g.covariances
    s0, sigma0, beta0 = float(process.s(T0)), float(process.sigma(T0)), float(process.beta(T0))

    def np_score(x, s, sigma):
        return numpy_score(w, mu, cov, x, s, sigma)

    out = {
        "score": (
            lambda: g.score(x, s0, sigma0),
            lambda: np_score(x, s0, sigma0),
        ),
        "score + numpy update": (
            lambda: x - DT * (-0.5 * beta0 * x - 0.5 * beta0 * g.score(x, s0, sigma0)),
            lambda: x - DT * (-0.5 * beta0 * x - 0.5 * beta0 * np_score(x, s0, sigma0)),
        ),
    }
    for steps in (1, 10):
        grid = grid_of(steps)
        out[f"sample, {steps} step{'s' * (steps > 1)}"] = (
            lambda grid=grid: sample(process, g, x, method="euler", grid=grid, n_threads=threads).x,
            lambda grid=grid: euler_loop(np_score, x, grid, process),
        )
    if torch is not None:
        tw, tmu, tcov = (torch.from_numpy(np.ascontiguousarray(a)) for a in (w, mu, cov))
        tx = torch.from_numpy(x)

        def t_score(x, s, sigma):
            return torch_score(tw, tmu, tcov, x, s, sigma)

        def with_grad_off(f):
            def run():
                with torch.no_grad():
                    return f().numpy()

            return run

        ref = {
            "score": lambda: t_score(tx, s0, sigma0),
            "score + numpy update": lambda: (
                tx - DT * (-0.5 * beta0 * tx - 0.5 * beta0 * t_score(tx, s0, sigma0))
            ),
        }
        for steps in (1, 10):
            grid = grid_of(steps)
            ref[f"sample, {steps} step{'s' * (steps > 1)}"] = lambda grid=grid: euler_loop(
                t_score, tx, grid, process
            )
        out = {k: v + (with_grad_off(ref[k]),) for k, v in out.items()}
    else:
        out = {k: v + (None,) for k, v in out.items()}
    return out


def setup(args):
    g = mixture(args.k, args.d, n_threads=args.threads)
    x = np.random.default_rng(1).normal(scale=3.0, size=(args.n, args.d))
    return g, x


def _status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def worker(args):
    """One implementation of one task in this (fresh) process: its peak RSS above the resident
    set before the call (Linux: the high-water mark is reset through /proc/self/clear_refs)."""
    task, impl = args.worker
    g, x = setup(args)
    fns = tasks(g, x, args.threads)[task]
    f = fns[("latentgeo", "numpy", "torch").index(impl)]
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        base, peak_of = _status_kb("VmRSS"), lambda: _status_kb("VmHWM")
    except OSError:  # not Linux: the process-lifetime maximum (may hide the call's own peak)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_of = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731
    f()
    print(json.dumps({"extra_mb": (peak_of() - base) / 1024}))


def peak_mb(args, task, impl):
    cmd = [sys.executable, __file__, "--worker", task, impl]
    cmd += ["--n", str(args.n), "--k", str(args.k), "--d", str(args.d)]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])["extra_mb"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--d", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="latentgeo threads (default all)")
    p.add_argument("--memory", action="store_true", help="peak RSS of each run (subprocesses)")
    p.add_argument("--worker", nargs=2, metavar=("TASK", "IMPL"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return

    g, x = setup(args)
    all_tasks = tasks(g, x, args.threads)
    for fns in all_tasks.values():  # warm-up
        fns[0]()
    print(
        f"K = {args.k}, d = {args.d}, n = {args.n:,}, float64 full covariances, "
        f"{os.cpu_count()} CPUs, latentgeo threads = {args.threads or 'all'}, median of "
        f"{args.repeats} (numpy/torch 10 steps: of {max(1, args.repeats // 2)}), "
        f"torch {torch.__version__ if torch is not None else 'not installed'}"
    )
    head = (
        "| task | latentgeo (ms) | numpy (ms) | torch (ms) | vs numpy | vs torch | max abs diff |"
    )
    if args.memory:
        head += " peak RSS MB latentgeo / numpy / torch |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for name, (ours, ref, tref) in all_tasks.items():
        slow = max(1, args.repeats // 2) if "10 steps" in name else args.repeats
        t_ours, a = median_time(ours, args.repeats)
        t_ref, b = median_time(ref, slow)
        diff = float(np.max(np.abs(a - b)))
        t_torch = vs_torch = "-"
        if tref is not None:
            tt, c = median_time(tref, slow)
            t_torch, vs_torch = f"{tt * 1e3:.1f}", f"{tt / t_ours:.1f}x"
            diff = max(diff, float(np.max(np.abs(a - c))))
        row = (
            f"| {name} | {t_ours * 1e3:.1f} | {t_ref * 1e3:.1f} | {t_torch} | "
            f"{t_ref / t_ours:.1f}x | {vs_torch} | {diff:.1e} |"
        )
        if args.memory:
            mems = [peak_mb(args, name, "latentgeo"), peak_mb(args, name, "numpy")]
            mems.append(peak_mb(args, name, "torch") if tref is not None else None)
            row += " " + " / ".join("-" if m is None else f"{m:.0f}" for m in mems) + " |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
