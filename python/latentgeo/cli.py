"""Command line: ``latentgeo hubness | audit | sample-hubs`` (also ``python -m latentgeo``).

Every command reads a 2-D ``.npy`` file (or one array of an ``.npz`` file, chosen with
``--key``) and prints a human-readable report, or JSON with ``--json``. Errors print one line,
``latentgeo: error: ...``, on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np

from . import __version__
from ._validate import as_float_matrix
from .datasets import EXAMPLE_KINDS, make_example
from .hubness import HubnessReport, hubness
from .knn import METRICS
from .reduction import REDUCTIONS
from .sampling import sample_hubs

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
    """Run every audit section in turn: ``{section name: section dict}``."""
    return {name: section(X, args) for name, section in AUDIT_SECTIONS}


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
        out = str(Path(args.out))
        if not out.endswith(".npy"):
            out += ".npy"  # what np.save does; report the real name
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
