"""Benchmark: latentgeo.unargmaxable vs the reference approach (andreasgrv/unargmaxable).

The reference runs, per class, the braid-reflect heuristic (numpy, start x = w_k, patience 100)
and, when it finds no witness, one LP over all V - 1 rows (here scipy HiGHS in place of Gurobi;
box [-100, 100]^d, Chebyshev form as in `lp_chebyshev`). Running it over a whole vocabulary
takes hours, so it is timed on a sample of classes and extrapolated to V (marked "est."):
`--ref-classes` ordinary classes for the heuristic and `--ref-lp` planted classes for the LP.

Instances (float32) with `--planted` interior rows, each a Dirichlet mix of d/2 other rows
(strictly inside the hull, so unargmaxable): `--kind gaussian` W, or `--kind vocab`, the
vocabulary-like head of ``make_example(kind="softmax")`` (a common offset, anisotropic rows,
log-normal norms; its own under-trained rows left out). `--bias` adds b ~ 0.1 N(0, 1).
`--no-reference` times latentgeo only.

    python benches/bench_unargmax.py                      # 30522x384 and 50257x768
    python benches/bench_unargmax.py --kind vocab --planted 12 [--bias] --no-reference
    python benches/bench_unargmax.py --sizes 5000x128 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from scipy.optimize import linprog

import latentgeo
from latentgeo.datasets import make_example


def instance(V, d, planted, seed=0, kind="gaussian"):
    rng = np.random.default_rng(seed)
    if kind == "vocab":
        n = int(1.02 * V) + 2  # enough trained rows: the under-trained ones are the last n // 100
        W = make_example(n, d, seed=seed, kind="softmax")[:V].copy()
    else:
        W = rng.standard_normal((V, d), dtype=np.float32)
    ids = rng.choice(V, planted, replace=False)
    for k in ids:
        others = rng.choice(np.setdiff1d(np.arange(V), ids), d // 2, replace=False)
        lam = rng.dirichlet(np.ones(d // 2))
        W[k] = (lam @ W[others].astype(np.float64)).astype(np.float32)
    return W, np.sort(ids)


def cached_instance(folder, V, d, planted, kind):
    """:func:`instance`, kept in ``folder`` (when given) for the next run: the vocabulary-like
    head of 50,257 x 768 takes minutes to generate."""
    if folder is None:
        return instance(V, d, planted, kind=kind)
    path = os.path.join(folder, f"{kind}_{V}x{d}_{planted}.npz")
    if os.path.exists(path):
        with np.load(path) as z:
            return z["W"], z["planted"]
    W, ids = instance(V, d, planted, kind=kind)
    os.makedirs(folder, exist_ok=True)
    np.savez(path, W=W, planted=ids)
    return W, ids


def reference_heuristic(W, b, k, patience=100):
    """`candidate_is_bounded` / braid_swap: True when a witness is found."""
    x = W[k].astype(np.float64)
    Wd = W.astype(np.float64, copy=False)
    for _ in range(patience + 1):
        z = Wd @ x + b
        j = int(np.argmax(z))
        if j == k:
            return True
        a = Wd[k] - Wd[j]
        nn = a @ a
        if nn == 0:
            return False
        x = x - 2 * (a @ x + b[k] - b[j]) / nn * a
    return False


def reference_lp(W, b, k, box=100.0, time_limit=None):
    """`lp_chebyshev` with scipy HiGHS: max r s.t. (w_j - w_k).x + ||w_j - w_k|| r <= b_k - b_j."""
    V, d = W.shape
    Wd = W.astype(np.float64)
    A = np.delete(Wd, k, axis=0) - Wd[k]
    norms = np.linalg.norm(A, axis=1)
    A_ub = np.hstack([A, norms[:, None]])
    rhs = b[k] - np.delete(b, k)
    opts = {} if time_limit is None else {"time_limit": float(time_limit)}
    t = time.perf_counter()
    res = linprog(
        np.r_[np.zeros(d), -1.0],
        A_ub=A_ub,
        b_ub=rhs,
        bounds=[(-box, box)] * d + [(1e-8, None)],
        method="highs",
        options=opts,
    )
    return time.perf_counter() - t, res.status, (-res.fun if res.status == 0 else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="30522x384,50257x768")
    ap.add_argument("--planted", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--ref-classes", type=int, default=100)
    ap.add_argument("--ref-lp", type=int, default=1)
    ap.add_argument("--lp-time-limit", type=float, default=600.0)
    ap.add_argument("--kind", choices=("gaussian", "vocab"), default="gaussian")
    ap.add_argument("--bias", action="store_true")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument(
        "--cache",
        default=None,
        help="folder keeping the generated instances (.npz), reused by later runs",
    )
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}, threads: {args.threads or 'all'}")
    for size in args.sizes.split(","):
        V, d = (int(v) for v in size.lower().split("x"))
        W, planted = cached_instance(args.cache, V, d, args.planted, args.kind)
        rng = np.random.default_rng(2)
        b = (0.1 * rng.standard_normal(V)).astype(np.float32) if args.bias else np.zeros(V)
        print(
            f"\n== V = {V}, d = {d}, {args.kind}, float32, {args.planted} planted interior rows"
            f"{', bias' if args.bias else ''} =="
        )
        runs, rep = [], None
        for _ in range(args.repeats):
            t = time.perf_counter()
            rep = latentgeo.unargmaxable(W, b if args.bias else None, n_threads=args.threads)
            runs.append(time.perf_counter() - t)
        med = statistics.median(runs)
        t = time.perf_counter()
        ok = rep.verify()
        t_verify = time.perf_counter() - t
        print(
            f"latentgeo: median {med:.2f} s over {len(runs)} runs "
            f"({', '.join(f'{r:.2f}' for r in runs)})"
        )
        print(
            "  per stage (last run): "
            + ", ".join(f"{s} {rep.timings[s]:.2f} s" for s in ("screen", "heuristic", "lp"))
        )
        print(
            f"  decided: {rep.counts}; unargmaxable {rep.unargmaxable.tolist()} "
            f"(planted {planted.tolist()}); undecided {rep.undecided.size}"
        )
        print(f"  verify(): {ok} in {t_verify:.2f} s")
        if rep.unargmaxable.size:
            supp = [len(rep.certificate(k)[0]) for k in rep.unargmaxable]
            print(f"  certificate supports: {supp}")
        print(f"  report + verify: {med + t_verify:.2f} s")
        if args.no_reference:
            continue

        # Reference: heuristic on a sample of ordinary classes, extrapolated to V.
        rng = np.random.default_rng(1)
        sample = rng.choice(
            np.setdiff1d(np.arange(V), planted), min(args.ref_classes, V), replace=False
        )
        t = time.perf_counter()
        found = sum(reference_heuristic(W, b, int(k)) for k in sample)
        per = (time.perf_counter() - t) / len(sample)
        t = time.perf_counter()
        for k in planted:
            reference_heuristic(W, b, int(k))
        t_planted = time.perf_counter() - t
        ref_heur = per * (V - len(planted)) + t_planted
        print(
            f"reference heuristic: {per * 1e3:.2f} ms/class ({found}/{len(sample)} witnesses), "
            f"planted {t_planted:.2f} s -> est. {ref_heur:.1f} s for all V"
        )
        # Reference: one full LP per class the heuristic left (the planted rows).
        lp_times = []
        for k in planted[: args.ref_lp]:
            secs, status, r = reference_lp(W, b, int(k), time_limit=args.lp_time_limit)
            lp_times.append(secs)
            print(
                f"reference full HiGHS LP, class {k}: {secs:.1f} s, status {status}, "
                f"radius {r if r is None else f'{r:.3g}'}"
            )
        if lp_times:
            per_lp = statistics.median(lp_times)
            total_ref = ref_heur + per_lp * len(planted)
            print(
                f"reference total est. {total_ref:.1f} s "
                f"(LP {per_lp:.1f} s/class x {len(planted)}); "
                f"ratio reference/latentgeo {total_ref / med:.1f}x"
            )


if __name__ == "__main__":
    main()
