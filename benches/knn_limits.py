"""Exact kNN against the machine's limit and the peers (issue 18), in one run.

- The machine: numpy's float32 GEMM rate (GFLOP/s) on tiles of the shape the search uses.
- The self-join of n x d float32 points (k = 10): latentgeo, faiss ``IndexFlatL2`` and
  scikit-learn brute force; the GEMM work it needs (the n^2 / 2 pairs of a symmetric self-join
  for latentgeo, n^2 for the others) at the measured rate, and the fraction of the rate reached.
- Few queries against a large database (100 x 200,000 x 384): the same three, and the memory
  each call adds beyond the database (the database is never copied by latentgeo).

Each (tool, job) runs in a fresh subprocess: its peak RSS growth over the input is its own.

    python benches/knn_limits.py                      # self-join 20,000 and 100,000; few-query
    python benches/knn_limits.py --sizes 20000 --repeats 5
    python benches/knn_limits.py --sizes --repeats 9  # the few-query job only
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


def gemm_rate(d: int, repeats: int = 5) -> float:
    """numpy float32 GEMM rate in GFLOP/s on 2048 x d times d x 2048 products."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, d), dtype=np.float32)
    b = rng.standard_normal((d, 2048), dtype=np.float32)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(10):
            a @ b
        times.append(time.perf_counter() - t)
    return 10 * 2 * 2048 * 2048 * d / statistics.median(times) / 1e9


def worker(tool: str, job: str, n: int, d: int, k: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d), dtype=np.float32)
    Q = rng.standard_normal((100, d), dtype=np.float32) if job == "few" else None
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if tool == "latentgeo":
        import latentgeo

        def call(X, Q):
            return latentgeo.knn(X, k, query=Q).indices

    elif tool == "faiss":
        import faiss

        def call(X, Q):
            index = faiss.IndexFlatL2(d)
            index.add(X)
            if Q is None:
                return index.search(X, k + 1)[1][:, 1:]
            return index.search(Q, k)[1]

    elif tool == "sklearn":
        from sklearn.neighbors import NearestNeighbors

        def call(X, Q):
            nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X)
            return nn.kneighbors(Q)[1]

    else:
        raise SystemExit(f"unknown tool {tool}")
    call(X[:500], None if Q is None else Q[:10])  # imports, thread pools: outside the timing
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        idx = call(X, Q)
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": statistics.median(times),
        "extra_mb": (peak - base) / 1024,
        "first_rows": np.asarray(idx[:50]).tolist(),
    }


def run(tool, job, n, d, k, repeats):
    cmd = [sys.executable, __file__, "--worker", tool, job, str(n), str(d), str(k), str(repeats)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(f"{tool} {job} {n}: failed ({res.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="*", default=[20_000, 100_000])
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--database", type=int, default=200_000)
    p.add_argument("--worker", nargs=6)
    a = p.parse_args()
    if a.worker:
        tool, job, n, d, k, reps = a.worker
        print(json.dumps(worker(tool, job, int(n), int(d), int(k), int(reps))))
        return
    rate = gemm_rate(a.d)
    print(f"numpy float32 GEMM: {rate:.0f} GFLOP/s (2048 x {a.d} x 2048, all threads)\n")
    print("| job | tool | median s | vs latentgeo | GEMM work at that rate (s) | fraction of "
          "the rate | extra MB over the input | same first rows |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    jobs = [("self", n) for n in a.sizes] + [("few", a.database)]
    for job, n in jobs:
        reps = a.repeats if (job == "few" or n <= 20_000) else 1
        res = {t: run(t, job, n, a.d, a.k, reps) for t in ("latentgeo", "faiss", "sklearn")}
        ours = res["latentgeo"]
        for tool, r in res.items():
            if r is None:
                continue
            pairs = n * n / 2 if (job == "self" and tool == "latentgeo") else (
                n * n if job == "self" else 100 * n)  # fmt: skip
            work = 2 * pairs * a.d / (rate * 1e9)
            name = f"self-join {n:,}" if job == "self" else f"100 x {n:,} queries"
            print(
                f"| {name} x {a.d} | {tool} | {r['seconds']:.3f} | "
                f"{r['seconds'] / ours['seconds']:.2f}x | {work:.3f} | "
                f"{work / r['seconds']:.0%} | {r['extra_mb']:.0f} | "
                f"{r['first_rows'] == ours['first_rows']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
