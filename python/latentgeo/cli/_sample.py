"""``latentgeo sample``: diffusion sampling of an analytic Gaussian mixture."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import numpy as np

from .. import diffusion
from ..diffusion import EDM, GRIDS, SAMPLERS, VE, VP, SubVP, VPCosine
from ..diffusion._spec import example_mixture, load_gmm_spec, mixture_moments
from ._dask import add_dask_options, dask_client
from ._io import CLIError, _AtomicOutput, _print_json

#: Samples per Dask task when --batch-size is not given.
_DASK_BLOCK = 4096

#: Processes of ``latentgeo sample --process`` (their default parameters).
SAMPLE_PROCESSES = ("vp", "subvp", "cosine", "ve", "edm")


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


def _make_process(name: str):
    return {"vp": VP, "subvp": SubVP, "cosine": VPCosine, "ve": VE, "edm": EDM}[name]()


def _cmd_sample(args: argparse.Namespace) -> int:
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
        client = stack.enter_context(dask_client(args))
        t0 = time.perf_counter()
        opts = dict(
            shape=(args.n, gmm.dim),
            method=args.method,
            steps=args.steps,
            grid=args.grid,
            denoise_final=args.denoise_final or None,
            seed=args.seed,
            n_threads=args.threads,
            **extra,
        )
        if client is None:
            res = diffusion.sample(
                process, gmm, batch_size=args.batch_size, progress=progress, **opts
            )
        else:
            from ..scale import sample as dask_sample

            block = args.batch_size or _DASK_BLOCK
            lazy = dask_sample(process, gmm, block_samples=block, return_result=True, **opts)
            res = lazy.compute(scheduler=client)
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
        ll = None if args.loglik is None else _log_likelihood(process, gmm, x, args, client)
    summary = _sample_summary(args, gmm, source, res, x, seconds, None if out is None else out)
    if ll is not None:
        sub = x[: args.loglik]
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


def _log_likelihood(process, gmm, x, args, client):
    """The likelihood of the first --loglik samples, on the Dask client when there is one."""
    opts = dict(seed=args.seed, n_threads=args.threads)
    sub = x[: args.loglik]
    if client is None:
        return diffusion.log_likelihood(process, gmm, sub, batch_size=args.batch_size, **opts)
    from ..scale import log_likelihood

    block = args.batch_size or _DASK_BLOCK
    lazy = log_likelihood(process, gmm, sub, block_samples=block, return_result=True, **opts)
    return lazy.compute(scheduler=client)


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
        "first M samples, next to their true log-density (in batches of --batch-size rows; "
        "on the Dask workers with --scheduler/--workers)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    p.add_argument(
        "--no-progress", "--quiet", dest="no_progress", action="store_true",
        help="never show a progress bar (none is shown with --json either)",
    )  # fmt: skip
    add_dask_options(p)
    p.set_defaults(func=_cmd_sample)
