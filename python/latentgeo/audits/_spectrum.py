"""The audit's whitening section: the eigenvalue spectrum of the centred covariance, the
effective rank and the k that keep 90/95/99 % of the variance."""

from __future__ import annotations

import warnings

import numpy as np

from ..whitening import Whitening
from ._report import AuditSection
from ._sections import Context, power_of_two_scale
from ._verdicts import ERANK_CUTS


def spectrum_stats(eigenvalues: np.ndarray, rank: int) -> dict:
    """Effective rank (exp of the spectral entropy), k for 90/95/99 % and the variance shares."""
    lam = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0.0, None)
    total = float(lam.sum())
    d = lam.size
    if total <= 0:
        return {"rank": 0, "effective_rank": 0.0, "k90": 0, "k95": 0, "k99": 0,
                "top_share": 0.0, "cumulative": [0.0] * d}  # fmt: skip
    p = lam / total
    nz = p[p > 0]
    erank = float(np.exp(-np.sum(nz * np.log(nz))))
    cum = np.minimum(np.cumsum(p), 1.0)

    def k_for(q):
        return int(min(d, np.searchsorted(cum, q - 1e-12) + 1))

    return {
        "rank": int(rank),
        "effective_rank": erank,
        "k90": k_for(0.90),
        "k95": k_for(0.95),
        "k99": k_for(0.99),
        "top_share": float(p[0]),
        "cumulative": cum.tolist(),
    }


def whitening_section(ctx: Context) -> AuditSection:
    """Eigenvalue spectrum of the centred covariance, effective rank and the k for 90/95/99 %."""
    X = ctx.X
    n, d = X.shape
    with warnings.catch_warnings():  # "n_components exceeds the rank": the verdict says so
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = power_of_two_scale(X)  # the spectrum's shape is scale-free
        w = Whitening(beta=1.0, gamma=1.0).fit(X if scale == 1.0 else X / scale)
        lam = np.clip(np.asarray(w.eigenvalues_, dtype=np.float64), 0.0, None)
        st = spectrum_stats(lam, w.rank_)
    with np.errstate(over="ignore", under="ignore"):
        total = float(lam.sum()) * scale * scale
    erank = st["effective_rank"]
    frac = erank / d
    values = {
        "dims": int(d),
        "rank": st["rank"],
        "effective_rank": erank,
        "effective_rank_fraction": frac,
        "k90": st["k90"],
        "k95": st["k95"],
        "k99": st["k99"],
        "top_eigenvalue_share": st["top_share"],
        "total_variance": total if np.isfinite(total) else None,
    }
    findings = [
        f"Effective rank {erank:.1f} of {d} dimensions ({100 * frac:.0f} %); the first "
        f"{st['k90']}, {st['k95']} and {st['k99']} directions hold 90, 95 and 99 % of the "
        "variance.",
    ]
    if st["rank"] < d:
        level = "warning"
        findings.insert(
            0,
            f"The rows span only {st['rank']} of {d} dimensions (eigenvalues below 1e-6 of the "
            "largest count as zero).",
        )
        verdict = (
            f"The data lies in a {st['rank']}-dimensional subspace: whitening every column "
            "would blow up noise; keep at most that many components."
        )
        call_k = max(st["rank"], 1)
    elif frac < ERANK_CUTS[1]:
        level = "problem"
        verdict = (
            f"Very uneven spectrum: a few directions carry most of the variance (effective "
            f"rank {erank:.1f} of {d}); cosine and Euclidean distances are dominated by them."
        )
        call_k = st["k99"]
    elif frac < ERANK_CUTS[0]:
        level = "warning"
        verdict = (
            f"Uneven spectrum (effective rank {erank:.1f} of {d}): distances are dominated by "
            "the leading directions; whitening equalises them."
        )
        call_k = st["k99"]
    else:
        level = "ok"
        verdict = (
            f"The variance is spread over many directions (effective rank {erank:.1f} of {d}); "
            "whitening is optional."
        )
        call_k = d
    kw = "" if call_k >= d else f", n_components={call_k}"
    return AuditSection(
        name="whitening",
        title="Whitening and the spectrum",
        about="How the variance is spread over directions. When a few directions dominate, "
        "distances mostly measure those few. Whitening rotates the data onto its principal "
        "directions and rescales them to equal variance (optionally keeping only the top k), "
        "which often improves cosine search with sentence embeddings.",
        level=level,
        verdict=verdict,
        findings=tuple(findings),
        thresholds=f"effective rank / dimensions below {ERANK_CUTS[1]:g} very uneven, below "
        f"{ERANK_CUTS[0]:g} uneven (latentgeo's cut-offs); a rank below the dimensions is a "
        "warning",
        sources=("roy2007", "su2021"),
        next_step=f"latentgeo.Whitening(beta=1, gamma=1{kw}).fit(X_train).transform(X)",
        notes=(
            "Effective rank = exp(entropy of the normalised eigenvalues) (Roy & Vetterli 2007): "
            "d for a perfectly even spectrum, r for r equal directions, near 1 when one "
            "direction dominates. rank counts the eigenvalues above 1e-6 of the largest.",
            "Whitening maps x to (x - beta mu) U Lambda^(-gamma/2), first k columns. beta "
            "(0..1) is how much of the mean is removed: 1 centres, 0 keeps the origin. gamma "
            "(0..1) is how much the variance is equalised: 1 gives every kept direction unit "
            "variance, 0 only rotates. k (n_components) keeps the k largest directions; "
            "latentgeo.whitening_grid tunes all three on labelled pairs.",
        ),
        values=values,
        data={
            "variance_share": (lam / lam.sum() if lam.sum() > 0 else lam).tolist(),
            "cumulative": st["cumulative"],
        },
    )
