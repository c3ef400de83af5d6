"""Command line: ``latentgeo hubness | audit | sample-hubs | unargmax | geodesic | sample``
(``python -m latentgeo``).

``unargmax`` and ``audit`` also read ``.safetensors`` files (see :mod:`latentgeo.unargmax`).
Every other command reads a 2-D ``.npy`` file (or one array of an ``.npz`` file, chosen with
``--key``) and prints a human-readable report, or JSON with ``--json``. Errors print one line,
``latentgeo: error: ...``, on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .. import __version__
from ..datasets import EXAMPLE_KINDS
from ..hubs import REDUCTIONS
from ..neighbors import KNN_METHODS
from ._audit import _add_audit_arguments, _cmd_audit
from ._dask import add_dask_options
from ._geodesic import _add_geodesic_parser
from ._hubness import _cmd_hubness, _cmd_sample_hubs
from ._io import PROG, CLIError, _add_common, _add_input, _Parser
from ._sample import _add_sample_parser
from ._unargmax import _add_unargmax_parser

__all__ = ["main", "build_parser"]


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
    p.add_argument(
        "--method",
        choices=KNN_METHODS,
        default="exact",
        help="kNN method (default exact; approximate needs pip install 'latentgeo[ann]' and "
        "reports its estimated recall)",
    )
    add_dask_options(p)
    p.set_defaults(func=_cmd_hubness)

    p = sub.add_parser(
        "audit",
        help="report on an embedding or softmax-weight matrix, with verdicts",
        description="Report on an embedding or softmax-weight matrix: one plain-words verdict "
        "per section (array, hubness, whitening, geodesic; unargmaxable with --softmax), the "
        "thresholds it uses and the latentgeo call to try next; --html also writes a "
        "self-contained page with plots. FILE is a .npy (memory-mapped), .npz or .safetensors "
        "(F32, F16, BF16, F64) file; without FILE, a built-in example is audited.",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help=".npy, .npz or .safetensors file")
    p.add_argument("--key", metavar="NAME", help="array or tensor to read from an .npz or "
                   ".safetensors file")  # fmt: skip
    _add_common(p, k=10)
    _add_audit_arguments(p, EXAMPLE_KINDS)
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
        return _error(str(exc))
    except MemoryError as exc:
        return _error(f"out of memory: {exc}" if str(exc) else "out of memory")
    except Exception as exc:  # a bug of ours: still one line, never a traceback
        return _error(f"internal error ({type(exc).__name__}: {exc}); please report it")
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _error(message: str) -> int:
    """Print `message` as the one ``latentgeo: error: ...`` line; the exit status 2."""
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2
