"""Approximate kNN backends (usearch, faiss HNSW, pynndescent) against exact kNN, and hubness.

Each measurement runs in a fresh subprocess, so its peak resident memory (ru_maxrss) is its own.
The data is clustered (many low-rank Gaussian clusters, like sentence embeddings), float32, and
is written once to a .npy file in --workdir. Recall@k is measured on a seeded sample of rows
against latentgeo's exact kNN (self excluded on both sides).

    python benches/ann_backends.py --n 100000                       # the three backends
    python benches/ann_backends.py --n 100000 --tools exact         # exact kNN, for the ratio
    python benches/ann_backends.py --n 100000 --tools latentgeo-approx,exact,latentgeo-approx-f32
    python benches/ann_backends.py --n 1000000 --tools latentgeo-approx   # knn + hubness, 10^6
    python benches/ann_backends.py --n 1000000 --tools latentgeo-approx --ef 256   # larger ef
    python benches/ann_backends.py --n 1000000 --tools skew-subset     # approx vs exact skewness
                                                                       # on 10^5 of those rows
    python benches/ann_backends.py --n 1000000 --tools exact   # once (~40 min): exact scores,
                                             # and later runs report recall over all rows

Not run in CI (minutes per row on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def clustered(n: int, d: int, seed: int = 0, n_clusters: int = 0, rank: int = 32) -> np.ndarray:
    """`n` float32 points in `n_clusters` (default n // 1000, at least 8) Gaussian clusters, each
    spread over a random `rank`-dimensional subspace, plus a little isotropic noise."""
    rng = np.random.default_rng(seed)
    n_clusters = n_clusters or max(8, n // 1000)
    labels = rng.integers(0, n_clusters, size=n)
    X = np.empty((n, d), dtype=np.float32)
    for c in range(n_clusters):
        rows = np.flatnonzero(labels == c)
        center = rng.standard_normal(d)
        basis = rng.standard_normal((rank, d)) / np.sqrt(rank)
        z = rng.standard_normal((rows.size, rank)) * rng.uniform(0.3, 0.8)
        noise = rng.standard_normal((rows.size, d)) * 0.05
        X[rows] = center + z @ basis + noise
    return X


def data_file(workdir: str, n: int, d: int) -> str:
    path = os.path.join(workdir, f"clustered_{n}x{d}.npy")
    if not os.path.exists(path):
        os.makedirs(workdir, exist_ok=True)
        np.save(path + ".tmp.npy", clustered(n, d))
        os.replace(path + ".tmp.npy", path)
    return path


def truth_file(workdir: str, path: str, k: int, sample: int) -> str:
    """Exact neighbours of a seeded sample of rows (computed once, self excluded)."""
    out = path[:-4] + f".truth{k}x{sample}.npz"
    if not os.path.exists(out):
        import latentgeo

        X = np.load(path, mmap_mode="r")
        rows = np.sort(np.random.default_rng(1).choice(X.shape[0], sample, replace=False))
        res = latentgeo.knn(np.asarray(X), k + 1, query=np.asarray(X[rows]))
        idx = np.array([[j for j in r if j != i][:k] for i, r in zip(rows, res.indices)])
        np.savez(out, rows=rows, idx=idx)
    return out


def recall(idx: np.ndarray, truth: str) -> float:
    t = np.load(truth)
    got = idx[t["rows"]]
    k = t["idx"].shape[1]
    return float(np.mean([len(set(a[:k]) & set(b)) / k for a, b in zip(got, t["idx"])]))


def _drop_self(idx: np.ndarray, k: int) -> np.ndarray:
    rows = np.arange(idx.shape[0])[:, None]
    keep = idx != rows
    return np.array([r[m][:k] for r, m in zip(idx, keep)])


def exact_file(path: str) -> str:
    """Where the exact tool keeps its neighbours (an hour of two cores at 10^6)."""
    return path[:-4] + ".exact-all.idx.npy"


def full_recall(idx: np.ndarray, exact: np.ndarray) -> float:
    """Recall@k over every row against the exact neighbours."""
    hits = [
        (idx[s : s + 65536, :, None] == exact[s : s + 65536, None, :]).any(axis=2).sum()
        for s in range(0, idx.shape[0], 65536)
    ]
    return float(sum(hits) / idx.size)


def worker(tool: str, path: str, k: int, threads: int, ef: int = 0) -> dict:
    X = np.load(path)
    n, d = X.shape
    t0 = time.perf_counter()
    c0 = time.process_time()
    t_build = None
    info: dict = {}
    if tool == "usearch":
        from usearch.index import Index

        index = Index(
            ndim=d,
            metric="l2sq",
            dtype="f32",
            connectivity=16,
            expansion_add=128,
            expansion_search=64,
        )
        index.add(np.arange(n), X, threads=threads)
        t_build = time.perf_counter() - t0
        matches = index.search(X, k + 1, threads=threads)
        idx = _drop_self(np.asarray(matches.keys, dtype=np.int64), k)
    elif tool == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
        index = faiss.IndexHNSWFlat(d, 16)
        index.hnsw.efConstruction = 128
        index.add(X)
        t_build = time.perf_counter() - t0
        index.hnsw.efSearch = 64
        _, idx = index.search(X, k + 1)
        idx = _drop_self(idx, k)
    elif tool == "pynndescent":
        from pynndescent import NNDescent

        index = NNDescent(X, n_neighbors=k + 1, random_state=0, n_jobs=threads, low_memory=True)
        t_build = time.perf_counter() - t0
        idx = _drop_self(index.neighbor_graph[0], k)
    elif tool in ("latentgeo-approx", "latentgeo-approx-f32"):
        import latentgeo

        opts = {"index_dtype": "float32"} if tool.endswith("f32") else {}
        if ef:
            opts["expansion_search"] = ef
        # hubness(X, k, method="approximate") is this kNN plus counting; both are timed.
        res = latentgeo.knn(X, k, method="approximate", n_threads=threads, method_options=opts)
        t_build = time.perf_counter() - t0
        rep = latentgeo.hubness(res, k)
        idx = res.indices
        info = {
            "recall_est": round(res.approx.recall, 4),
            "recall_se": round(res.approx.recall_stderr, 4),
            "skewness": round(rep.skewness, 3),
            "antihubs": round(rep.antihub_occurrence, 4),
            "robinhood": round(rep.robinhood, 4),
        }
    elif tool == "exact":
        import latentgeo

        res = latentgeo.knn(X, k, n_threads=threads)
        rep = latentgeo.hubness(res, k)
        idx = res.indices
        np.save(exact_file(path), idx)  # kept: later runs report their recall over all rows
        info = {
            "skewness": round(rep.skewness, 3),
            "antihubs": round(rep.antihub_occurrence, 4),
            "robinhood": round(rep.robinhood, 4),
        }
    else:
        raise SystemExit(f"unknown tool {tool}")
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "tool": tool,
        "ef": ef or None,
        "n": n,
        "d": d,
        "k": k,
        "seconds": round(secs, 2),
        "cpu_s": round(time.process_time() - c0, 1),  # all threads: robust to a shared machine
        "load": round(os.getloadavg()[0], 1),
        "build_s": None if t_build is None else round(t_build, 2),
        "peak_mb": round(peak),
        "data_mb": round(X.nbytes / 2**20),
        **info,
    }
    if idx is not None:
        np.save(path[:-4] + f".{tool}.idx.npy", idx)
    return out


def skew_subset(path: str, k: int, threads: int, subset: int) -> dict:
    """Skewness of N_k from approximate and exact kNN on the first `subset` rows (a random
    subset: cluster labels are drawn independently per row)."""
    import latentgeo

    X = np.ascontiguousarray(np.load(path, mmap_mode="r")[:subset])
    out = {"tool": "skew-subset", "n": X.shape[0]}
    for method in ("approximate", "exact"):
        t0, c0 = time.perf_counter(), time.process_time()
        rep = latentgeo.hubness(X, k, method=method, n_threads=threads)
        out[method] = {
            "skewness": round(rep.skewness, 3),
            "seconds": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1),
            "load": round(os.getloadavg()[0], 1),
            "antihubs": round(rep.antihub_occurrence, 4),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample", type=int, default=1000, help="rows checked for recall")
    ap.add_argument("--tools", default="usearch,faiss,pynndescent")
    ap.add_argument("--subset", type=int, default=100_000, help="rows for skew-subset")
    ap.add_argument("--workdir", default="/tmp/latentgeo-ann-bench")
    ap.add_argument("--ef", type=int, default=0, help="latentgeo-approx expansion_search")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    path = data_file(args.workdir, args.n, args.d)
    if args.worker:
        if args.worker == "skew-subset":
            print(json.dumps(skew_subset(path, args.k, args.threads, args.subset)))
        else:
            print(json.dumps(worker(args.worker, path, args.k, args.threads, args.ef)))
        return
    truth = truth_file(args.workdir, path, args.k, args.sample)
    for tool in args.tools.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            tool,
            "--n",
            str(args.n),
            "--d",
            str(args.d),
            "--k",
            str(args.k),
            "--threads",
            str(args.threads),
            "--workdir",
            args.workdir,
            "--ef",
            str(args.ef),
        ]
        res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        idx_file = path[:-4] + f".{tool}.idx.npy"
        if os.path.exists(idx_file) and tool != "skew-subset":
            idx = np.load(idx_file)
            res[f"recall@{args.k}"] = round(recall(idx, truth), 4)
            if tool != "exact" and os.path.exists(exact_file(path)):
                res["recall_all_rows"] = round(full_recall(idx, np.load(exact_file(path))), 4)
            os.remove(idx_file)
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
