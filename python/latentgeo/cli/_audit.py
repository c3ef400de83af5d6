"""``latentgeo audit``: the report of :func:`latentgeo.audit` on a file or the built-in example,
as text (verdict lines first), JSON (``--json``) or a self-contained HTML page (``--html``).

Callers can plug in extra sections by appending ``(name, function)`` to :data:`AUDIT_SECTIONS`,
where ``function(X, args)`` returns a dict of JSON-ready values (or None to leave it out); the
entries with function None are the library's sections.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np

from .._files import AtomicFile
from .._readers import read_array
from .._validate import as_float_matrix
from ..audits import DEFAULT_SECTIONS, SECTIONS, audit
from ..audits._plots import INSTALL_HINT, have_matplotlib
from ..audits._report import section_from_values
from ..datasets import make_example
from ..unargmax import list_tensors, load_weights
from ._io import CLIError, _describe, _print_json, _use_progress, load_matrix

AuditSection = Optional[Callable[[np.ndarray, argparse.Namespace], Optional[dict]]]

#: The sections in report order: None runs the library's section of that name.
AUDIT_SECTIONS: List[Tuple[str, AuditSection]] = [(name, None) for name in SECTIONS]


def _chosen(args: argparse.Namespace) -> List[str]:
    """The library sections to run, from --sections, --softmax and --no-geodesic."""
    if args.sections is None:
        names = list(DEFAULT_SECTIONS)
    else:
        names = [s.strip() for s in args.sections.split(",") if s.strip()]
        unknown = [s for s in names if s not in SECTIONS]
        if unknown or not names:
            raise CLIError(
                f"--sections: unknown section(s) {unknown or args.sections!r}; choose from "
                f"{','.join(SECTIONS)}"
            )
    if args.softmax and "unargmaxable" not in names:
        names.append("unargmaxable")
    if not args.geodesic and "geodesic" in names:
        names.remove("geodesic")
    return names


def _matrix(W, name: str) -> np.ndarray:
    try:
        return as_float_matrix(W, name)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def _load(args: argparse.Namespace):
    """(X, bias, input info, the line that says what is audited)."""
    if args.file is None:
        if args.bias is not None:
            raise CLIError("--bias needs FILE (the built-in examples have no bias)")
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
        return X, None, info, note
    if args.example is not None:
        raise CLIError("--example applies only when no FILE is given")
    path = Path(args.file)
    if not path.exists():
        raise CLIError(f"no such file: {args.file}")
    b = None
    if path.suffix == ".safetensors" or (path.suffix == ".npz" and args.bias is not None):
        W, b = load_weights(path, args.key, args.bias)
        names = list_tensors(path) if path.suffix == ".safetensors" else None
        key = args.key if args.key is not None else (next(iter(names)) if names else None)
        info = {"path": str(args.file), "key": key, "shape": list(W.shape),
                "dtype": names[key][0] if names else str(W.dtype)}  # fmt: skip
        X = _matrix(W, f"{args.file}[{key}]" if key else str(args.file))
    else:
        X, info = load_matrix(args.file, args.key)
        if args.bias is not None:  # a .npy FILE: --bias is a second .npy file
            try:
                b = np.asarray(read_array(Path(args.bias))[0])
            except (OSError, ValueError) as exc:
                raise CLIError(f"--bias: {exc}") from None
    if b is not None:
        if np.ndim(b) != 1:
            raise CLIError(f"the bias must be 1-D, got shape {list(np.shape(b))}")
        b = _matrix(np.asarray(b)[None, :], "the bias")[0]
    info["bias"] = args.bias
    return X, b, info, f"auditing {_describe(info)}"


def _cmd_audit(args: argparse.Namespace) -> int:
    if (args.bias is not None or args.vocab is not None) and not args.softmax:
        raise CLIError("--bias and --vocab apply only with --softmax")
    names = _chosen(args)
    with contextlib.ExitStack() as stack:
        html = None
        if args.html is not None:
            if not have_matplotlib():
                raise CLIError(f"--html draws its plots with matplotlib: {INSTALL_HINT}")
            try:  # checked before the work; written whole or not at all after it
                html = stack.enter_context(AtomicFile(args.html))
            except (ValueError, OSError) as exc:
                raise CLIError(str(exc)) from None
        X, b, info, note = _load(args)
        report = audit(
            X,
            k=args.k,
            metric=args.metric,
            sections=names,
            bias=b,
            vocab=args.vocab,
            hub_size=args.hub_size,
            n_threads=args.threads,
            progress=_use_progress(args, X),
        )
        report = dataclasses.replace(report, input=info)
        for name, fn in AUDIT_SECTIONS:
            values = None if fn is None else fn(X, args)
            if values is not None:
                report = report.with_sections(section_from_values(name, values))
        if html is not None:
            page = report.to_html()
            html.commit(lambda fh: fh.write(page.encode("utf-8")))
        return _print(report, note, None if html is None else str(html.path), args.json)


def _print(report, note: str, html: Optional[str], as_json: bool) -> int:
    if as_json:
        _print_json({**report.to_dict(), "html": html})
        return 0
    print(note)
    for section in report.sections:
        print()
        print(section.to_text())
    print()
    levels = ", ".join(f"{s.name} {s.level}" for s in report.sections)
    print(f"overall: {report.level} ({levels})")
    if html is not None:
        print(f"wrote {html} (HTML report)")
    return 0


def _add_audit_arguments(p: argparse.ArgumentParser, examples) -> None:
    p.add_argument(
        "--example", choices=examples,
        help="built-in example to audit when no FILE is given (default embeddings)",
    )  # fmt: skip
    p.add_argument(
        "--sections", metavar="LIST",
        help=f"comma-separated sections to run, from {','.join(SECTIONS)} (default: "
        f"{','.join(DEFAULT_SECTIONS)}, plus unargmaxable with --softmax)",
    )  # fmt: skip
    p.add_argument(
        "--hub-size", type=float, default=2.0, help="hubs have N_k >= HUB_SIZE * k (default 2)"
    )
    p.add_argument(
        "--html", metavar="PATH",
        help="also write a self-contained HTML report with plots (needs matplotlib: "
        f"{INSTALL_HINT})",
    )  # fmt: skip
    p.add_argument(
        "--softmax", action="store_true",
        help="treat the rows as the weights of a softmax layer and add an 'unargmaxable' "
        "section (exact LP-backed check; off by default, also for --example softmax, because "
        "it costs far more than the other sections on large matrices)",
    )  # fmt: skip
    p.add_argument(
        "--bias", metavar="B",
        help="--softmax: the bias tensor's name in an .npz or .safetensors FILE, or a .npy file "
        "holding the bias when FILE is a .npy file",
    )  # fmt: skip
    p.add_argument(
        "--vocab", metavar="V",
        help="--softmax: name the unargmaxable classes with tokens from a tokenizer.json "
        "(model.vocab) or a text file of one token per line",
    )  # fmt: skip
