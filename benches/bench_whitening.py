"""Time latentgeo.Whitening against scikit-learn's PCA(whiten=True).

Both fit on X and transform X (beta = gamma = 1, k columns). latentgeo accumulates the covariance
in float64 blocks and eigen-decomposes it; scikit-learn is run with its default solver and with
``svd_solver="covariance_eigh"`` (the same algorithm, scikit-learn >= 1.5). Reports the median of
repeats, the ratio, the tracemalloc peak (numpy reports its buffers to tracemalloc) and the
largest difference of the outputs from latentgeo's after column signs and the 1/N vs 1/(N-1)
scale are matched (with float32 input scikit-learn's covariance_eigh solver, the default for
n >> d, accumulates the covariance in float32, so its trailing components differ visibly).

    python benches/bench_whitening.py                       # 20,000 x 384 and 100,000 x 768
    python benches/bench_whitening.py --sizes 5000x128 --repeats 5 --k 64 --dtype float64
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np


def make_data(n: int, d: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """Anisotropic data with an offset, like sentence embeddings."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(3.0, 0.05, d)
    return (rng.standard_normal((n, d)) * scales + rng.normal(size=d)).astype(dtype)


def run(tool: str, X: np.ndarray, k: int) -> np.ndarray:
    if tool == "latentgeo":
        from latentgeo import Whitening

        return Whitening(n_components=k).fit(X).transform(X)
    if tool == "latentgeo-chunks":
        from latentgeo import Whitening

        w = Whitening(n_components=k)
        for chunk in np.array_split(X, 10):
            w.partial_fit(chunk)
        return w.transform(X)
    from sklearn.decomposition import PCA

    solver = "covariance_eigh" if tool == "sklearn-eigh" else "auto"
    return PCA(n_components=k, whiten=True, svd_solver=solver).fit_transform(X)


def measure(tool: str, X: np.ndarray, k: int, repeats: int):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run(tool, X, k)
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    run(tool, X, k)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak / 2**20, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["20000x384", "100000x768"])
    ap.add_argument("--k", type=int, default=None, help="columns kept (default: d)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = ap.parse_args()
    tools = ["latentgeo", "latentgeo-chunks", "sklearn", "sklearn-eigh"]
    print("| n x d | k | tool | median s | ratio vs latentgeo | tracemalloc peak MB | max diff |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        n, d = (int(v) for v in size.lower().split("x"))
        k = d if args.k is None else args.k
        X = make_data(n, d, dtype=np.dtype(args.dtype))
        results = {}
        for tool in tools:
            try:
                results[tool] = measure(tool, X, k, args.repeats)
            except (ImportError, ValueError) as exc:  # sklearn missing or too old for the solver
                print(f"| {size} | {k} | {tool} | skipped ({exc}) | | | |")
        base, _, ref = results["latentgeo"]
        for tool, (secs, peak, out) in results.items():
            Z = out.astype(np.float64)
            if tool.startswith("sklearn"):
                Z = Z * np.sqrt(n / (n - 1))  # sklearn normalises by 1/(n - 1)
            signs = np.sign(np.einsum("ij,ij->j", Z, ref.astype(np.float64)))
            diff = float(np.abs(Z * signs - ref).max())
            print(
                f"| {size} | {k} | {tool} | {secs:.3f} | {secs / base:.2f}x | {peak:.0f} | "
                f"{diff:.1e} |"
            )


if __name__ == "__main__":
    main()
