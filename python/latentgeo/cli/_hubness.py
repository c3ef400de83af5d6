"""``latentgeo hubness`` and ``latentgeo sample-hubs``."""

from __future__ import annotations

import argparse
import contextlib
from typing import Optional

from ..hubs import HubnessReport, hubness, sample_hubs
from ._dask import dask_client, npy_input
from ._io import (
    CLIError,
    _AtomicOutput,
    _describe,
    _print_json,
    _use_progress,
    load_matrix,
)

#: Hubs listed in JSON output without --full.
TOP_HUBS = 10


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


def _cmd_hubness(args: argparse.Namespace) -> int:
    on_dask = args.scheduler is not None or args.workers is not None
    if args.method != "exact" and on_dask:
        raise CLIError("--method approximate runs on one machine; drop --scheduler/--workers")
    with dask_client(args) as client:
        if client is None:
            X, info = load_matrix(args.file, args.key)
            try:
                report = hubness(
                    X,
                    args.k,
                    metric=args.metric,
                    hub_size=args.hub_size,
                    reduction=args.reduction,
                    n_threads=args.threads,
                    progress=_use_progress(args, X),
                    method=args.method,
                )
            except ImportError as exc:  # the optional backend of --method approximate
                raise CLIError(str(exc)) from None
        else:
            report, info = _dask_hubness(args, client)
    if args.json:
        _print_json({"input": info, **report_dict(report, full=args.full)})
    else:
        print(_describe(info))
        print(report.summary())
    return 0


def _dask_hubness(args: argparse.Namespace, client):
    """:func:`latentgeo.scale.hubness` on the client: a .npy FILE is read by the workers."""
    from ..scale import hubness as dask_hubness
    from ..scale._inputs import _npy_rows

    path = npy_input(args.file, args.key)
    if path is None:
        X, info = load_matrix(args.file, args.key)
    else:
        rows = _npy_rows(path)
        X = path
        info = {"path": args.file, "key": None, "shape": list(rows.shape), "dtype": str(rows.dtype)}
    lazy = dask_hubness(
        X, args.k, metric=args.metric, hub_size=args.hub_size, reduction=args.reduction,
        n_threads=args.threads,
    )  # fmt: skip
    return lazy.compute(scheduler=client), info


def _cmd_sample_hubs(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        out = None if args.out is None else stack.enter_context(_AtomicOutput(args.out))
        return _run_sample_hubs(args, out)


def _run_sample_hubs(args: argparse.Namespace, out: Optional[_AtomicOutput]) -> int:
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
    if out is not None:
        out.commit(hs.latents)
    path = None if out is None else str(out.path)
    if args.json:
        _print_json({"input": info, **hs.to_dict(), "out": path})
    else:
        rule = f"N_{hs.k} >= {hs.threshold}" if hs.top is None else f"top {hs.top} by N_{hs.k}"
        print(
            f"kept {hs.n_kept} of {hs.n_drawn} latents ({100 * hs.acceptance_rate:.2f} %) "
            f"with {rule}"
        )
        if hs.n_kept:
            print(f"their N_{hs.k}: min {hs.k_occurrence.min()}, max {hs.k_occurrence.max()}")
        if out is not None:
            print(f"wrote {path} ({hs.n_kept} x {X.shape[1]} {hs.latents.dtype})")
    return 0
