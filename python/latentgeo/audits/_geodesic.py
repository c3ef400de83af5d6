"""The audit's geodesic section: components of the kNN graph and geodesic / straight-line
distance ratios."""

from __future__ import annotations

import numpy as np

from ..geodesics import geodesic
from ..neighbors import connected_components, knn_graph
from ._report import AuditSection
from ._sections import Context, _hist, power_of_two_scale
from ._verdicts import RATIO_CUTS, grade, worst

#: Evenly spaced source rows of the geodesic section (deterministic: no random draw).
GEODESIC_SOURCES = 32


def _direct_distances(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    """(len(A), len(B)) float64 distances as knn_graph measures them (zero vector: cosine 1)."""
    A, B = A.astype(np.float64), B.astype(np.float64)
    if metric == "cosine":
        na, nb = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
        Ua = np.divide(A, na[:, None], out=np.zeros_like(A), where=na[:, None] > 0)
        Ub = np.divide(B, nb[:, None], out=np.zeros_like(B), where=nb[:, None] > 0)
        return np.maximum(1.0 - Ua @ Ub.T, 0.0)
    from scipy.spatial.distance import cdist

    return cdist(A, B, metric=metric)


def geodesic_section(ctx: Context) -> AuditSection:
    """Components of the kNN graph and how much longer paths along it are than straight lines.

    The ratio geodesic / direct distance is taken over the pairs (s, j) of up to
    :data:`GEODESIC_SOURCES` evenly spaced sources s and every other point j that is reachable
    and not a duplicate of s.
    """
    X, metric = ctx.X, ctx.metric
    n = X.shape[0]
    base = dict(name="geodesic", title="Geodesic structure")
    if metric not in ("euclidean", "sqeuclidean", "cosine"):
        why = f"metric {metric!r} is not a distance"
        return AuditSection(**base, level="skipped", verdict=f"Skipped: {why}.",
                            values={"skipped": why})  # fmt: skip
    if n < 2:
        return AuditSection(**base, level="skipped", verdict="Skipped: fewer than 2 rows.",
                            values={"skipped": "fewer than 2 rows"})  # fmt: skip
    k = min(ctx.k, n - 1)
    g = knn_graph(X, k, metric=metric, n_threads=ctx.n_threads)
    n_comp, labels = connected_components(g)
    sizes = np.sort(np.bincount(labels))[::-1]
    src = np.unique(np.linspace(0, n - 1, min(n, GEODESIC_SOURCES)).round().astype(np.int64))
    D = geodesic(g, src, dtype=np.float64, n_threads=ctx.n_threads, progress=ctx.progress)
    scale = 1.0 if metric == "cosine" else power_of_two_scale(X)
    if scale == 1.0:
        direct = _direct_distances(X[src], X, metric)
    else:  # squares of |x| beyond 1e154 overflow: measure on X / scale, exactly
        direct = _direct_distances(X[src] / scale, X / scale, metric)
        with np.errstate(over="ignore"):
            direct = direct * (scale * scale if metric == "sqeuclidean" else scale)
    other = np.ones(D.shape, dtype=bool)
    other[np.arange(src.size), src] = False
    use = other & np.isfinite(D) & (direct > 0)
    ratio = D[use] / direct[use]
    med = float(np.median(ratio)) if ratio.size else None
    values = {
        "k": int(k),
        "n_components": int(n_comp),
        "largest_component": int(sizes[0]),
        "component_sizes": sizes[:10].tolist(),
        "sampled_sources": int(src.size),
        "pairs": int(use.sum()),
        "unreachable_pairs": int((other & ~np.isfinite(D)).sum()),
        "ratio_median": med,
        "ratio_p90": float(np.percentile(ratio, 90)) if ratio.size else None,
    }
    findings, levels = [], []
    if n_comp > 1:
        levels.append("warning")
        findings.append(
            f"The {k}-NN graph falls apart into {n_comp} separate pieces (largest "
            f"{sizes[0]} of {n} points): no path connects points of different pieces, so their "
            "geodesic distance is infinite. Often these are real clusters."
        )
    else:
        levels.append("ok")
        findings.append(f"The {k}-NN graph is connected: every point can reach every other.")
    if med is not None:
        label, lv = grade(med, RATIO_CUTS, ("nearly flat", "curved", "strongly curved"))
        levels.append("warning" if lv != "ok" else "ok")
        findings.append(
            f"Along the graph, paths are a median {med:.2f} times longer than straight lines "
            f"({label})."
        )
    level = worst(levels)
    if n_comp > 1:
        verdict = (
            f"The neighbourhood graph splits into {n_comp} disconnected pieces: distances along "
            "the data are undefined between them (use a larger k or join the pieces)."
        )
        step = (
            f"D = latentgeo.geodesic(latentgeo.knn_graph(X, {k}), sources=[0, 1], "
            "policy='connect', X=X)"
        )
    elif level == "ok":
        verdict = "The data is one connected, nearly flat cloud: straight-line distances are fine."
        step = f"latentgeo.knn(X, {k}, metric={metric!r})"
    else:
        verdict = (
            "The data is curved: straight-line distances understate how far apart points are "
            "along the data; geodesic distances follow it."
        )
        step = f"D = latentgeo.geodesic(latentgeo.knn_graph(X, {k}), sources=[0, 1, 2])"
    return AuditSection(
        **base,
        about="Link every point to its k nearest neighbours: does the data form one connected "
        "cloud, and how much longer is the shortest path along the links than the straight "
        "line? A ratio near 1 means flat data; a large ratio means curved or stretched data, "
        "where straight-line distances mislead.",
        level=level,
        verdict=verdict,
        findings=tuple(findings),
        thresholds=f"median geodesic / straight-line ratio below {RATIO_CUTS[0]:g} nearly flat, "
        f"{RATIO_CUTS[0]:g}-{RATIO_CUTS[1]:g} curved, above {RATIO_CUTS[1]:g} strongly curved "
        "(latentgeo's cut-offs); more than one component is a warning",
        sources=("tenenbaum2000",),
        next_step=step,
        notes=(
            f"Geodesic distance = shortest path along the {k}-NN graph (edges weighted by "
            f"distance), from {src.size} evenly spaced source rows to every other row.",
        ),
        values=values,
        data={"ratio_hist": _hist(ratio)},
    )
