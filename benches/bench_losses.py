"""Benchmark: EXACT expected accuracy (value and gradient) against what a user would otherwise run.

- latentgeo ``exact_accuracy(..., return_grad=True)`` on numpy (adaptive Gauss-Hermite, 32 nodes),
  and on torch with autograd when torch is installed.
- The EXACT reference's estimator re-implemented in numpy: Genz separation of variables with
  plain Monte Carlo, 16 samples per example (``sample_size=16`` in ivan-chai/exact), value only.
- ``scipy.stats.multivariate_normal.cdf`` with covariance ``I + 11^T`` (Genz's quasi-Monte-Carlo
  integrator), one example at a time, value only; run on the first 64 examples and scaled.

Every value is compared with latentgeo at 100 nodes (probabilities over all labels sum to 1
within 1e-15 there): the table reports the worst absolute error of A over the batch.

    python benches/bench_losses.py                  # batch 1024, C = 10, 100, 1000
    python benches/bench_losses.py --batch 256 --classes 10 --repeats 3
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import special, stats
from timing import median_time

from latentgeo.losses import exact_accuracy

try:  # optional peer
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    torch = None


def genz_mc(logits, labels, sigma, n_samples=16, seed=0):
    """P(D > 0), D ~ N(Delta / sigma, I + 11^T), by Genz's sequential conditioning with plain
    Monte Carlo (the reference's estimator; variables sorted smallest gap first)."""
    rng = np.random.default_rng(seed)
    b, c = logits.shape
    f_y = np.take_along_axis(logits, labels[:, None], axis=1)
    gaps = (f_y - logits) / sigma
    np.put_along_axis(gaps, labels[:, None], np.inf, axis=1)  # the label's own gap goes last
    delta = np.sort(gaps, axis=1)[:, :-1]
    m = c - 1
    # Cholesky factor of I + 11^T: L[i, j] = 1 / sqrt((j + 1) (j + 2)) below the diagonal,
    # L[i, i] = sqrt((i + 2) / (i + 1)).
    j = np.arange(m)
    off = 1.0 / np.sqrt((j + 1.0) * (j + 2.0))
    diag = np.sqrt((j + 2.0) / (j + 1.0))
    est = np.zeros(b)
    for _ in range(n_samples):
        w = rng.random((b, m))
        acc = np.zeros(b)  # sum_{k < i} L[i, k] y_k, identical for every i > k
        prob = np.ones(b)
        for i in range(m):
            # P(D_i > 0 | previous) with D_i = delta_i + acc + diag_i y_i.
            p = special.ndtr((delta[:, i] + acc) / diag[i])
            prob *= p
            u = np.clip(w[:, i] * p, 1e-300, 1.0)
            y = -special.ndtri(u)  # y_i > -(delta_i + acc) / diag_i
            y = np.clip(y, -5.0, 5.0)
            acc = acc + off[i] * y
        est += prob
    return est / n_samples


def scipy_mvn(logits, labels, sigma):
    out = []
    for f, y in zip(logits, labels):
        a = (f[y] - np.delete(f, y)) / sigma
        m = len(a)
        out.append(stats.multivariate_normal(mean=-a, cov=np.eye(m) + 1.0, seed=0).cdf(np.zeros(m)))
    return np.array(out)


def run_case(c, args):
    """Print the table rows of C = c classes."""
    rng = np.random.default_rng(c)
    logits = rng.normal(scale=2.0, size=(args.batch, c))
    labels = rng.integers(c, size=args.batch)
    ref = exact_accuracy(logits, labels, args.sigma, n_nodes=100)

    def row(name, secs, vals, grad, base):
        err = float(np.max(np.abs(vals - ref[: len(vals)])))
        ratio = f"{secs / base:.2f}x" if base else "1.00x"
        print(f"| {c} | {name} | {secs * 1e3:.1f} | {ratio} | {err:.1e} | {grad} |", flush=True)

    t_ours, (a, _) = median_time(
        lambda: exact_accuracy(logits, labels, args.sigma, return_grad=True), args.repeats
    )
    row("latentgeo numpy (32 nodes)", t_ours, a, "closed form", None)
    t_train, (a_train, _) = median_time(
        lambda: exact_accuracy(logits, labels, args.sigma, n_nodes="train", return_grad=True),
        args.repeats,
    )
    row('latentgeo numpy, n_nodes="train" (20)', t_train, a_train, "closed form", t_ours)
    err_train = float(np.max(np.abs(a_train - ref)))
    if torch is not None:
        tl, tlab = torch.tensor(logits), torch.tensor(labels)

        def torch_run():
            x = tl.clone().requires_grad_(True)
            acc = exact_accuracy(x, tlab, args.sigma)
            acc.sum().backward()
            return acc.detach().numpy()

        secs, vals = median_time(torch_run, args.repeats)
        row("latentgeo on torch (autograd)", secs, vals, "autograd", t_ours)
    secs, vals = median_time(lambda: genz_mc(logits, labels, args.sigma), args.repeats)
    row("Genz plain MC, 16 samples (reference)", secs, vals, "no", t_ours)
    t256, v256 = median_time(lambda: genz_mc(logits, labels, args.sigma, 256), 1)
    row("Genz plain MC, 256 samples", t256, v256, "no", t_ours)
    # Equal error: the MC error falls as 1 / sqrt(samples) (checked by the 16 and 256 rows), so
    # reaching the "train" preset's error takes 256 * (err_256 / err_train)^2 samples.
    err256 = float(np.max(np.abs(v256 - ref)))
    samples = 256 * (err256 / err_train) ** 2
    t_eq = t256 * samples / 256
    print(
        f'| {c} | Genz plain MC at the error of "train" ({samples:.1e} samples, extrapolated) | '
        f'{t_eq * 1e3:.3g} | {t_eq / t_ours:.2g}x ({t_eq / t_train:.2g}x of "train") | '
        f"{err_train:.1e} | no |"
    )
    if c <= 100:
        k = min(64, args.batch)
        secs, vals = median_time(lambda: scipy_mvn(logits[:k], labels[:k], args.sigma), 1)
        row(f"scipy mvn cdf (x {args.batch // k})", secs * args.batch / k, vals, "no", t_ours)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--classes", type=int, nargs="+", default=[10, 100, 1000])
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    print(
        f"batch {args.batch}, sigma {args.sigma}, float64, median of {args.repeats}; "
        f"torch {torch.__version__ if torch is not None else 'not installed'}"
    )
    print("| C | method | ms per batch | vs latentgeo numpy | max abs error of A | gradient |")
    print("|---|---|---|---|---|---|")
    for c in args.classes:
        run_case(c, args)


if __name__ == "__main__":
    main()
