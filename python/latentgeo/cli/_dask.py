"""``--scheduler ADDRESS`` / ``--workers N``: run a command's heavy job on Dask
(:mod:`latentgeo.scale`, the optional ``dask`` extra), with the same results bit for bit."""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path

from ._io import CLIError


def add_dask_options(p: argparse.ArgumentParser) -> None:
    """The Dask options of a command."""
    g = p.add_argument_group("Dask (pip install 'latentgeo[dask]'; the results do not change)")
    where = g.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="run on the running Dask cluster at ADDRESS, e.g. tcp://10.0.0.1:8786 (.npy "
        "inputs are read by the workers: they must see the same path)",
    )  # fmt: skip
    where.add_argument(
        "--workers", type=int, metavar="N",
        help="run on a local Dask cluster of N worker processes, each with --threads threads "
        "(default 1)",
    )  # fmt: skip


@contextlib.contextmanager
def dask_client(args: argparse.Namespace):
    """The Client the command runs on (None without --scheduler / --workers), closed after."""
    if getattr(args, "scheduler", None) is None and getattr(args, "workers", None) is None:
        yield None
        return
    try:
        import distributed

        import latentgeo.scale  # noqa: F401
    except ImportError:
        raise CLIError(
            "--scheduler and --workers need the dask extra: pip install 'latentgeo[dask]'"
        ) from None
    with contextlib.ExitStack() as stack:
        if args.scheduler is not None:
            client = distributed.Client(args.scheduler, timeout="30s", set_as_default=False)
        else:
            if args.workers < 1:
                raise CLIError(f"--workers must be at least 1, got {args.workers}")
            cluster = distributed.LocalCluster(
                n_workers=args.workers,
                threads_per_worker=args.threads or 1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
            stack.callback(cluster.close)
            client = distributed.Client(cluster, set_as_default=False)
        stack.callback(client.close)
        stack.enter_context(client.as_current())
        yield client


def npy_input(path: str, key):
    """What a ``latentgeo.scale`` function reads for the command's FILE: the path itself for a
    ``.npy`` file (the workers open it; an absolute path), else None (the caller loads it)."""
    p = Path(path)
    if key is None and p.suffix == ".npy" and p.is_file():
        return str(p.resolve())
    return None
