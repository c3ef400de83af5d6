"""The audit's plots: matplotlib figures rendered to inline SVG (no pyplot, no global state);
each plotter takes an :class:`~latentgeo.audits.AuditSection`.

matplotlib is optional (``pip install 'latentgeo[report]'``); text and JSON never import it.
"""

from __future__ import annotations

import io
import re
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

INSTALL_HINT = "pip install 'latentgeo[report]'"

#: Colours shared with the page's CSS.
BLUE, RED, ORANGE, GREY, GREEN = "#3b6ea8", "#cf222e", "#d4790a", "#8c959f", "#1a7f37"
FIGSIZE = (7.2, 3.0)


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def require_matplotlib() -> None:
    """Raise ImportError naming the extra to install when matplotlib is missing."""
    if not have_matplotlib():
        raise ImportError(
            "the HTML report draws its plots with matplotlib, which is not installed: "
            + INSTALL_HINT
        )


def _figure(ncols: int = 1, height: float = FIGSIZE[1]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(FIGSIZE[0], height), layout="constrained")
    axes = fig.subplots(1, ncols)
    for ax in np.atleast_1d(axes):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(True, axis="y", color="#e6e8eb", linewidth=0.8)
        ax.set_axisbelow(True)
    return fig, axes


def _svg(fig, salt: str) -> str:
    """The figure as an inline ``<svg>`` element: no XML prolog, DTD, metadata or global style."""
    import matplotlib

    rc = {"svg.fonttype": "none", "svg.hashsalt": salt}
    with matplotlib.rc_context(rc):
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r"<style[^>]*>.*?</style>", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    return svg.replace("<svg", '<svg role="img"', 1).strip()


def _bars_from_hist(ax, hist: dict, color: str) -> None:
    edges = np.asarray(hist["edges"], dtype=float)
    counts = np.asarray(hist["counts"], dtype=float)
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=color, linewidth=0)
    ax.set_ylabel("rows")


def _array(s: Any) -> List[Tuple[str, object]]:
    hist = s.data.get("norm_hist")
    if not hist or not hist["counts"]:
        return []
    fig, ax = _figure()
    _bars_from_hist(ax, hist, BLUE)
    ax.axvline(s.values["norm_median"], color=GREY, linestyle="--", linewidth=1,
               label=f"median {s.values['norm_median']:.3g}")  # fmt: skip
    ax.set_xlabel("row norm |x|")
    ax.legend(frameon=False)
    return [("Distribution of the row norms.", fig)]


def _hubness(s: Any) -> List[Tuple[str, object]]:
    counts = np.asarray(s.data["k_occurrence_counts"], dtype=float)
    thr = s.data["hub_threshold"]
    k = s.values["k"]
    x = np.arange(counts.size)
    colors = np.where(x == 0, ORANGE, np.where(x >= thr, RED, BLUE))
    fig, ax = _figure()
    keep = counts > 0
    ax.bar(x[keep], counts[keep], width=1.0, color=colors[keep], linewidth=0)
    ax.set_yscale("log")
    ax.axvline(k, color=GREY, linestyle=":", linewidth=1)
    ax.axvline(thr - 0.5, color=RED, linestyle="--", linewidth=1)
    from matplotlib.patches import Patch

    ax.legend(
        handles=[
            Patch(color=ORANGE, label=f"antihubs (N_{k} = 0): {s.values['n_antihubs']}"),
            Patch(color=BLUE, label="others"),
            Patch(color=RED, label=f"hubs (N_{k} >= {thr:g}): {s.values['n_hubs']}"),
        ],
        frameon=False,
    )
    ax.set_xlabel(f"N_{k}: in how many other points' {k}-NN lists a point appears (mean {k})")
    ax.set_ylabel("points (log scale)")
    out = [(f"k-occurrence distribution (k = {k}); dotted: the mean, dashed: the hub cut.", fig)]
    after = {r: v for r, v in s.data["skewness_after"].items() if v is not None}
    if len(after) > 1:
        fig, ax = _figure(height=0.45 * len(after) + 0.9)
        names = list(after)
        vals = [after[r] for r in names]
        labels = {"none": "as is", "mp": "mutual proximity", "ls": "local scaling",
                  "csls": "CSLS"}  # fmt: skip
        ax.barh([labels.get(r, r) for r in names], vals,
                color=[GREY if r == "none" else GREEN for r in names])  # fmt: skip
        ax.invert_yaxis()
        ax.axvline(0, color="#57606a", linewidth=0.8)
        for cut in (1.0, 3.0):
            ax.axvline(cut, color=ORANGE if cut == 1.0 else RED, linestyle="--", linewidth=1)
        ax.grid(True, axis="x", color="#e6e8eb", linewidth=0.8)
        ax.set_xlabel(f"skewness of N_{k} (dashed: the 'moderate' and 'strong' cut-offs)")
        out.append(("What each hubness reduction would buy.", fig))
    return out


def _whitening(s: Any) -> List[Tuple[str, object]]:
    lam = np.asarray(s.data["variance_share"], dtype=float)
    cum = np.asarray(s.data["cumulative"], dtype=float)
    if lam.size == 0 or not (lam > 0).any():
        return []
    fig, ax = _figure()
    i = np.arange(1, lam.size + 1)
    pos = lam > 0
    ax.plot(i[pos], 100 * lam[pos], color=BLUE, marker="o", markersize=2.5, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("direction (eigenvalue rank)")
    ax.set_ylabel("% of the variance (log scale)", color=BLUE)
    ax2 = ax.twinx()
    ax2.spines[["top"]].set_visible(False)
    ax2.plot(i, 100 * cum, color=ORANGE, linewidth=1.5)
    ax2.set_ylim(0, 102)
    ax2.set_ylabel("cumulative variance %", color=ORANGE)
    for q in (90, 95, 99):
        kq = s.values[f"k{q}"]
        ax2.axvline(kq, color=GREY, linestyle=":", linewidth=1)
        ax2.annotate(f"{q}%: k={kq}", (kq, q), xytext=(4, -12), textcoords="offset points",
                     fontsize=8, color="#57606a")  # fmt: skip
    return [
        (
            "Eigenvalue spectrum of the centred covariance (each eigenvalue as a share of the "
            "total) and the variance kept by the first k directions.",
            fig,
        )
    ]


def _geodesic(s: Any) -> List[Tuple[str, object]]:
    hist = s.data.get("ratio_hist")
    if not hist or not hist["counts"]:
        return []
    fig, ax = _figure()
    _bars_from_hist(ax, hist, BLUE)
    ax.set_ylabel("pairs")
    ax.axvline(s.values["ratio_median"], color=GREY, linestyle="--", linewidth=1,
               label=f"median {s.values['ratio_median']:.3g}")  # fmt: skip
    ax.set_xlabel("geodesic / straight-line distance (1 = flat)")
    ax.legend(frameon=False)
    return [("How much longer paths along the kNN graph are than straight lines.", fig)]


def _softmax(s: Any) -> List[Tuple[str, object]]:
    hist = s.data.get("margin_hist")
    if not hist or not hist["counts"]:
        return []
    fig, ax = _figure()
    _bars_from_hist(ax, hist, BLUE)
    ax.set_xscale("log")
    ax.set_xlabel("witness margin z_k - max_j z_j (log scale; small = nearly unreachable)")
    ax.set_ylabel("classes")
    n_arg, n_un = sum(hist["counts"]), s.values["n_unargmaxable"]
    ax.set_title(f"{n_arg} argmaxable classes; {n_un} unargmaxable (no witness)", fontsize=9)
    return [("Witness margins of the argmaxable classes.", fig)]


PLOTTERS: Dict[str, Callable[[Any], List[Tuple[str, object]]]] = {
    "array": _array,
    "hubness": _hubness,
    "whitening": _whitening,
    "geodesic": _geodesic,
    "unargmaxable": _softmax,
}


def section_plots(section: Any) -> List[Tuple[str, str]]:
    """``(caption, inline svg)`` for each plot of `section` (none for skipped sections)."""
    plotter = PLOTTERS.get(section.name)
    if plotter is None or section.level == "skipped":
        return []
    import matplotlib

    with matplotlib.rc_context({"font.size": 9, "font.family": "sans-serif"}):
        figs = plotter(section)
        return [(cap, _svg(fig, f"lg-{section.name}-{i}")) for i, (cap, fig) in enumerate(figs)]
