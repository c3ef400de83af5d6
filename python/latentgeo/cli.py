"""Command line: ``latentgeo hubness | audit | sample-hubs | unargmax | geodesic | sample``
(``python -m latentgeo``).

``unargmax`` also reads ``.safetensors`` files (see :mod:`latentgeo.weights`). Every other
command reads a 2-D ``.npy`` file (or one array of an ``.npz`` file, chosen with
``--key``) and prints a human-readable report, or JSON with ``--json``. Errors print one line,
``latentgeo: error: ...``, on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np

from . import __version__
from ._validate import as_float_matrix
from .datasets import EXAMPLE_KINDS, make_example
from .geodesic import geodesic
from .geodesic_scores import COMPONENT_POLICIES, geodesic_scores, summarize
from .graph import connected_components, knn_graph
from .hubness import HubnessReport, hubness
from .knn import METRICS
from .reduction import REDUCTIONS
from .sampling import sample_hubs
from .weights import list_tensors, load_weights

__all__ = ["main"]

PROG = "latentgeo"
#: Inputs with at least this many rows get a progress bar (when stderr is a terminal).
PROGRESS_MIN_ROWS = 20_000
#: Hubs listed in JSON output without --full.
TOP_HUBS = 10


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise CLIError instead of printing usage and exiting."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------------------------------
# Input and output.


def load_matrix(path: str, key: Optional[str] = None) -> Tuple[np.ndarray, dict]:
    """Read a 2-D float matrix from a ``.npy`` or ``.npz`` file.

    Parameters
    ----------
    path : str
        The file.
    key : str, optional
        The array to read from an ``.npz`` file (needed when it holds more than one).

    Returns
    -------
    X : ndarray, shape (n, d)
        float32 if stored as float32 or float16, float64 otherwise.
    info : dict
        ``path``, ``key``, ``shape`` and the stored ``dtype``.

    Raises
    ------
    CLIError
        If the file is missing or unreadable, or does not hold a finite 2-D real array.
    """
    p = Path(path)
    if not p.exists():
        raise CLIError(f"no such file: {path}")
    if p.is_dir():
        raise CLIError(f"{path} is a directory, not a .npy or .npz file")
    try:
        loaded = np.load(p, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, BadZipFile, ...
        raise CLIError(f"cannot read {path} as a .npy or .npz file ({exc})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if key is None:
                if len(names) != 1:
                    raise CLIError(f"{path} holds the arrays {names}; choose one with --key")
                key = names[0]
            elif key not in names:
                raise CLIError(f"{path} has no array {key!r}; it holds {names}")
            try:
                arr = loaded[key]
            except ValueError as exc:
                raise CLIError(f"cannot read array {key!r} of {path} ({exc})") from None
        name = f"{path}[{key}]"
    else:
        if key is not None:
            raise CLIError("--key applies only to .npz files")
        arr, name = loaded, str(path)
    info = {"path": str(path), "key": key, "shape": list(arr.shape), "dtype": str(arr.dtype)}
    try:
        X = as_float_matrix(arr, name)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    return X, info


def _use_progress(args: argparse.Namespace, X: np.ndarray) -> bool:
    return not args.no_progress and X.shape[0] >= PROGRESS_MIN_ROWS and sys.stderr.isatty()


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


def _describe(info: dict) -> str:
    shape = " x ".join(str(s) for s in info["shape"])
    where = info["path"] if info.get("key") is None else f"{info['path']}[{info['key']}]"
    return f"{where}: {shape} {info['dtype']}"


def report_dict(report: HubnessReport, full: bool = False) -> dict:
    """A HubnessReport as JSON-ready dict: counts of hubs/antihubs and the top hubs.

    The per-point arrays (``k_occurrence``, ``hubs``, ``antihubs``) are kept only if `full`.
    """
    out = report.to_dict()
    if not full:
        for name in ("k_occurrence", "hubs", "antihubs"):
            out.pop(name)
    out["n_hubs"] = int(report.hubs.size)
    out["n_antihubs"] = int(report.antihubs.size)
    out["top_hubs"] = [
        {"index": int(i), "k_occurrence": int(report.k_occurrence[i])}
        for i in report.hubs[:TOP_HUBS]
    ]
    return out


# ---------------------------------------------------------------------------------------------
# latentgeo hubness


def _cmd_hubness(args: argparse.Namespace) -> int:
    X, info = load_matrix(args.file, args.key)
    report = hubness(
        X,
        args.k,
        metric=args.metric,
        hub_size=args.hub_size,
        reduction=args.reduction,
        n_threads=args.threads,
        progress=_use_progress(args, X),
    )
    if args.json:
        _print_json({"input": info, **report_dict(report, full=args.full)})
    else:
        print(_describe(info))
        print(report.summary())
    return 0


# ---------------------------------------------------------------------------------------------
# latentgeo audit
#
# An audit is a list of sections. Each section is a function (X, args) -> dict of JSON-ready
# values; the text form is rendered generically from that dict. New analyses (unargmaxable
# classes, whitening spectrum, geodesic structure) plug in by appending to AUDIT_SECTIONS.


def audit_array(X: np.ndarray, args: argparse.Namespace) -> dict:
    """Shape, dtype and row-norm summary, duplicates and the common-direction ratio."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
    mean_row = X.mean(axis=0, dtype=np.float64)
    n_unique = np.unique(X, axis=0).shape[0]
    # |mean row| / mean |row|: 0 when centred, near 1 when all rows share one direction.
    mean_norm = float(norms.mean())
    ratio = float(np.linalg.norm(mean_row)) / mean_norm if mean_norm > 0 else 0.0
    return {
        "rows": int(X.shape[0]),
        "dims": int(X.shape[1]),
        "dtype": str(X.dtype),
        "norm_min": float(norms.min()),
        "norm_median": float(np.median(norms)),
        "norm_mean": mean_norm,
        "norm_max": float(norms.max()),
        "norm_std": float(norms.std()),
        "zero_rows": int(np.count_nonzero(norms == 0)),
        "duplicate_rows": int(X.shape[0] - n_unique),
        "mean_direction_ratio": ratio,
    }


def audit_hubness(X: np.ndarray, args: argparse.Namespace) -> dict:
    """Hubness of the exact kNN graph (see :func:`latentgeo.hubness`)."""
    report = hubness(
        X, args.k, metric=args.metric, n_threads=args.threads, progress=_use_progress(args, X)
    )
    return report_dict(report)


AuditSection = Callable[[np.ndarray, argparse.Namespace], dict]
AUDIT_SECTIONS: List[Tuple[str, AuditSection]] = [
    ("array", audit_array),
    ("hubness", audit_hubness),
]


def run_audit(X: np.ndarray, args: argparse.Namespace) -> dict:
    """Run every audit section in turn: ``{section name: section dict}``.

    A section that returns None (an opt-in section that was not asked for) is left out.
    """
    results = ((name, section(X, args)) for name, section in AUDIT_SECTIONS)
    return {name: result for name, result in results if result is not None}


def _fmt_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_fmt_value(v) for v in value) or "-"
    if isinstance(value, dict):
        return ":".join(_fmt_value(v) for v in value.values())
    return str(value)


def _fmt_key(key: str, value) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return f"{key} ({':'.join(value[0])})"
    return key


def render_section(name: str, section: dict) -> str:
    """Text form of one audit section: a heading and aligned ``key  value`` lines."""
    keys = [_fmt_key(key, value) for key, value in section.items()]
    width = max((len(key) for key in keys), default=0)
    lines = [f"== {name} =="]
    lines += [f"  {key:<{width}}  {_fmt_value(v)}" for key, v in zip(keys, section.values())]
    return "\n".join(lines)


def _cmd_audit(args: argparse.Namespace) -> int:
    if args.file is None:
        kind = args.example or "embeddings"
        X = make_example(kind=kind)
        info = {
            "path": None,
            "example": f"latentgeo.datasets.make_example(kind={kind!r})",
            "shape": list(X.shape),
            "dtype": str(X.dtype),
        }
        note = (
            f"no FILE given: auditing the built-in example {info['example']} "
            f"({X.shape[0]} x {X.shape[1]} {X.dtype})"
        )
    else:
        if args.example is not None:
            raise CLIError("--example applies only when no FILE is given")
        X, info = load_matrix(args.file, args.key)
        note = f"auditing {_describe(info)}"
    sections = run_audit(X, args)
    if args.json:
        _print_json({"input": info, "sections": sections})
    else:
        print(note)
        for name, section in sections.items():
            print()
            print(render_section(name, section))
    return 0


# ---------------------------------------------------------------------------------------------
# latentgeo sample-hubs


def npy_path(path: str) -> str:
    """The file ``np.save(path, ...)`` writes: `path` with ``.npy`` appended if it lacks it."""
    out = str(Path(path))
    return out if out.endswith(".npy") else out + ".npy"


def _cmd_sample_hubs(args: argparse.Namespace) -> int:
    X, info = load_matrix(args.file, args.key)
    hs = sample_hubs(
        X,
        k=args.k,
        threshold=args.threshold,
        top=args.top,
        metric=args.metric,
        n_threads=args.threads,
        progress=_use_progress(args, X),
    )
    out = None
    if args.out is not None:
        out = npy_path(args.out)
        np.save(out, hs.latents)
    if args.json:
        _print_json({"input": info, **hs.to_dict(), "out": out})
    else:
        rule = f"N_{hs.k} >= {hs.threshold}" if hs.top is None else f"top {hs.top} by N_{hs.k}"
        print(
            f"kept {hs.n_kept} of {hs.n_drawn} latents ({100 * hs.acceptance_rate:.2f} %) "
            f"with {rule}"
        )
        if hs.n_kept:
            print(f"their N_{hs.k}: min {hs.k_occurrence.min()}, max {hs.k_occurrence.max()}")
        if out is not None:
            print(f"wrote {out} ({hs.n_kept} x {X.shape[1]} {hs.latents.dtype})")
    return 0


# ---------------------------------------------------------------------------------------------
# latentgeo unargmax (and the opt-in "unargmaxable" audit section)

#: The order in which the pipeline stages of latentgeo.unargmaxable run.
UNARGMAX_STAGES = ("screen", "heuristic", "lp")


def _unargmaxable_function():
    """``latentgeo.unargmaxable``, or a CLIError when this build lacks it."""
    try:
        from . import unargmaxable
    except ImportError:
        raise CLIError("latentgeo.unargmaxable is not available in this build") from None
    return unargmaxable


def _parse_classes(text: str) -> List[int]:
    """``"0,5,9"`` or ``"0-99,200"`` (inclusive ranges) -> sorted unique class ids."""
    ids = set()
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            first = int(lo)
            last = int(hi) if sep else first
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid class list {text!r}: use ids and ranges such as 0,5,9 or 0-99"
            ) from None
        if first < 0 or last < first:
            raise argparse.ArgumentTypeError(f"invalid class range {part!r} in {text!r}")
        ids.update(range(first, last + 1))
    return sorted(ids)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def _jsonable(value):
    """Numpy scalars and arrays (also nested in dicts, lists, tuples) as plain Python values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def unargmax_summary(report) -> dict:
    """The headline numbers of an UnargmaxReport as a JSON-ready dict.

    Keys: ``semantics``, ``classes_checked``, ``n_unargmaxable``, ``unargmaxable`` (ids),
    ``n_undecided``, ``undecided`` (ids), ``time_<stage>_s`` for each pipeline stage,
    ``time_total_s``, then ``decided_by_<stage>`` for each stage.
    """
    unarg = np.asarray(report.unargmaxable, dtype=np.int64)
    undecided = np.asarray(report.undecided, dtype=np.int64)
    checked = report.V if report.classes is None else len(report.classes)
    out = {
        "semantics": report.semantics,
        "classes_checked": int(checked),
        "n_unargmaxable": int(unarg.size),
        "unargmaxable": unarg.tolist(),
        "n_undecided": int(undecided.size),
        "undecided": undecided.tolist(),
    }
    timings = {k: float(v) for k, v in report.timings.items() if k != "total"}
    stages = [s for s in UNARGMAX_STAGES if s in timings]
    stages += [s for s in timings if s not in stages]
    for stage in stages:
        out[f"time_{stage}_s"] = timings[stage]
    out["time_total_s"] = float(report.timings.get("total", sum(timings.values())))
    for stage in stages:
        out[f"decided_by_{stage}"] = int(report.counts.get(stage, 0))
    return out


def audit_unargmaxable(X: np.ndarray, args: argparse.Namespace) -> Optional[dict]:
    """Unargmaxable classes of X read as a bias-free softmax weight matrix (V, d).

    Runs only with ``latentgeo audit --softmax``; returns None (section left out) otherwise.
    """
    if not getattr(args, "softmax", False):
        return None
    fn = _unargmaxable_function()
    report = fn(X, None, n_threads=args.threads, progress=_use_progress(args, X))
    return unargmax_summary(report)


AUDIT_SECTIONS.append(("unargmaxable", audit_unargmaxable))


def _cmd_unargmax(args: argparse.Namespace) -> int:
    W, b = load_weights(args.file, args.weight, args.bias)
    stored = list_tensors(args.file)
    wname = args.weight if args.weight is not None else next(iter(stored))
    info = {
        "path": str(args.file),
        "weight": args.weight,
        "bias": args.bias,
        "shape": list(W.shape),
        "dtype": stored[wname][0],
        "bias_dtype": None if args.bias is None else stored[args.bias][0],
    }
    fn = _unargmaxable_function()
    progress = not args.no_progress and sys.stderr.isatty()
    report = fn(
        W,
        b,
        bounds=args.bounds,
        classes=args.classes,
        n_threads=args.threads,
        progress=progress,
    )
    summary = unargmax_summary(report)
    if args.json:
        out = {"input": info, **_jsonable(report.to_dict())}
        for key in ("unargmaxable", "n_unargmaxable", "undecided", "n_undecided"):
            out.setdefault(key, summary[key])
        out.setdefault("timings", {k: float(v) for k, v in report.timings.items()})
        print(json.dumps(out, indent=2))
        return 0
    where = info["path"] if args.weight is None else f"{info['path']}[{args.weight}]"
    shape = " x ".join(str(s) for s in info["shape"])
    bias = "no bias" if args.bias is None else f"bias {args.bias} ({info['bias_dtype']})"
    print(f"{where}: {shape} {info['dtype']}, {bias}")
    print(f"semantics: {summary['semantics']}")
    n, checked = summary["n_unargmaxable"], summary["classes_checked"]
    print(f"unargmaxable: {n} of {checked} classes checked")
    print(f"ids: {', '.join(map(str, summary['unargmaxable'])) or 'none'}")
    if summary["n_undecided"]:
        print(
            f"undecided (within tolerance): {summary['n_undecided']}: "
            f"{', '.join(map(str, summary['undecided']))}"
        )
    for key, seconds in summary.items():
        stage = key[len("time_") : -len("_s")]
        if key.startswith("time_") and stage != "total":
            decided = summary[f"decided_by_{stage}"]
            print(f"time {stage}: {seconds:.3f} s ({decided} classes decided)")
    print(f"time total: {summary['time_total_s']:.3f} s")
    return 0


def _add_unargmax_parser(sub) -> None:
    p = sub.add_parser(
        "unargmax",
        help="find the unargmaxable classes of a softmax layer",
        description="Find the classes of a softmax layer z = W x + b that no input x can make "
        "the unique argmax (exact, with certificates). FILE is a .npy file (W itself), an .npz "
        "file or a .safetensors file (F32, F16, BF16, F64; no torch needed).",
    )
    p.add_argument("file", metavar="FILE", help=".npy, .npz or .safetensors file")
    p.add_argument(
        "--weight", metavar="NAME", help="weight tensor (V, d), e.g. lm_head.weight "
        "(needed when the file holds more than one tensor)",
    )  # fmt: skip
    p.add_argument("--bias", metavar="NAME", help="bias tensor (V,) (default: no bias)")
    p.add_argument(
        "--bounds", type=_positive_float, metavar="R",
        help="restrict inputs to the box [-R, R]^d (default: no bound on x)",
    )  # fmt: skip
    p.add_argument(
        "--classes", type=_parse_classes, metavar="IDS",
        help="check only these classes, e.g. 0,5,9 or 0-99 (default: all)",
    )  # fmt: skip
    p.add_argument("--threads", type=int, metavar="N", help="threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    p.set_defaults(func=_cmd_unargmax)


# ---------------------------------------------------------------------------------------------
# latentgeo geodesic (and the "geodesic" audit section)

#: Evenly spaced source rows sampled by the "geodesic" audit section.
GEODESIC_AUDIT_SOURCES = 32
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


def _direct_distances(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    """(len(A), len(B)) float64 distances as knn_graph measures them (zero vector: cosine 1)."""
    A, B = A.astype(np.float64), B.astype(np.float64)
    if metric == "cosine":
        na, nb = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
        Ua = np.divide(A, na[:, None], out=np.zeros_like(A), where=na[:, None] > 0)
        Ub = np.divide(B, nb[:, None], out=np.zeros_like(B), where=nb[:, None] > 0)
        return np.maximum(1.0 - Ua @ Ub.T, 0.0)
    from scipy.spatial.distance import cdist

    return cdist(A, B, metric=metric)


def audit_geodesic(X: np.ndarray, args: argparse.Namespace) -> Optional[dict]:
    """Connectivity of the k-NN union graph and how much longer geodesics are than chords.

    Runs by default; ``latentgeo audit --no-geodesic`` leaves the section out (returns None).
    The ratio geodesic / direct distance (in ``--metric``) is taken over the pairs (s, j) of
    up to :data:`GEODESIC_AUDIT_SOURCES` evenly spaced sources s and every other point j that
    is reachable and not a duplicate of s; it is >= 1 for euclidean, and large where the data
    lie on a curved manifold.
    """
    if not getattr(args, "geodesic", False):
        return None
    n = X.shape[0]
    if args.metric not in ("euclidean", "sqeuclidean", "cosine"):
        return {"skipped": f"metric {args.metric!r} is not a distance"}
    if n < 2:
        return {"skipped": "fewer than 2 rows"}
    k = min(args.k, n - 1)
    g = knn_graph(X, k, metric=args.metric, n_threads=args.threads)
    n_comp, labels = connected_components(g)
    src = np.unique(np.linspace(0, n - 1, min(n, GEODESIC_AUDIT_SOURCES)).round().astype(np.int64))
    D = geodesic(g, src, dtype=np.float64, n_threads=args.threads)
    direct = _direct_distances(X[src], X, args.metric)
    other = np.ones(D.shape, dtype=bool)
    other[np.arange(src.size), src] = False
    reachable = other & np.isfinite(D)
    use = reachable & (direct > 0)
    ratio = D[use] / direct[use]
    return {
        "k": int(k),
        "n_components": int(n_comp),
        "largest_component": int(np.bincount(labels).max()),
        "sampled_sources": int(src.size),
        "pairs": int(use.sum()),
        "unreachable_pairs": int((other & ~np.isfinite(D)).sum()),
        "ratio_median": float(np.median(ratio)) if ratio.size else None,
        "ratio_p90": float(np.percentile(ratio, 90)) if ratio.size else None,
    }


AUDIT_SECTIONS.append(("geodesic", audit_geodesic))


def _cmd_geodesic(args: argparse.Namespace) -> int:
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
        dist = geodesic(
            g,
            src,
            dtype=np.float64,
            policy=args.policy,
            X=X,
            metric=args.metric,
            n_threads=args.threads,
            progress=progress,
        )
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
    out = None
    if args.out is not None:
        out = npy_path(args.out)
        np.save(out, saved)
    res["out"] = out
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
        print(f"wrote {out} ({what})")
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
    p.set_defaults(func=_cmd_geodesic)
    # The audit section is on by default: `latentgeo audit --no-geodesic` leaves it out.
    sub.choices["audit"].add_argument(
        "--no-geodesic", dest="geodesic", action="store_false",
        help="leave out the 'geodesic' section (components of the k-NN graph and geodesic / "
        "direct distance ratios for a sample of pairs)",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# latentgeo sample (analytic Gaussian-mixture diffusion sampling)

#: Processes of ``latentgeo sample --process`` (their default parameters).
SAMPLE_PROCESSES = ("vp", "subvp", "cosine", "ve", "edm")
#: Keys of a mixture spec file.
GMM_SPEC_KEYS = ("weights", "means", "covariances", "covariance_type")
#: Covariance type inferred from the nesting depth of ``covariances`` when the spec omits it.
_COV_TYPE_BY_NDIM = {1: "spherical", 2: "diag", 3: "full"}
#: JSON output lists the sample and true mean / covariance in full up to this dimension.
SAMPLE_JSON_MAX_DIM = 32
#: Method-specific options: (option, dest, methods that use it).
_METHOD_OPTIONS = (
    ("--eta", "eta", ("ddim",)),
    ("--r", "r", ("euler_maruyama",)),
    ("--snr", "snr", ("pc",)),
    ("--n-corrector", "n_corrector", ("pc",)),
    ("--rtol", "rtol", ("dopri5",)),
    ("--atol", "atol", ("dopri5",)),
)


def example_mixture():
    """The built-in mixture of ``latentgeo sample`` without ``--gmm``: 8 equal spherical
    components (variance 0.05) at the vertices of a regular octagon of radius 4 in 2-D."""
    from .diffusion import GaussianMixture

    angles = 2 * np.pi * np.arange(8) / 8
    means = 4.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return GaussianMixture(np.full(8, 1 / 8), means, np.full(8, 0.05), "spherical")


def _spec_array(spec: dict, key: str, path: str) -> np.ndarray:
    try:
        arr = np.asarray(spec[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise CLIError(
            f"{path}: {key!r} must be a number or a (nested) list of numbers with a regular shape"
        ) from None
    return arr


def load_gmm_spec(path: str):
    """A :class:`~latentgeo.diffusion.GaussianMixture` from a JSON spec file.

    The file holds an object with ``weights`` (K,), ``means`` (K, d), ``covariances`` ((K, d, d)
    full, (K, d) diagonal or (K,) spherical variances) and optionally ``covariance_type``
    ("full", "diag" or "spherical"; inferred from the nesting of ``covariances`` if left out).

    Raises
    ------
    CLIError
        If the file is missing or not valid JSON, or the mixture is invalid (one-line reason).
    """
    from .diffusion import COVARIANCE_TYPES, GaussianMixture

    p = Path(path)
    if not p.exists():
        raise CLIError(f"no such file: {path}")
    if p.is_dir():
        raise CLIError(f"{path} is a directory, not a JSON mixture spec")
    try:
        with open(p, encoding="utf-8") as fh:
            spec = json.load(fh)
    except json.JSONDecodeError as exc:
        raise CLIError(f"{path} is not valid JSON ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read {path} ({exc})") from None
    if not isinstance(spec, dict):
        raise CLIError(
            f"{path}: a mixture spec must be a JSON object with keys 'weights', 'means', "
            f"'covariances' and optionally 'covariance_type', got a {type(spec).__name__}"
        )
    unknown = sorted(set(spec) - set(GMM_SPEC_KEYS))
    if unknown:
        raise CLIError(
            f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; a mixture spec has "
            f"{', '.join(map(repr, GMM_SPEC_KEYS))}"
        )
    missing = [k for k in GMM_SPEC_KEYS[:3] if k not in spec]
    if missing:
        raise CLIError(f"{path}: missing key(s) {', '.join(map(repr, missing))}")
    weights, means, covs = (_spec_array(spec, k, path) for k in GMM_SPEC_KEYS[:3])
    cov_type = spec.get("covariance_type")
    if cov_type is None:
        cov_type = _COV_TYPE_BY_NDIM.get(covs.ndim)
        if cov_type is None:
            raise CLIError(
                f"{path}: 'covariances' has shape {covs.shape}; expected (K, d, d) full "
                "matrices, (K, d) diagonal or (K,) spherical variances"
            )
    elif cov_type not in COVARIANCE_TYPES:
        raise CLIError(
            f"{path}: 'covariance_type' must be one of "
            f"{', '.join(map(repr, COVARIANCE_TYPES))}, got {cov_type!r}"
        )
    try:
        return GaussianMixture(weights, means, covs, cov_type)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"{path}: {exc}") from None


def _make_process(name: str):
    from .diffusion import EDM, VE, VP, SubVP, VPCosine

    return {"vp": VP, "subvp": SubVP, "cosine": VPCosine, "ve": VE, "edm": EDM}[name]()


def mixture_moments(gmm) -> Tuple[np.ndarray, np.ndarray]:
    """The mean (d,) and covariance (d, d) of a GaussianMixture."""
    w, mu, cov = gmm.weights, gmm.means, gmm.full_covariances()
    mean = w @ mu
    centred = mu - mean
    return mean, np.einsum("k,kij->ij", w, cov) + (centred.T * w) @ centred


class _AtomicOutput:
    """A ``.npy`` output written atomically: a temporary file in the destination's directory,
    created up front (so an unwritable destination fails before any work), moved into place
    with :func:`os.replace` on :meth:`commit` and removed if the command fails or is interrupted.
    """

    def __init__(self, path: str):
        out = npy_path(path)
        if Path(out).is_dir():
            raise CLIError(f"--out {out} is a directory")
        parent = Path(out).resolve().parent
        if not parent.is_dir():
            raise CLIError(f"cannot write {out}: no such directory {parent}")
        self.path = out
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{Path(out).name}.", suffix=".tmp", dir=parent)
        except OSError as exc:
            raise CLIError(f"cannot write {out} ({exc.strerror or exc})") from None
        os.close(fd)

    def __enter__(self) -> "_AtomicOutput":
        return self

    def commit(self, arr: np.ndarray) -> None:
        with open(self.tmp, "wb") as fh:
            np.save(fh, arr)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp's 0600 -> what np.save would give
        os.replace(self.tmp, self.path)
        self.tmp = None

    def __exit__(self, *exc) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass


def _cmd_sample(args: argparse.Namespace) -> int:
    from .diffusion import log_likelihood, sample

    if args.n < 1:
        raise CLIError(f"--n must be at least 1, got {args.n}")
    for option, dest, methods in _METHOD_OPTIONS:
        if getattr(args, dest) is not None and args.method not in methods:
            raise CLIError(f"{option} applies only to --method {' or '.join(methods)}")
    if args.loglik is not None and not 1 <= args.loglik <= args.n:
        raise CLIError(f"--loglik must be between 1 and --n ({args.n}), got {args.loglik}")
    if args.gmm is None or args.gmm == "example":
        gmm, source = example_mixture(), "example"
    else:
        gmm, source = load_gmm_spec(args.gmm), str(args.gmm)
    process = _make_process(args.process)
    extra = {dest: getattr(args, dest) for _, dest, _ in _METHOD_OPTIONS}
    extra = {k: v for k, v in extra.items() if v is not None}
    progress = not (args.no_progress or args.json) and sys.stderr.isatty()
    with contextlib.ExitStack() as stack:
        out = None if args.out is None else stack.enter_context(_AtomicOutput(args.out))
        t0 = time.perf_counter()
        res = sample(
            process,
            gmm,
            shape=(args.n, gmm.dim),
            method=args.method,
            steps=args.steps,
            grid=args.grid,
            denoise_final=args.denoise_final or None,
            seed=args.seed,
            batch_size=args.batch_size,
            progress=progress,
            n_threads=args.threads,
            **extra,
        )
        seconds = time.perf_counter() - t0
        x = res.x.astype(args.dtype, copy=False)
        if not np.isfinite(x).all():
            bad = int(np.count_nonzero(~np.isfinite(x).all(axis=1)))
            raise CLIError(
                f"{bad} of {args.n} samples are not finite (the sampler diverged; try more "
                "--steps or another --method)"
            )
        if out is not None:
            out.commit(x)
    summary = _sample_summary(args, gmm, source, res, x, seconds, None if out is None else out)
    if args.loglik is not None:
        sub = x[: args.loglik]
        ll = log_likelihood(process, gmm, sub, seed=args.seed, n_threads=args.threads)
        try:
            data_lp = float(gmm.log_prob(sub).mean())
        except ValueError:  # singular covariances: p_0 has no density
            data_lp = None
        summary["loglik"] = {
            "samples": int(args.loglik),
            "mean_log_prob": float(ll.log_prob.mean()),
            "mean_true_log_prob": data_lp,
            "nfe": int(ll.nfe),
        }
    if args.json:
        _print_json(summary)
        return 0
    _print_sample_text(summary, gmm)
    return 0


def _sample_summary(args, gmm, source, res, x, seconds, out) -> dict:
    true_mean, true_cov = mixture_moments(gmm)
    for a in (true_mean, true_cov):  # round-off of exactly symmetric mixtures shown as 0
        a[np.abs(a) < 1e-13 * max(1.0, float(np.abs(a).max()))] = 0.0
    x64 = x.astype(np.float64, copy=False)
    mean = x64.mean(axis=0)
    cov = np.cov(x64, rowvar=False).reshape(gmm.dim, gmm.dim) if x.shape[0] > 1 else None
    scale = float(np.sqrt(np.trace(true_cov)))
    summary = {
        "mixture": {
            "source": source,
            "n_components": gmm.n_components,
            "dim": gmm.dim,
            "covariance_type": gmm.covariance_type,
        },
        "n": int(x.shape[0]),
        "dim": gmm.dim,
        "dtype": str(x.dtype),
        "process": args.process,
        "method": args.method,
        "steps": int(res.steps),
        "grid": args.grid,
        "seed": args.seed,
        "nfe": int(res.nfe),
        "seconds": seconds,
        "t_final": res.t,
        # |sample mean - true mean| / sqrt(trace of the true covariance), and the relative
        # Frobenius error of the sample covariance.
        "mean_error": float(np.linalg.norm(mean - true_mean)) / scale if scale > 0 else None,
        "cov_error": (
            float(np.linalg.norm(cov - true_cov) / np.linalg.norm(true_cov))
            if cov is not None and np.linalg.norm(true_cov) > 0
            else None
        ),
    }
    if gmm.dim <= SAMPLE_JSON_MAX_DIM:
        summary["sample_mean"] = mean.tolist()
        summary["true_mean"] = true_mean.tolist()
        summary["sample_cov"] = None if cov is None else cov.tolist()
        summary["true_cov"] = true_cov.tolist()
    if res.accepted is not None:
        summary["accepted_steps_mean"] = float(res.accepted.mean())
        summary["rejected_steps_mean"] = float(res.rejected.mean())
    summary["out"] = None if out is None else out.path
    return summary


def _print_sample_text(s: dict, gmm) -> None:
    where = (
        "the built-in example" if s["mixture"]["source"] == "example" else s["mixture"]["source"]
    )
    print(f"{gmm!r} from {where}")
    if s["method"] == "dopri5":
        steps = f"{s['steps']} adaptive iterations"
    else:
        steps = f"{s['steps']} steps ({s['grid']} grid)"
    print(
        f"sampled {s['n']} x {s['dim']} with process {s['process']}, method {s['method']}, "
        f"{steps}, {s['nfe']} model evaluations, "
        f"{s['seconds']:.3f} s"
    )

    def fmt(v):
        return "-" if v is None else f"{v:.3g}"

    print(
        f"vs the mixture: mean error {fmt(s['mean_error'])} (|mean diff| / sqrt(trace cov)), "
        f"covariance error {fmt(s['cov_error'])} (relative Frobenius)"
    )
    if "sample_mean" in s and s["dim"] <= 4:
        sm = ", ".join(f"{v:.4g}" for v in s["sample_mean"])
        tm = ", ".join(f"{v:.4g}" for v in s["true_mean"])
        print(f"  sample mean [{sm}], true mean [{tm}]")
    if "loglik" in s:
        ll = s["loglik"]
        print(
            f"mean log-likelihood of the first {ll['samples']} samples: "
            f"{ll['mean_log_prob']:.4f} (probability-flow ODE, {ll['nfe']} evaluations), "
            f"true density {fmt(ll['mean_true_log_prob'])}"
        )
    if s["out"] is not None:
        print(f"wrote {s['out']} ({s['n']} x {s['dim']} {s['dtype']})")


def _add_sample_parser(sub) -> None:
    from .diffusion import GRIDS, SAMPLERS

    p = sub.add_parser(
        "sample",
        help="draw samples of a Gaussian mixture with a diffusion sampler (exact score)",
        description="Integrate the reverse diffusion process from noise to data with the exact "
        "score of a Gaussian mixture (Rust loop) and save the samples. --gmm is a JSON file "
        '{"weights": [K], "means": [[d] x K], "covariances": ..., "covariance_type": "full" | '
        '"diag" | "spherical"} (covariances (K, d, d), (K, d) or (K,); the type is inferred '
        "from their shape if left out); without --gmm (or with --gmm example) a built-in 2-D "
        "ring of 8 components is sampled. The output is the same for any --batch-size and "
        "--threads.",
    )
    p.add_argument("--gmm", metavar="SPEC", help="JSON mixture spec, or 'example' (the default)")
    p.add_argument("--n", type=int, default=10_000, help="number of samples (default 10000)")
    p.add_argument(
        "--process", choices=SAMPLE_PROCESSES, default="vp",
        help="noise process with its default parameters (default vp)",
    )  # fmt: skip
    p.add_argument(
        "--method", choices=SAMPLERS, default="heun", metavar="METHOD",
        help=f"sampler: {', '.join(SAMPLERS)} (default heun)",
    )  # fmt: skip
    p.add_argument("--steps", type=int, default=50, help="grid steps (default 50)")
    p.add_argument("--grid", choices=GRIDS, default="uniform", help="time grid (default uniform)")
    p.add_argument("--eta", type=float, help="ddim: noise (0 deterministic, 1 ancestral)")
    p.add_argument("--r", type=float, help="euler_maruyama: noise scale (default 1, 0 = ODE)")
    p.add_argument("--snr", type=float, help="pc: corrector signal-to-noise ratio (default 0.16)")
    p.add_argument("--n-corrector", type=int, help="pc: corrector steps per step (default 1)")
    p.add_argument("--rtol", type=float, help="dopri5: relative tolerance (default 1e-5)")
    p.add_argument("--atol", type=float, help="dopri5: absolute tolerance (default 1e-5)")
    p.add_argument(
        "--denoise-final", action="store_true",
        help="end with one denoising evaluation (the posterior mean of x_0 at the last time)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument(
        "--batch-size", type=int, metavar="B", help="integrate B samples at a time (default all)"
    )
    p.add_argument("--threads", type=int, metavar="N", help="threads (default: all cores)")
    p.add_argument(
        "--dtype", choices=("float32", "float64"), default="float64",
        help="dtype of the saved samples (default float64)",
    )  # fmt: skip
    p.add_argument(
        "--out", metavar="PATH",
        help="save the samples to this .npy file (written atomically: nothing is left behind "
        "on an error or Ctrl-C)",
    )  # fmt: skip
    p.add_argument(
        "--loglik", type=int, metavar="M",
        help="also report the mean exact log-likelihood (probability-flow ODE, dopri5) of the "
        "first M samples, next to their true log-density",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    p.add_argument(
        "--no-progress", "--quiet", dest="no_progress", action="store_true",
        help="never show a progress bar (none is shown with --json either)",
    )  # fmt: skip
    p.set_defaults(func=_cmd_sample)


# ---------------------------------------------------------------------------------------------
# The parser.


def _add_input(p: argparse.ArgumentParser, optional: bool = False) -> None:
    if optional:
        p.add_argument("file", nargs="?", metavar="FILE", help=".npy or .npz file (optional)")
    else:
        p.add_argument("file", metavar="FILE", help=".npy or .npz file holding a 2-D array")
    p.add_argument("--key", metavar="NAME", help="array to read from an .npz file")


def _add_common(p: argparse.ArgumentParser, k: int) -> None:
    p.add_argument("--k", type=int, default=k, help=f"neighbours per point (default {k})")
    p.add_argument(
        "--metric", choices=METRICS, default="euclidean", help="distance (default euclidean)"
    )
    p.add_argument("--threads", type=int, metavar="N", help="threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``latentgeo`` command."""
    parser = _Parser(prog=PROG, description="Geometry of learned representation spaces.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("hubness", help="hubness scores of a matrix of vectors")
    _add_input(p)
    _add_common(p, k=10)
    p.add_argument(
        "--hub-size", type=float, default=2.0, help="hubs have N_k >= HUB_SIZE * k (default 2)"
    )
    p.add_argument(
        "--reduction", choices=REDUCTIONS, help="hubness reduction before counting (default none)"
    )
    p.add_argument("--full", action="store_true", help="JSON: include the per-point arrays")
    p.set_defaults(func=_cmd_hubness)

    p = sub.add_parser(
        "audit",
        help="report on an embedding or softmax-weight matrix",
        description="Report on an embedding or softmax-weight matrix: shape, norms, hubness. "
        "Without FILE, a built-in example is audited.",
    )
    _add_input(p, optional=True)
    _add_common(p, k=10)
    p.add_argument(
        "--example",
        choices=EXAMPLE_KINDS,
        help="built-in example to audit when no FILE is given (default embeddings)",
    )
    p.add_argument(
        "--softmax",
        action="store_true",
        help="treat the rows as the weights of a bias-free softmax layer and add an "
        "'unargmaxable' section (exact LP-backed check; off by default, also for --example "
        "softmax, because it costs far more than the other sections on large matrices)",
    )
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser(
        "sample-hubs",
        help="keep the hub latents of a batch (hub-prior GAN sampling)",
        description="Keep the latents of a saved batch whose k-occurrence N_k (self excluded) "
        "is at least THRESHOLD, or the TOP highest (Liang et al., ICML 2022).",
    )
    _add_input(p)
    _add_common(p, k=5)
    rule = p.add_mutually_exclusive_group()
    rule.add_argument("--threshold", type=int, help="keep N_k >= THRESHOLD (default 50)")
    rule.add_argument("--top", type=int, help="keep the TOP latents of highest N_k")
    p.add_argument("--out", metavar="PATH", help="save the kept latents to this .npy file")
    p.set_defaults(func=_cmd_sample_hubs)
    _add_unargmax_parser(sub)
    _add_geodesic_parser(sub)
    _add_sample_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the ``latentgeo`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 on any user error (printed as one ``latentgeo: error: ...`` line on
        stderr), 130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except (CLIError, ValueError, TypeError, OSError, RuntimeError) as exc:
        message = " ".join(str(exc).split())  # always one line
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
