"""The audit's shared context and its array and hubness sections (whitening: ``_spectrum``,
geodesic: ``_geodesic``, softmax head: ``_softmax``).

Each section is a function ``(ctx) -> AuditSection`` of validated inputs; the verdict, the
thresholds it uses (from :mod:`._verdicts`) and a next step with the exact latentgeo call are
decided here, next to the numbers they rest on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..hubs import hubness
from ..neighbors import knn
from ._report import AuditSection
from ._verdicts import (
    CONE_CUTS,
    SKEWNESS_CUTS,
    SKEWNESS_SCALE,
    grade,
    worst,
)

#: Hubs listed by the hubness section.
TOP_HUBS = 10
#: Reductions whose effect the hubness section measures.
AUDIT_REDUCTIONS = ("mp", "ls", "csls")
#: Bins of the histograms (norms, geodesic ratios).
BINS = 40


@dataclass(frozen=True)
class Context:
    """Validated inputs shared by the sections."""

    X: np.ndarray
    k: int
    metric: str
    hub_size: float
    n_threads: Optional[int]
    progress: bool
    bias: Optional[np.ndarray] = None
    vocab: Optional[list] = None


def _hist(values: np.ndarray, bins: int = BINS) -> dict:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"edges": [], "counts": []}
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return {"edges": edges.tolist(), "counts": counts.tolist()}


# --- array ------------------------------------------------------------------------------------


def power_of_two_scale(X: np.ndarray) -> float:
    """An exact power of two s with max|X| / s near 1 when max|X| is outside [1e-100, 1e100]
    (else 1.0): the scale-free analyses run on X / s, exactly, without overflowing squares."""
    if X.size == 0:
        return 1.0
    top = max(float(X.max()), -float(X.min()))  # no |X| temporary
    if top == 0 or 1e-100 <= top <= 1e100 or not np.isfinite(top):
        return 1.0
    return float(np.ldexp(1.0, int(np.frexp(top)[1])))


def _norm(v: np.ndarray) -> float:
    """Euclidean norm of a float64 vector without overflow or underflow of the squares."""
    top = float(np.abs(v).max()) if v.size else 0.0
    return top * float(np.linalg.norm(v / top)) if 0 < top < np.inf else top


def _scaled_std(v: np.ndarray) -> float:
    """Standard deviation without overflowing squares."""
    top = float(v.max()) if v.size else 0.0
    return top * float((v / top).std()) if 0 < top < np.inf else float(v.std())


def _row_norms(X: np.ndarray) -> np.ndarray:
    """float64 row norms; rows whose squared norm overflows or underflows are rescaled first."""
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
    for i in np.flatnonzero(~np.isfinite(norms) | (norms < 1e-150)):
        norms[i] = _norm(X[i].astype(np.float64))
    return norms


def array_section(ctx: Context) -> AuditSection:
    """Shape, dtype, row norms, zero and duplicate rows, and the "cone" (anisotropy)."""
    X = ctx.X
    n, d = X.shape
    norms = _row_norms(X)
    with np.errstate(over="ignore", invalid="ignore"):
        mean_row = X.mean(axis=0, dtype=np.float64)
    if not np.isfinite(mean_row).all():  # the sums overflowed (|x| near the float64 maximum)
        top = power_of_two_scale(X)
        mean_row = top * (X / top).mean(axis=0, dtype=np.float64)
    top_norm = float(norms.max())
    mean_norm = top_norm * float((norms / top_norm).mean()) if 0 < top_norm < np.inf else 0.0
    mean_len = _norm(mean_row)
    # |mean row| / mean |row|: 0 when centred, near 1 when all rows share one direction.
    ratio = mean_len / mean_norm if 0 < mean_norm < np.inf else 0.0
    nonzero = norms > 0
    if mean_len > 0 and nonzero.any():
        unit = mean_row / mean_len
        proj = np.asarray(X @ unit.astype(X.dtype), dtype=np.float64)
        mean_cos = float(np.mean(np.clip(proj[nonzero] / norms[nonzero], -1.0, 1.0)))
    else:
        mean_cos = 0.0
    zero_rows = int(np.count_nonzero(~nonzero))
    duplicates = int(n - np.unique(X, axis=0).shape[0])
    values = {
        "rows": int(n),
        "dims": int(d),
        "dtype": str(X.dtype),
        "norm_min": float(norms.min()),
        "norm_median": float(np.median(norms)),
        "norm_mean": mean_norm,
        "norm_max": float(norms.max()),
        "norm_std": _scaled_std(norms),
        "zero_rows": zero_rows,
        "duplicate_rows": duplicates,
        "mean_direction_ratio": ratio,
        "mean_cosine_to_mean": mean_cos,
    }
    cone, cone_level = grade(mean_cos, CONE_CUTS, ("no cone", "a mild cone", "a strong cone"))
    # (level, verdict, finding) per observation; the verdict is the worst one's.
    obs = [
        (
            cone_level,
            f"The vectors crowd into {cone} around one shared direction (average cosine "
            f"{mean_cos:.2f} to the mean): unrelated items look similar under cosine.",
            f"The average cosine between a row and the mean direction is {mean_cos:.2f} "
            f"({cone}); |mean row| / mean |row| is {ratio:.2f}.",
        )
    ]
    if zero_rows:
        obs.append((
            "problem",
            f"{zero_rows} row(s) are all zeros: they have no direction and no meaningful "
            "neighbours.",
            f"{zero_rows} all-zero row(s) (cosine to them is undefined).",
        ))  # fmt: skip
    if duplicates:
        obs.append((
            "warning",
            f"{duplicates} row(s) repeat an earlier row exactly: duplicates fill each other's "
            "nearest-neighbour slots.",
            f"{duplicates} exact duplicate row(s) (at distance 0 from their twin).",
        ))  # fmt: skip
    levels = [o[0] for o in obs]
    level = worst(levels)
    findings = [o[2] for o in obs]
    if level == "ok":
        verdict = "The matrix looks healthy: no zero or duplicate rows and no dominant direction."
    else:
        verdict = next(o[1] for o in obs if o[0] == level)
    next_step = (
        "Xc = latentgeo.Whitening(beta=1, gamma=0).fit_transform(X)  # remove the shared mean"
        if cone_level != "ok"
        else "latentgeo.audit(X, sections=['hubness'])  # the neighbourhoods next"
    )
    if zero_rows or duplicates:
        next_step = "keep = np.unique(X, axis=0, return_index=True)[1]; X = X[np.sort(keep)]"
        if zero_rows:
            next_step += "; X = X[np.linalg.norm(X, axis=1) > 0]"
        next_step += "; report = latentgeo.audit(X)  # again, without them"
    return AuditSection(
        name="array",
        title="The array",
        about="Basic facts about the matrix, and whether the vectors all point roughly the same "
        "way (a 'cone'). Inside a cone every pair has a high cosine similarity, so cosine stops "
        "telling related items from unrelated ones.",
        level=level,
        verdict=verdict,
        findings=tuple(findings),
        thresholds=f"average cosine to the mean direction: below {CONE_CUTS[0]} no cone, "
        f"{CONE_CUTS[0]}-{CONE_CUTS[1]} mild, above {CONE_CUTS[1]} strong (latentgeo's cut-offs; "
        "contextual embeddings often show strong cones); any zero row is a problem, any "
        "duplicate a warning",
        sources=("ethayarajh2019", "mu2018"),
        next_step=next_step,
        notes=(
            "mean_direction_ratio = |mean row| / mean |row|: 0 when the rows are centred, 1 "
            "when they all point the same way.",
        ),
        values=values,
        data={"norm_hist": _hist(norms)},
    )


# --- hubness ----------------------------------------------------------------------------------


def hubness_section(ctx: Context) -> AuditSection:
    """k-occurrence distribution, scores, top hubs and what each reduction would buy."""
    X, k = ctx.X, ctx.k
    n = X.shape[0]
    if k > n - 1:
        raise ValueError(
            f"k={k} must be smaller than the number of points n={n} (each point is excluded "
            "from its own neighbours)"
        )
    n_cand = max(k, min(max(3 * k, k + 10), n - 1))
    cand = knn(X, n_cand, metric=ctx.metric, n_threads=ctx.n_threads, progress=ctx.progress)
    report = hubness(cand, k, hub_size=ctx.hub_size)
    after = {}
    for red in AUDIT_REDUCTIONS:
        try:
            with warnings.catch_warnings():  # 0 * inf inside mp's flat-row step (harmless)
                warnings.simplefilter("ignore", RuntimeWarning)
                after[red] = hubness(cand, k, reduction=red, hub_size=ctx.hub_size).skewness
        except ValueError:  # e.g. a neighbourhood size larger than the candidate count
            after[red] = float("nan")
    out = report.to_dict()
    for name in ("k_occurrence", "hubs", "antihubs", "reduction", "n_candidates"):
        out.pop(name)
    out["metric"] = ctx.metric
    out["n_hubs"] = int(report.hubs.size)
    out["n_antihubs"] = int(report.antihubs.size)
    out["top_hubs"] = [
        {"index": int(i), "k_occurrence": int(report.k_occurrence[i])}
        for i in report.hubs[:TOP_HUBS]
    ]
    for red, s in after.items():
        out[f"skewness_{red}"] = s
    s = report.skewness
    s = 0.0 if not np.isfinite(s) else float(s)
    label, level = grade(s, SKEWNESS_CUTS, ("low", "moderate", "strong"))
    hubs_pct = 100 * report.hubs.size / n
    anti_pct = 100 * report.antihubs.size / n
    findings = [
        f"The skewness of the {k}-occurrence N_{k} is {s:.2f} ({label} hubness).",
        f"{report.hubs.size} hubs ({hubs_pct:.1f} %) appear in at least {ctx.hub_size:g} x {k} "
        f"neighbour lists; {report.antihubs.size} antihubs ({anti_pct:.1f} %) are in none.",
    ]
    finite = {r: v for r, v in after.items() if np.isfinite(v)}
    best = min(finite, key=finite.get) if finite else None
    if best is not None:
        effect = ", ".join(f"{r} {v:.2f}" for r, v in finite.items())
        findings.append(f"Skewness after hubness reduction: {effect} (before: {s:.2f}).")
    if level == "ok":
        verdict = (
            f"Low hubness (skewness {s:.2f}): nearest-neighbour lists are shared fairly; "
            "kNN search and retrieval can be trusted as they are."
        )
        next_step = f"latentgeo.knn(X, {k}, metric={ctx.metric!r})"
    else:
        verdict = (
            f"{label.capitalize()} hubness (skewness {s:.2f}): a few points are the nearest "
            f"neighbours of many others and {anti_pct:.0f} % are nobody's; kNN retrieval, "
            "kNN classification and clustering are biased towards the hubs."
        )
        next_step = (
            f"latentgeo.reduce_hubness(X, {best!r}, k={k}, metric={ctx.metric!r})"
            f"  # skewness {s:.2f} -> {finite[best]:.2f}"
            if best is not None
            else f"latentgeo.reduce_hubness(X, 'mp', k={k}, metric={ctx.metric!r})"
        )
    counts = np.bincount(report.k_occurrence)
    return AuditSection(
        name="hubness",
        title="Hubness",
        about="In high dimensions a few points turn up in the nearest-neighbour lists of very "
        "many others (hubs) while others are in nobody's list (antihubs), so search, "
        "recommendation and kNN classifiers keep returning the same few items. The chart counts, "
        "for every point, how many other points list it among their k nearest neighbours.",
        level=level,
        verdict=verdict,
        findings=tuple(findings),
        thresholds=f"skewness of N_k below {SKEWNESS_CUTS[0]:g} low, {SKEWNESS_CUTS[0]:g}-"
        f"{SKEWNESS_CUTS[1]:g} moderate, {SKEWNESS_CUTS[1]:g} or more strong (latentgeo's "
        f"cut-offs; for scale, {SKEWNESS_SCALE}); hubs: N_k >= {ctx.hub_size:g} k",
        sources=("radovanovic2010", "schnitzer2012", "feldbauer2019", "conneau2018"),
        next_step=next_step,
        notes=(
            f"N_{k}(x) counts the other points whose {k} nearest neighbours include x; its mean "
            f"is always {k}. Skewness > 0 means a long right tail (hubs).",
            "Reductions re-rank each point's candidates: mp = mutual proximity (Gaussian), "
            "ls = local scaling, csls = cross-domain similarity local scaling.",
        ),
        values=out,
        data={
            "k_occurrence_counts": counts.tolist(),
            "hub_threshold": float(ctx.hub_size * k),
            "skewness_after": {"none": s, **after},
        },
    )
