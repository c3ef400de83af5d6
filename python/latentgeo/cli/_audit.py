"""``latentgeo audit``: a list of sections, each a function (X, args) -> dict of JSON-ready
values; the text form is rendered generically from that dict. New analyses plug in by
appending to AUDIT_SECTIONS.
"""

from __future__ import annotations

import argparse
from typing import Callable, List, Tuple

import numpy as np

from ..datasets import make_example
from ..hubs import hubness
from ._geodesic import audit_geodesic
from ._hubness import report_dict
from ._io import CLIError, _describe, _print_json, _use_progress, load_matrix
from ._unargmax import audit_unargmaxable


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
    ("unargmaxable", audit_unargmaxable),
    ("geodesic", audit_geodesic),
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
