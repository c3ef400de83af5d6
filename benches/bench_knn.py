"""Time latentgeo.knn / latentgeo.hubness against scikit-learn's brute-force kNN.

Each measurement runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its
own. Reports medians over repeats, the speed ratio, neighbour agreement and peak memory.

    python benches/bench_knn.py                      # n = 20,000 and 100,000, d = 384, k = 10
    python benches/bench_knn.py --sizes 20000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np


def make_data(n: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)


def worker(tool: str, n: int, d: int, k: int, out: str | None) -> dict:
    X = make_data(n, d)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if tool == "latentgeo":
        import latentgeo

        res = latentgeo.knn(X, k)
        idx, dist = res.indices, res.distances
    elif tool == "latentgeo-hubness":
        import latentgeo

        rep = latentgeo.hubness(X, k)
        idx = dist = None
        _ = rep.skewness
    elif tool == "sklearn":
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X)
        dist, idx = nn.kneighbors()
    elif tool == "sklearn-hubness":
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X)
        dist, idx = nn.kneighbors()
        nk = np.bincount(idx.ravel(), minlength=n)
        from scipy.stats import skew

        _ = skew(nk)
    else:
        raise SystemExit(f"unknown tool {tool}")
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if out and idx is not None:
        np.savez(out, idx=idx, dist=dist)
    return {
        "seconds": secs,
        "peak_mb": peak / 1024,
        "data_mb": X.nbytes / 2**20,
        "extra_mb": (peak - base) / 1024,
    }


def run(tool, n, d, k, out=None) -> dict:
    cmd = [sys.executable, __file__, "--worker", tool, "--n", str(n), "--d", str(d), "--k", str(k)]
    if out:
        cmd += ["--out", out]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def agreement(a: str, b: str) -> tuple[float, float]:
    """Fraction of rows with identical neighbour sets, and of rows equal up to distance ties."""
    x, y = np.load(a), np.load(b)
    same = np.mean([set(p) == set(q) for p, q in zip(x["idx"], y["idx"])])
    # Rows that differ only where the k-th distances tie (within float32 rounding).
    close = np.allclose(np.sort(x["dist"], 1), np.sort(y["dist"], 1), rtol=1e-4, atol=1e-4)
    return float(same), float(close)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker")
    p.add_argument("--n", type=int)
    p.add_argument("--out")
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.n, a.d, a.k, a.out)))
        return
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.sizes:
            reps = a.repeats if n <= 20_000 else 1
            res = {}
            for tool in ("latentgeo", "sklearn", "latentgeo-hubness", "sklearn-hubness"):
                out = f"{tmp}/{tool}-{n}.npz" if tool in ("latentgeo", "sklearn") else None
                runs = [run(tool, n, a.d, a.k, out) for _ in range(reps)]
                res[tool] = {
                    "median_s": statistics.median(r["seconds"] for r in runs),
                    "peak_mb": max(r["peak_mb"] for r in runs),
                    "data_mb": runs[0]["data_mb"],
                }
                print(f"n={n} {tool}: {res[tool]}", file=sys.stderr)
            same, close = agreement(f"{tmp}/latentgeo-{n}.npz", f"{tmp}/sklearn-{n}.npz")
            rows.append((n, res, same, close, reps))
    print(f"\nd={a.d}, k={a.k}, float32, medians; peak = max resident set of the process\n")
    print(
        "| n | task | latentgeo (s) | scikit-learn (s) | speed-up | peak MB latentgeo / sklearn "
        "(data MB) | same neighbour sets | repeats |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n, res, same, close, reps in rows:
        for task, ours, theirs in (
            ("knn", "latentgeo", "sklearn"),
            ("hubness", "latentgeo-hubness", "sklearn-hubness"),
        ):
            o, t = res[ours], res[theirs]
            print(
                f"| {n:,} | {task} | {o['median_s']:.2f} | {t['median_s']:.2f} | "
                f"{t['median_s'] / o['median_s']:.1f}x | {o['peak_mb']:.0f} / {t['peak_mb']:.0f} "
                f"({o['data_mb']:.0f}) | {same:.4f}{' (distances equal)' if close else ''} | "
                f"{reps} |"
            )


if __name__ == "__main__":
    main()
