"""Time latentgeo.geodesic against scipy.sparse.csgraph.dijkstra on a kNN graph.

The graph: exact kNN (latentgeo.knn) of n random Gaussian points in d dimensions, k neighbours,
union-symmetrised (an edge when either point is a kNN of the other), as a float64 CSR matrix.
Both libraries get the same symmetric graph with ``directed=True`` (scipy's ``directed=False``
builds the transpose per call and is slower); latentgeo's ``directed=False``, which symmetrises
internally, is timed too. Reports the median over repeats of the wall time and of the process's
CPU time (all threads), in ms per source, the speed ratios and whether the distances agree
bitwise. Two rows time the same graph plus one zero-weight self-loop
(no distance changes, but the bucket queue needs every weight > 0, so the binary heap serves, as
on a kNN graph with duplicate points). The last line times ``geodesic_neighbors`` (the 100 nearest
nodes of each source, Dijkstra stopped early) on the same graph and sources; its speed-up is
against a full scipy row per source.

rustworkx is the second peer (skipped with a message when it is not installed; it is not a
dependency of latentgeo). It has no source subset (``all_pairs_dijkstra_path_lengths`` runs all
n sources), so it is timed as a loop of ``dijkstra_shortest_path_lengths`` over the first
``--rx-sources`` sources, on an undirected ``PyGraph`` holding each edge once with its float
weight, including the dict -> numpy row conversion (graph construction excluded); its ms per
source is scaled to the full source count in the ratio. Dijkstra uses no BLAS.

    python benches/bench_geodesic.py                     # n = 100,000, 1,000 sources
    python benches/bench_geodesic.py --n 20000 --sources 200 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

import latentgeo


def build_graph(n: int, d: int, k: int, seed: int) -> sp.csr_matrix:
    X = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    g = latentgeo.knn(X, k).to_sparse().astype(np.float64)
    g = g.maximum(g.T).tocsr()
    g.sort_indices()
    return g


def median_time(fn, repeats: int):
    """Run ``fn()`` `repeats` times: ((median wall seconds, median CPU seconds of the process,
    all threads), the last result). The CPU time says how much work a run did, which the wall
    time of a shared machine does not."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return (statistics.median(walls), statistics.median(cpus)), result


def machine() -> str:
    """CPU model name and core count (lscpu's "Model name" line on Linux)."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def rustworkx_rows(g: sp.csr_matrix, src: np.ndarray, repeats: int):
    """(median seconds for the rows of `src`, the rows as a float64 array), or None when
    rustworkx is not installed."""
    try:
        import rustworkx as rx
    except ImportError:
        print("rustworkx: not installed, peer skipped (pip install rustworkx)")
        return None
    n = g.shape[0]
    upper = sp.triu(g, k=1).tocoo()  # the graph is symmetric: each edge once
    G = rx.PyGraph(multigraph=False)
    G.add_nodes_from(range(n))
    G.add_edges_from(list(zip(upper.row.tolist(), upper.col.tolist(), upper.data.tolist())))

    def run():
        rows = np.full((len(src), n), np.inf)
        for r, s in enumerate(src):
            lengths = rx.dijkstra_shortest_path_lengths(G, int(s), edge_cost_fn=float)
            rows[r, np.fromiter(lengths.keys(), np.int64, len(lengths))] = np.fromiter(
                lengths.values(), np.float64, len(lengths)
            )
            rows[r, s] = 0.0
        return rows

    return median_time(run, repeats)


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
    ap.add_argument("--rx-sources", type=int, default=50, help="sources timed for rustworkx")
    args = ap.parse_args()
    print(f"machine: {machine()}; {load()}; Dijkstra uses no BLAS")

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
        wall, cpu = secs
        rows.append((name, secs))
        print(
            f"{name:<50} {1000 * wall / ns:8.2f} ms/source wall  {1000 * cpu / ns:8.2f} ms CPU",
            flush=True,
        )

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
    got32_ref = want.astype(np.float32)
    equal32 = bool(np.array_equal(got32, got32_ref))
    del got32, want
    tund, _ = median_time(lambda: ours(directed=False, dtype=np.float32), args.repeats)
    report("latentgeo geodesic f32 (directed=False)", tund)
    t1, _ = median_time(
        lambda: latentgeo.geodesic(g, src, directed=True, dtype=np.float64, n_threads=1),
        args.repeats,
    )
    report("latentgeo geodesic f64, 1 thread", t1)
    t1f, _ = median_time(
        lambda: latentgeo.geodesic(g, src, directed=True, dtype=np.float32, n_threads=1),
        args.repeats,
    )
    report("latentgeo geodesic f32, 1 thread", t1f)
    # One zero-weight self-loop changes no distance but rules out the bucket queue (which needs
    # every weight > 0): the heap's time, as on a kNN graph with duplicate points.
    gz = g.tolil()
    gz[0, 0] = 1.0
    gz = gz.tocsr()
    gz.data[gz.indptr[0] + np.flatnonzero(gz.indices[gz.indptr[0] : gz.indptr[1]] == 0)] = 0.0
    assert gz.nnz == g.nnz + 1 and (gz.data == 0).sum() == 1
    th, goth = median_time(
        lambda: latentgeo.geodesic(
            gz, src, directed=True, dtype=np.float32, n_threads=args.threads
        ),
        args.repeats,
    )
    report("latentgeo f32, heap (a zero-weight arc)", th)
    heap_equal = bool(np.array_equal(goth, got32_ref))
    del goth, got32_ref
    th1, _ = median_time(
        lambda: latentgeo.geodesic(gz, src, directed=True, dtype=np.float32, n_threads=1),
        args.repeats,
    )
    report("latentgeo f32, heap (a zero-weight arc), 1 thread", th1)
    tnb, (nb_idx, nb_dist) = median_time(
        lambda: latentgeo.geodesic_neighbors(
            g, args.neighbors, sources=src, directed=True, n_threads=args.threads
        ),
        args.repeats,
    )
    report(f"latentgeo geodesic_neighbors k={args.neighbors} f32", tnb)

    # The neighbours are the first k of each full row sorted by (distance, id).
    ref = latentgeo.geodesic(g, src[:20], directed=True, dtype=np.float64)
    rx_src = src[: args.rx_sources]
    rx_equal = None
    rx = rustworkx_rows(g, rx_src, args.repeats)
    if rx is not None:
        t_rx, rx_rows = rx
        t_rx = tuple(t * ns / len(rx_src) for t in t_rx)  # scaled to all sources
        report(f"rustworkx loop ({len(rx_src)} sources, scaled)", t_rx)
        want_rx = dijkstra(g, directed=True, indices=rx_src)
        rx_equal = bool(np.array_equal(rx_rows, want_rx))
        del rx_rows, want_rx
    nb_equal = True
    for r in range(len(ref)):
        row, nodes = ref[r], np.arange(args.n)
        keep = (nodes != src[r]) & np.isfinite(row)
        order = np.lexsort((nodes[keep], row[keep]))[: args.neighbors]
        nb_equal &= bool(np.array_equal(nb_idx[r, : order.size], nodes[keep][order]))
        nb_equal &= bool(np.array_equal(nb_dist[r, : order.size], row[keep][order].astype("f4")))
    print(
        f"\nmedian of {args.repeats} runs, {ns} sources; bitwise equal to scipy: f64 {equal}, "
        f"f32 {equal32}; neighbours equal to sorted full rows (20 sources): {nb_equal}; "
        f"heap rows equal: {heap_equal}; rustworkx rows equal to scipy's: {rx_equal}; {load()}"
    )
    print("speed-up vs scipy (wall time; CPU time of all threads):")
    for name, (wall, cpu) in rows[1:]:
        print(f"  {name:<50} {t_sp[0] / wall:6.2f}x  {t_sp[1] / cpu:6.2f}x")
    if rx is not None:
        threads = args.threads or "all"
        print(
            f"rustworkx loop vs latentgeo f32 ({threads} threads): {t_rx[0] / t32[0]:.1f}x slower "
            f"(wall), {t_rx[1] / t32[1]:.1f}x (CPU)"
        )


if __name__ == "__main__":
    main()
