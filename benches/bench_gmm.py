"""Benchmark: the analytic GMM score (and one Euler step of the VP probability-flow ODE) in
latentgeo's Rust core vs a vectorised numpy implementation.

Issue 5 target: at least 10x numpy for one Euler step with 8 components, d = 2, 10^6 points.
The numpy version is the usual vectorised one: per component, residuals against s mu_k, the
quadratic form with a precomputed precision matrix, a log-sum-exp over components, and the
responsibility-weighted sum of -P_k (x - s mu_k). Both run in float64 on full covariances.

    python benches/bench_gmm.py                  # K = 8, d = 2, n = 10^6
    python benches/bench_gmm.py --n 100000 --repeats 5 --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from latentgeo.diffusion import GaussianMixture


def mixture(k, d, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, d, d))
    cov = a @ a.transpose(0, 2, 1) / d + 0.1 * np.eye(d)
    return GaussianMixture(rng.dirichlet(np.ones(k)), rng.normal(scale=3.0, size=(k, d)), cov)


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


def median_time(f, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--d", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="latentgeo threads (default all)")
    args = p.parse_args()

    g = mixture(args.k, args.d)
    if args.threads is not None:
        g = GaussianMixture(g.weights, g.means, g.covariances, n_threads=args.threads)
    w, mu, cov = g.weights, g.means, g.covariances
    x = np.random.default_rng(1).normal(scale=3.0, size=(args.n, args.d))
    # VP, linear beta 0.1 -> 20, one Euler step of the probability-flow ODE at t = 0.5.
    t, dt = 0.5, 1e-3
    beta = 0.1 + t * (20 - 0.1)
    s = float(np.exp(-0.5 * (0.1 * t + 0.5 * (20 - 0.1) * t * t)))
    sigma = float(np.sqrt(1 - s * s))

    def ours_score():
        return g.score(x, s, sigma)

    def ref_score():
        return numpy_score(w, mu, cov, x, s, sigma)

    def ours_step():
        return x - dt * (-0.5 * beta * x - 0.5 * beta * g.score(x, s, sigma))

    def ref_step():
        return x - dt * (-0.5 * beta * x - 0.5 * beta * numpy_score(w, mu, cov, x, s, sigma))

    ours_score(), ref_score()  # warm-up
    print(
        f"K = {args.k}, d = {args.d}, n = {args.n:,}, float64 full covariances, "
        f"{os.cpu_count()} CPUs, latentgeo threads = {args.threads or 'all'}, "
        f"median of {args.repeats}"
    )
    head = ("task", "latentgeo (ms)", "numpy (ms)", "speed-up", "max |diff|")
    print("{:<12} {:>15} {:>11} {:>9} {:>11}".format(*head))
    for name, ours, ref in (("score", ours_score, ref_score), ("euler step", ours_step, ref_step)):
        t_ours, a = median_time(ours, args.repeats)
        t_ref, b = median_time(ref, args.repeats)
        diff = float(np.max(np.abs(a - b)))
        print(
            f"{name:<12} {t_ours * 1e3:>15.1f} {t_ref * 1e3:>11.1f} {t_ref / t_ours:>8.1f}x "
            f"{diff:>11.2e}"
        )


if __name__ == "__main__":
    main()
