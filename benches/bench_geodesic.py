"""Time latentgeo.geodesic against scipy.sparse.csgraph.dijkstra on a kNN graph.

The graph: exact kNN (latentgeo.knn) of n random Gaussian points in d dimensions, k neighbours,
union-symmetrised (an edge when either point is a kNN of the other), as a float64 CSR matrix.
Both libraries get the same symmetric graph with ``directed=True`` (scipy's ``directed=False``
builds the transpose per call and is slower); latentgeo's ``directed=False``, which symmetrises
internally, is timed too. Reports the median over repeats, ms per source, the speed ratio and
whether the distances agree bitwise. The last line times ``geodesic_neighbors`` (the 100 nearest
nodes of each source, Dijkstra stopped early) on the same graph and sources; its speed-up is
against a full scipy row per source.

    python benches/bench_geodesic.py                     # n = 100,000, 1,000 sources
    python benches/bench_geodesic.py --n 20000 --sources 200 --repeats 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from timing import median_time

import latentgeo


def build_graph(n: int, d: int, k: int, seed: int) -> sp.csr_matrix:
    X = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    g = latentgeo.knn(X, k).to_sparse().astype(np.float64)
    g = g.maximum(g.T).tocsr()
    g.sort_indices()
    return g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--sources", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="latentgeo threads (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--neighbors", type=int, default=100, help="k of the geodesic_neighbors line")
    args = ap.parse_args()

    t0 = time.perf_counter()
    g = build_graph(args.n, args.d, args.k, args.seed)
    print(
        f"graph: n={args.n} d={args.d} k={args.k}, {g.nnz} arcs (union-symmetrised), "
        f"built in {time.perf_counter() - t0:.1f} s"
    )
    src = np.random.default_rng(args.seed + 1).choice(args.n, args.sources, replace=False)
    ns = len(src)

    rows = []

    def report(name, secs):
        rows.append((name, secs))
        print(f"{name:<44} {secs:8.2f} s  {1000 * secs / ns:8.2f} ms/source", flush=True)

    t_sp, want = median_time(lambda: dijkstra(g, directed=True, indices=src), args.repeats)
    report("scipy dijkstra (directed=True)", t_sp)

    def ours(**kw):
        return latentgeo.geodesic(g, src, n_threads=args.threads, **kw)

    t64, got64 = median_time(lambda: ours(directed=True, dtype=np.float64), args.repeats)
    report("latentgeo geodesic f64 (directed=True)", t64)
    equal = bool(np.array_equal(got64, want))
    del got64
    t32, got32 = median_time(lambda: ours(directed=True, dtype=np.float32), args.repeats)
    report("latentgeo geodesic f32 (directed=True)", t32)
    equal32 = bool(np.array_equal(got32, want.astype(np.float32)))
    del got32, want
    tund, _ = median_time(lambda: ours(directed=False, dtype=np.float32), args.repeats)
    report("latentgeo geodesic f32 (directed=False)", tund)
    t1, _ = median_time(
        lambda: latentgeo.geodesic(g, src, directed=True, dtype=np.float64, n_threads=1),
        args.repeats,
    )
    report("latentgeo geodesic f64, 1 thread", t1)
    tnb, (nb_idx, nb_dist) = median_time(
        lambda: latentgeo.geodesic_neighbors(
            g, args.neighbors, sources=src, directed=True, n_threads=args.threads
        ),
        args.repeats,
    )
    report(f"latentgeo geodesic_neighbors k={args.neighbors} f32", tnb)

    # The neighbours are the first k of each full row sorted by (distance, id).
    ref = latentgeo.geodesic(g, src[:20], directed=True, dtype=np.float64)
    nb_equal = True
    for r in range(len(ref)):
        row, nodes = ref[r], np.arange(args.n)
        keep = (nodes != src[r]) & np.isfinite(row)
        order = np.lexsort((nodes[keep], row[keep]))[: args.neighbors]
        nb_equal &= bool(np.array_equal(nb_idx[r, : order.size], nodes[keep][order]))
        nb_equal &= bool(np.array_equal(nb_dist[r, : order.size], row[keep][order].astype("f4")))
    print(
        f"\nmedian of {args.repeats} runs, {ns} sources; bitwise equal to scipy: f64 {equal}, "
        f"f32 {equal32}; neighbours equal to sorted full rows (20 sources): {nb_equal}"
    )
    for name, secs in rows[1:]:
        print(f"speed-up vs scipy, {name}: {t_sp / secs:.2f}x")


if __name__ == "__main__":
    main()
