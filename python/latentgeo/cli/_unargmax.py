"""``latentgeo unargmax``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional, Tuple

import numpy as np

from .._json import plain
from ..unargmax import list_tensors, load_weights, unargmaxable
from ._dask import add_dask_options, dask_client
from ._io import CLIError, _positive_float

#: The order in which the pipeline stages of latentgeo.unargmaxable run.
UNARGMAX_STAGES = ("screen", "heuristic", "lp")


def _parse_classes(text: str) -> List[Tuple[int, int]]:
    """``"0,5,9"`` or ``"0-99,200"`` -> inclusive ``(first, last)`` ranges. The ids are only
    enumerated by :func:`_class_ids`, once the number of classes is known, so a range such as
    ``0-1000000000000`` costs nothing before it is found out of range."""
    ranges = []
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
        ranges.append((first, last))
    return ranges


def _verify(report) -> None:
    """Run the report's independent float64 re-check; a failure is a CLI error."""
    try:
        report.verify(raise_on_failure=True)
    except ValueError as exc:
        raise CLIError(f"the independent re-check of the result failed: {exc}") from None


def _class_ids(ranges: Optional[List[Tuple[int, int]]], V: int) -> Optional[np.ndarray]:
    """The sorted unique class ids of `ranges`, all checked to be below `V`."""
    if ranges is None:
        return None
    top = max(last for _, last in ranges)
    if top >= V:
        raise CLIError(f"--classes includes class {top}, but the weights have {V} classes")
    mask = np.zeros(V, dtype=bool)
    for first, last in ranges:
        mask[first : last + 1] = True
    return np.flatnonzero(mask)


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
    progress = not args.no_progress and sys.stderr.isatty()
    classes = _class_ids(args.classes, W.shape[0])
    with dask_client(args) as client:
        if client is None:
            report = unargmaxable(
                W, b, bounds=args.bounds, classes=classes, n_threads=args.threads,
                progress=progress,
            )  # fmt: skip
        else:
            from ..scale import unargmaxable as dask_unargmaxable

            lazy = dask_unargmaxable(
                W, b, bounds=args.bounds, classes=classes, n_threads=args.threads
            )
            report = lazy.compute(scheduler=client)
    if not args.no_verify:
        _verify(report)
    summary = unargmax_summary(report)
    if args.json:
        out = {"input": info, **plain(report.to_dict())}
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
    p.add_argument(
        "--no-verify", action="store_true",
        help="skip the independent float64 re-check of every witness and certificate "
        "(UnargmaxReport.verify; it runs by default and fails the command if any check fails)",
    )  # fmt: skip
    add_dask_options(p)
    p.set_defaults(func=_cmd_unargmax)
