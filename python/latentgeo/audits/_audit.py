"""The public :func:`audit`: validation once, then the chosen sections in turn."""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

import numpy as np

from .._validate import as_float_matrix, check_choice, check_int, check_n_threads, check_real
from ..neighbors import METRICS
from ._geodesic import geodesic_section
from ._report import AuditReport, AuditSection
from ._sections import Context, array_section, hubness_section
from ._softmax import read_vocab, softmax_section
from ._spectrum import whitening_section

#: Every section, in report order: name -> function of the validated inputs.
SECTIONS: Dict[str, Callable[[Context], AuditSection]] = {
    "array": array_section,
    "hubness": hubness_section,
    "whitening": whitening_section,
    "geodesic": geodesic_section,
    "unargmaxable": softmax_section,
}
#: The sections run when none are named (plus "unargmaxable" with ``softmax=True``).
DEFAULT_SECTIONS = ("array", "hubness", "whitening", "geodesic")


def audit(
    X,
    *,
    k: int = 10,
    metric: str = "euclidean",
    sections: Optional[Sequence[str]] = None,
    softmax: bool = False,
    bias=None,
    vocab=None,
    hub_size: float = 2.0,
    n_threads: Optional[int] = None,
    progress: bool = False,
) -> AuditReport:
    """Audit an embedding matrix or a softmax head: verdicts in plain words, numbers and plots.

    Sections (see :data:`SECTIONS`): ``"array"`` (shape, norms, zero and duplicate rows, the
    "cone" of a shared mean direction), ``"hubness"`` (k-occurrence, scores, top hubs and the
    skewness after mutual proximity, local scaling and CSLS), ``"whitening"`` (eigenvalue
    spectrum, effective rank, the k that keep 90/95/99 % of the variance), ``"geodesic"``
    (components of the kNN graph, geodesic / straight-line distance ratios) and
    ``"unargmaxable"`` (rows read as a softmax layer: classes no input can make the argmax).
    Each opens with a one-line verdict, the thresholds it uses and where they come from, and a
    suggested next step as an exact latentgeo call.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Embeddings (one per row) or the weight matrix of a softmax layer (one row per class).
    k : int
        Neighbours per point for the kNN-based sections (``1 <= k <= n - 1`` for hubness).
    metric : str
        Distance of the kNN-based sections (see :func:`latentgeo.knn`).
    sections : sequence of str, optional
        Sections to run, in report order (default: array, hubness, whitening, geodesic, and
        unargmaxable when `softmax` is true).
    softmax : bool
        Also run the ``"unargmaxable"`` section (exact, LP-backed: far costlier than the others
        on large matrices).
    bias : array_like, shape (n,), optional
        Bias of the softmax layer (only with the unargmaxable section).
    vocab : str, path-like or sequence of str, optional
        Tokens by class id, or a vocabulary file (see :func:`read_vocab`), to name the
        unargmaxable classes.
    hub_size : float
        Hubs have ``N_k >= hub_size * k``.
    n_threads : int, optional
        Threads (default: all cores).
    progress : bool
        Progress bars on stderr for the long steps (kNN, geodesics, the LP).

    Returns
    -------
    AuditReport
        With ``to_dict()``, ``to_text()``, ``to_html(path=None)`` and a notebook view.

    Raises
    ------
    ValueError
        For NaN or non-2-D X, k out of range, an unknown metric or section, or a bias or
        vocabulary without the unargmaxable section.
    TypeError
        For non-numeric X or a non-integer k.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> X = np.random.default_rng(0).standard_normal((300, 100))
    >>> report = latentgeo.audit(X, sections=["hubness", "whitening"])
    >>> report["hubness"].level, report["whitening"].values["rank"]
    ('problem', 100)
    >>> report["hubness"].verdict.split(":")[0]  # doctest: +ELLIPSIS
    'Strong hubness (skewness ...)'
    """
    X = as_float_matrix(X, "X")
    k = check_int(k, "k", low=1)
    metric = check_choice(metric, "metric", METRICS)
    n_threads = check_n_threads(n_threads)
    hub_size = check_real(hub_size, "hub_size", low=0, low_open=True)
    if sections is None:
        names = list(DEFAULT_SECTIONS) + (["unargmaxable"] if softmax else [])
    else:
        if isinstance(sections, str):
            sections = [s for s in sections.split(",") if s]
        wanted = [check_choice(s, "section", tuple(SECTIONS)) for s in sections]
        if softmax and "unargmaxable" not in wanted:
            wanted.append("unargmaxable")
        names = [s for s in SECTIONS if s in wanted]
        if not names:
            raise ValueError(f"no section chosen; choose from {list(SECTIONS)}")
    if (bias is not None or vocab is not None) and "unargmaxable" not in names:
        raise ValueError("bias and vocab apply only to the softmax (unargmaxable) section")
    if bias is not None:
        bias = np.asarray(bias)
        if bias.ndim != 1 or bias.shape[0] != X.shape[0]:
            raise ValueError(f"bias must have shape ({X.shape[0]},), got {bias.shape}")
    if vocab is not None and not isinstance(vocab, (list, tuple)):
        vocab = read_vocab(vocab)
    ctx = Context(
        X=X,
        k=k,
        metric=metric,
        hub_size=float(hub_size),
        n_threads=n_threads,
        progress=bool(progress),
        bias=bias,
        vocab=None if vocab is None else list(vocab),
    )
    done = tuple(SECTIONS[name](ctx) for name in names)
    return AuditReport(
        input={"shape": list(X.shape), "dtype": str(X.dtype)},
        k=k,
        metric=metric,
        sections=done,
    )
