"""Scaling of latentgeo.scale (Dask) against the plain single-process calls.

For each job: the plain call on 1 thread, the Dask path on a LocalCluster of 1 worker process x 1
thread (its overhead at the same thread count) and of 2 worker processes x 1 thread (its
speed-up), with a check that the results are the same bits. Also the per-tile cost and the bytes
each kNN task reads, the inputs of the sizing formula in benches/README.md. Not run in CI.

    python benches/dask_scaling.py                            # kNN n = 100,000 x 384, ...
    python benches/dask_scaling.py --n 30000 --jobs knn
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import median_time  # noqa: E402


def same(a, b) -> bool:
    return a.dtype == b.dtype and np.array_equal(np.asarray(a).view(np.uint8), b.view(np.uint8))


def cluster(workers: int):
    import distributed

    c = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    return c, distributed.Client(c, set_as_default=False)


def run_job(job: str, args, tmp: Path):
    """(plain callable, dask builder(client) -> result, equality check, notes)."""
    import latentgeo
    import latentgeo.scale as scale

    rng = np.random.default_rng(0)
    if job == "knn":
        X = rng.standard_normal((args.n, args.d), dtype=np.float32)
        path = tmp / "X.npy"
        np.save(path, X)
        blocks = math.ceil(args.n / args.block_rows)
        notes = {
            "tasks": blocks * (blocks + 1) // 2,  # one per unordered block pair
            "tile": f"{args.block_rows} x {args.block_rows} x {args.d}",
            "MB read per task": 2 * args.block_rows * args.d * 4 / 2**20,
        }
        return (
            lambda: latentgeo.knn(X, args.k, n_threads=1),
            lambda c: scale.knn(path, args.k, block_rows=args.block_rows).compute(scheduler=c),
            lambda a, b: np.array_equal(a.indices, b.indices) and same(a.distances, b.distances),
            notes,
        )
    if job == "unargmax":
        V, d = args.vocab
        W = rng.standard_normal((V, d), dtype=np.float32)
        return (
            lambda: latentgeo.unargmaxable(W, n_threads=1),
            lambda c: scale.unargmaxable(W, block_classes=2048).compute(scheduler=c),
            lambda a, b: np.array_equal(a.status, b.status) and same(a.margin, b.margin),
            {"tasks": math.ceil(V / 2048)},
        )
    if job == "geodesic":
        X = rng.standard_normal((args.graph_n, 32), dtype=np.float32)
        G = latentgeo.knn_graph(X, 10)
        src = np.arange(0, args.graph_n, args.graph_n // args.sources)[: args.sources]
        out = tmp / "rows"

        def plain():  # the rows stored, as a user of a large result would
            D = latentgeo.geodesic(G, src, n_threads=1)
            np.save(tmp / "plain.npy", D)
            return D

        def on_dask(c):  # each worker writes its own row blocks: nothing is gathered
            import dask.array as da

            da.to_npy_stack(out, scale.geodesic(G, src, block_sources=100), axis=0)
            return out

        def stored(a, path):  # read back outside the timing
            files = sorted(path.glob("*.npy"), key=lambda f: int(f.stem))
            return same(a, np.concatenate([np.load(f) for f in files]))

        return (
            plain,
            on_dask,
            stored,
            {"tasks": math.ceil(len(src) / 100), "stored": "npy stack"},
        )
    raise SystemExit(f"unknown job {job}")


def _warm() -> None:
    import latentgeo.scale  # noqa: F401


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", nargs="+", default=["knn", "unargmax", "geodesic"])
    ap.add_argument("--n", type=int, default=100_000, help="kNN points (default 100,000)")
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--block-rows", type=int, default=12_500)
    ap.add_argument("--vocab", type=int, nargs=2, default=(30_522, 384), metavar=("V", "D"))
    ap.add_argument("--graph-n", type=int, default=100_000)
    ap.add_argument("--sources", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for job in args.jobs:
            plain, on_dask, check, notes = run_job(job, args, Path(tmp))
            t_plain, ref = median_time(plain, args.repeats)
            times = {}
            for workers in (1, 2):
                c, client = cluster(workers)
                try:
                    client.run(_warm)  # imports on every worker, outside the timing
                    with client.as_current():  # shared objects are scattered, not in the graph
                        times[workers], got = median_time(
                            lambda f=on_dask, c=client: f(c), args.repeats
                        )
                finally:
                    client.close()
                    c.close()
                assert check(ref, got), f"{job}: the Dask result differs from the plain call"
            rows.append((job, t_plain, times[1], times[2], notes))
            print(f"{job}: done", file=sys.stderr)
    print("| job | plain, 1 thread (s) | dask 1 x 1 (s) | overhead | dask 2 x 1 (s) | "
          "speed-up vs plain | speed-up vs dask 1 x 1 | same bits | notes |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for job, tp, t1, t2, notes in rows:
        extra = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in notes.items())  # fmt: skip
        if job == "knn":  # a self-join does n^2 / 2 pairs: blocks^2 / 2 full B x B tiles
            blocks = math.ceil(args.n / args.block_rows)
            extra += f", s per B x B tile (1 x 1) {t1 / (blocks * blocks / 2):.3g}"
        print(f"| {job} | {tp:.2f} | {t1:.2f} | {100 * (t1 / tp - 1):+.0f} % | {t2:.2f} | "
              f"{tp / t2:.2f}x | {t1 / t2:.2f}x | yes | {extra} |")  # fmt: skip


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"\n(total {time.time() - started:.0f} s)", file=sys.stderr)
