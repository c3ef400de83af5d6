"""Benchmark: latentgeo's Rust sampler loop around a cheap Python model vs a plain Python loop.

Issue 5 target: with a Python model ``fn(x, t)``, ``latentgeo.diffusion.sample`` (the loop in
Rust, the model called once per evaluation) is at least 2x faster than the same updates written
as a plain Python/numpy loop at a small batch, and never slower at a large batch.

The model is cheap, so that the loop overhead is what is measured: ``fn(x, t) = -x / 2`` (one
numpy op; the score of N(0, 2 I)), or the exact score of N(0, 4 I) data under VP,
``-x / (4 s(t)^2 + sigma(t)^2)`` (about seven small ops on t and one on x; ``--model timed``).
 The Python loop is what a careful
user writes: the grid and the coefficients ``f(t)``, ``g(t)^2`` of every node precomputed once,
then per step ``t = np.full(B, t_i)``, the model call and the update in two or three numpy ops.
Euler and Heun outputs are checked to agree with ours (Euler-Maruyama draws its noise from numpy's
generator in the Python loop, so only its timing is compared).

    python benches/bench_diffusion.py                      # batches 16 and 4096, d = 2 and 32
    python benches/bench_diffusion.py --steps 200 --repeats 3 --methods euler
"""

from __future__ import annotations

import argparse
import math
import os
import tracemalloc

import numpy as np
from timing import median_time

from latentgeo.diffusion import VP, sample, time_grid


def model_plain(x, t):
    # The score of the marginal N(0, 2 I) at every t.
    return x * -0.5


def model_timed(x, t):
    # The exact score of N(0, 4 I) data under VP: -x / (4 s(t)^2 + sigma(t)^2).
    s2 = np.exp(-(0.1 * t + 9.95 * t * t))
    return -x / (1.0 + 3.0 * s2).astype(x.dtype)[:, None]


MODELS = {"plain": model_plain, "timed": model_timed}


def coefficients(process, grid):
    """f(t) and g(t)^2 at the grid nodes (the drift of VP is f(t) x)."""
    one = np.ones((1, 1))
    f = np.array([process.f(one, t)[0, 0] for t in grid])
    g2 = process.g(grid) ** 2
    return f, g2


def python_loop(process, fn, x, method, steps, seed=0):
    """The same sampler as a plain Python loop (probability-flow ODE, or Euler-Maruyama with r = 1
    and noise from numpy's generator)."""
    grid = time_grid(process, steps)
    f, g2 = coefficients(process, grid)
    # Python floats, so that float32 states stay float32 (numpy's weak scalars).
    grid, f, g2 = grid.tolist(), f.tolist(), g2.tolist()
    n = x.shape[0]
    dtype = x.dtype
    x = x.copy()
    if method == "euler":
        for i in range(steps):
            h = grid[i + 1] - grid[i]
            s = fn(x, np.full(n, grid[i]))
            # x + h (f x - g^2 s / 2), in two fused scalars
            x = (1.0 + h * f[i]) * x - (0.5 * h * g2[i]) * s
    elif method == "heun":
        for i in range(steps):
            h = grid[i + 1] - grid[i]
            k1 = f[i] * x - (0.5 * g2[i]) * fn(x, np.full(n, grid[i]))
            xp = x + h * k1
            k2 = f[i + 1] * xp - (0.5 * g2[i + 1]) * fn(xp, np.full(n, grid[i + 1]))
            x = x + (0.5 * h) * (k1 + k2)
    elif method == "euler_maruyama":
        rng = np.random.default_rng(seed)
        for i in range(steps):
            h = grid[i + 1] - grid[i]
            s = fn(x, np.full(n, grid[i]))
            z = rng.standard_normal(x.shape, dtype=dtype)
            # reverse SDE: dx = (f x - g^2 s) dt + g dW, dt < 0
            x = (1.0 + h * f[i]) * x - (h * g2[i]) * s + math.sqrt(-h * g2[i]) * z
    else:
        raise ValueError(method)
    return x


def ours(process, fn, x, method, steps, seed=0):
    return sample(process, fn, x, method=method, steps=steps, kind="score", seed=seed).x


def peak_traced(f):
    """Peak bytes allocated through Python/numpy (tracemalloc; Rust's own buffers not seen)."""
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--cases", nargs="+", default=["16x2", "4096x2", "16x32", "4096x32"])
    p.add_argument("--methods", nargs="+", default=["euler", "heun", "euler_maruyama"])
    p.add_argument("--model", choices=sorted(MODELS), default="plain")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--memory", action="store_true", help="also report tracemalloc peaks")
    args = p.parse_args()

    process = VP()
    fn = MODELS[args.model]
    print(
        f"VP, {args.steps} steps, model {args.model!r}, {args.dtype}, {os.cpu_count()} CPUs, "
        f"median of {args.repeats}; times per run and per step"
    )
    head = "| batch x d | method | latentgeo (ms) | python loop (ms) | us/step ours / python "
    head += "| speed-up | max abs diff |"
    if args.memory:
        head += " traced peak KiB ours / python |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for case in args.cases:
        b, d = (int(v) for v in case.split("x"))
        x = np.random.default_rng(1).standard_normal((b, d)).astype(args.dtype)
        for method in args.methods:

            def run_ours(method=method, x=x):
                return ours(process, fn, x, method, args.steps)

            def run_python(method=method, x=x):
                return python_loop(process, fn, x, method, args.steps)

            run_ours(), run_python()  # warm-up
            t_ours, a = median_time(run_ours, args.repeats)
            t_py, b_out = median_time(run_python, args.repeats)
            diff = "-" if method == "euler_maruyama" else f"{float(np.max(np.abs(a - b_out))):.1e}"
            per = f"{t_ours / args.steps * 1e6:.1f} / {t_py / args.steps * 1e6:.1f}"
            row = (
                f"| {b} x {d} | {method} | {t_ours * 1e3:.1f} | {t_py * 1e3:.1f} | {per} | "
                f"{t_py / t_ours:.2f}x | {diff} |"
            )
            if args.memory:
                m_ours, m_py = peak_traced(run_ours), peak_traced(run_python)
                row += f" {m_ours / 1024:.0f} / {m_py / 1024:.0f} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
