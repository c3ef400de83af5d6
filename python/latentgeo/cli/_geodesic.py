"""``latentgeo geodesic`` (and the audit's ``--no-geodesic`` flag)."""

from __future__ import annotations

import argparse
import contextlib
from typing import List, Optional

import numpy as np

from ..geodesics import geodesic, geodesic_scores, summarize
from ..neighbors import COMPONENT_POLICIES, connected_components, knn_graph
from ._dask import add_dask_options, dask_client
from ._io import (
    CLIError,
    _add_common,
    _add_input,
    _AtomicOutput,
    _describe,
    _print_json,
    _use_progress,
    load_matrix,
)

#: Points listed by ``latentgeo geodesic --centre`` when --top is not given.
GEODESIC_TOP = 10


def _parse_sources(text: str) -> List[int]:
    """``"0,5,9"`` -> ``[0, 5, 9]`` (order and repeats kept: one output row each)."""
    try:
        ids = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid source list {text!r}: use node ids such as 0,5,9"
        ) from None
    if any(i < 0 for i in ids):
        raise argparse.ArgumentTypeError(f"source ids must be >= 0, got {text!r}")
    return ids


def _finite_summary(values: np.ndarray) -> dict:
    """``reachable`` count and min/median/max of the finite entries (None when there are none)."""
    f = values[np.isfinite(values)]
    if f.size == 0:
        return {"reachable": 0, "min": None, "median": None, "max": None}
    return {
        "reachable": int(f.size),
        "min": float(f.min()),
        "median": float(np.median(f)),
        "max": float(f.max()),
    }


def _cmd_geodesic(args: argparse.Namespace) -> int:
    if args.sources is None and (args.scheduler is not None or args.workers is not None):
        raise CLIError("--scheduler and --workers apply to --sources (not to --centre)")
    with contextlib.ExitStack() as stack:
        out = None if args.out is None else stack.enter_context(_AtomicOutput(args.out))
        args.client = stack.enter_context(dask_client(args))
        return _run_geodesic(args, out)


def _geodesic_rows(g, src, X, args, progress):
    """Geodesic rows of the sources, on the Dask client when there is one."""
    opts = dict(dtype=np.float64, policy=args.policy, X=X, metric=args.metric)
    if args.client is None:
        return geodesic(g, src, n_threads=args.threads, progress=progress, **opts)
    from ..scale import geodesic as dask_geodesic

    return dask_geodesic(g, src, n_threads=args.threads, **opts).compute(scheduler=args.client)


def _run_geodesic(args: argparse.Namespace, out: Optional[_AtomicOutput]) -> int:
    X, info = load_matrix(args.file, args.key)
    n = X.shape[0]
    g = knn_graph(X, args.k, metric=args.metric, n_threads=args.threads)
    n_comp, labels = connected_components(g)
    res = {
        "input": info,
        "k": args.k,
        "metric": args.metric,
        "policy": args.policy,
        "n_components": int(n_comp),
        "largest_component": int(np.bincount(labels).max()),
    }
    progress = _use_progress(args, X)
    if args.sources is not None:
        src = np.array(args.sources, dtype=np.int64)
        if args.top is not None and not 1 <= args.top < n:
            raise CLIError(f"--top must be between 1 and {n - 1} (the points but the source)")
        dist = _geodesic_rows(g, src, X, args, progress)
        rows = []
        for r, s in enumerate(src.tolist()):
            others = np.delete(dist[r], s)  # the source itself (distance 0) left out
            row = {"source": s, **_finite_summary(others)}
            if args.top is not None:
                d = dist[r].copy()
                d[s] = np.inf
                order = np.argsort(d, kind="stable")[: args.top]  # ties: lower index first
                order = order[np.isfinite(d[order])]
                row["nearest"] = [{"index": int(j), "distance": float(d[j])} for j in order]
            rows.append(row)
        res["sources"] = rows
        saved = dist.astype(np.float32)
    else:
        centre = X.mean(axis=0, dtype=np.float64)
        m = min(GEODESIC_TOP, n) if args.top is None else args.top
        kw = dict(metric=args.metric, graph=g, policy=args.policy, n_threads=args.threads)
        scores, dist = geodesic_scores(X, centre, args.k, return_distances=True, **kw)
        top = summarize(X, m, centre=centre, k=args.k, **kw)
        res["centre"] = args.centre
        res.update(_finite_summary(dist))
        res["top"] = [
            {"index": int(i), "score": float(scores[i]), "distance": float(dist[i])} for i in top
        ]
        saved = scores
    if out is not None:
        out.commit(saved)
    res["out"] = None if out is None else str(out.path)
    if args.json:
        _print_json(res)
        return 0
    print(_describe(info))
    print(
        f"k-NN union graph: k={args.k}, {args.metric}, {n_comp} connected component(s) "
        f"(largest {res['largest_component']} of {n}), policy {args.policy}"
    )

    def fmt(v):
        return "-" if v is None else f"{v:.4g}"

    if args.sources is not None:
        for row in res["sources"]:
            print(
                f"source {row['source']}: {row['reachable']} of {n - 1} reachable, distance "
                f"min {fmt(row['min'])}, median {fmt(row['median'])}, max {fmt(row['max'])}"
            )
            if "nearest" in row:
                near = ", ".join(f"{e['index']} ({e['distance']:.4g})" for e in row["nearest"])
                print(f"  nearest: {near or '-'}")
    else:
        print(
            f"centre {args.centre}: {res['reachable']} of {n} reachable, distance min "
            f"{fmt(res['min'])}, median {fmt(res['median'])}, max {fmt(res['max'])}"
        )
        print(f"top {len(res['top'])} by geodesic score:")
        for e in res["top"]:
            print(f"  {e['index']}  score {e['score']:.4g}  distance {e['distance']:.4g}")
    if out is not None:
        what = f"{saved.shape[0]} x {n} float32 distances" if saved.ndim == 2 else f"{n} scores"
        print(f"wrote {res['out']} ({what})")
    return 0


def _add_geodesic_parser(sub) -> None:
    p = sub.add_parser(
        "geodesic",
        help="geodesic distances on the k-NN graph, or GeoSumm centre scores",
        description="Build the k-NN union graph of the rows (edges weighted by distance) and "
        "report shortest-path (geodesic) distances from --sources, or the GeoSumm geodesic "
        "scores 1/d(centre, j) from the mean vector (--centre mean) with the top points.",
    )
    _add_input(p)
    _add_common(p, k=10)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--sources", type=_parse_sources, metavar="IDS", help="source rows, e.g. 0,5,9"
    )
    what.add_argument("--centre", choices=("mean",), help="score every row against the mean")
    p.add_argument(
        "--top", type=int, metavar="M",
        help=f"--centre: list the M best rows (default {GEODESIC_TOP}); --sources: list the M "
        "geodesically nearest rows of each source",
    )  # fmt: skip
    p.add_argument(
        "--policy", choices=COMPONENT_POLICIES, default="inf",
        help="disconnected graphs: inf (default), raise, connect, largest",
    )  # fmt: skip
    p.add_argument(
        "--out", metavar="PATH",
        help="save the distances (--sources: float32, one row per source) or the scores "
        "(--centre: float64) to this .npy file",
    )  # fmt: skip
    add_dask_options(p)
    p.set_defaults(func=_cmd_geodesic)
    # The audit section is on by default: `latentgeo audit --no-geodesic` leaves it out.
    sub.choices["audit"].add_argument(
        "--no-geodesic", dest="geodesic", action="store_false",
        help="leave out the 'geodesic' section (components of the k-NN graph and geodesic / "
        "direct distance ratios for a sample of pairs)",
    )  # fmt: skip
