"""The audit's softmax-head section (unargmaxable classes) and vocabulary files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional

import numpy as np

from ..unargmax import unargmaxable
from ._report import AuditSection
from ._sections import Context

#: Classes listed by id (and token) in the section; the JSON keeps every id.
SHOWN = 20
#: Argmaxable classes with the smallest witness margins that the section lists.
NEAREST = 10


def read_vocab(path) -> List[Optional[str]]:
    """Tokens by id from a vocabulary file.

    Parameters
    ----------
    path : str or path-like
        A Hugging Face ``tokenizer.json`` (``model.vocab``, a ``{token: id}`` object or a
        ``[[token, score], ...]`` list, plus ``added_tokens``) or any other text file with one
        token per line (line i is id i).

    Returns
    -------
    list of str or None
        ``tokens[i]`` is the token of id i (None for an id the file does not name).

    Raises
    ------
    ValueError
        If the file cannot be read or a JSON file has no ``model.vocab``.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
    >>> _ = open(path, "w").write("<pad>\\nhello\\nworld\\n")
    >>> read_vocab(path)
    ['<pad>', 'hello', 'world']
    """
    p = Path(os.fspath(path))
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the vocabulary file {p}: {exc}") from None
    if p.suffix.lower() != ".json":
        return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    try:
        obj = json.loads(text)
        vocab = obj["model"]["vocab"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{p} is not a tokenizer.json with a model.vocab ({type(exc).__name__}: {exc})"
        ) from None
    pairs = []
    if isinstance(vocab, dict):
        pairs = [(int(i), str(t)) for t, i in vocab.items()]
    elif isinstance(vocab, list):  # Unigram: [[token, score], ...], id = position
        pairs = [(i, str(e[0] if isinstance(e, list) else e)) for i, e in enumerate(vocab)]
    else:
        raise ValueError(f"{p}: model.vocab is neither an object nor a list")
    for added in obj.get("added_tokens") or []:
        if isinstance(added, dict) and "id" in added and "content" in added:
            pairs.append((int(added["id"]), str(added["content"])))
    if any(i < 0 for i, _ in pairs):
        raise ValueError(f"{p}: negative token ids")
    tokens: List[Optional[str]] = [None] * (max((i for i, _ in pairs), default=-1) + 1)
    for i, t in pairs:
        tokens[i] = t
    return tokens


def _token(vocab: Optional[list], i: int) -> Optional[str]:
    if vocab is None or i >= len(vocab):
        return None
    return vocab[i]


def _label(vocab, i: int) -> str:
    t = _token(vocab, i)
    return str(i) if t is None else f"{i} {t!r}"


def _log_hist(values: np.ndarray, bins: int = 40) -> dict:
    """Histogram of the positive `values` over log-spaced bins (``edges``, ``counts``)."""
    v = values[values > 0]
    if v.size == 0:
        return {"edges": [], "counts": []}
    lo, hi = np.log10(v.min()), np.log10(v.max())
    edges = np.logspace(lo, hi if hi > lo else lo + 1, bins + 1)
    edges[0], edges[-1] = min(edges[0], v.min()), max(edges[-1], v.max())
    counts, _ = np.histogram(v, bins=edges)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def softmax_section(ctx: Context) -> AuditSection:
    """Unargmaxable classes of the rows read as a softmax layer ``z = W x + b``."""
    W, b, vocab = ctx.X, ctx.bias, ctx.vocab
    report = unargmaxable(W, b, n_threads=ctx.n_threads, progress=ctx.progress)
    report.verify(raise_on_failure=True)  # the independent float64 re-check
    un, und = report.unargmaxable, report.undecided
    V = report.V
    cert_sizes = [int(report.certificate(int(c))[0].size) for c in un]
    arg = report.status == "argmaxable"
    margins = report.margin[arg]
    order = np.argsort(margins, kind="stable")[:NEAREST]
    nearest = [{"index": int(report.classes[arg][i]), "margin": float(margins[i])} for i in order]
    values = {
        "semantics": report.semantics,
        "has_bias": report.has_bias,
        "classes_checked": int(len(report.classes)),
        "n_unargmaxable": int(un.size),
        "unargmaxable": un.tolist(),
    }
    if vocab is not None:
        values["unargmaxable_tokens"] = [_token(vocab, int(i)) for i in un]
    values["n_undecided"] = int(und.size)
    values["undecided"] = und.tolist()
    values["certificate_sizes"] = cert_sizes
    values["margin_min"] = float(margins.min()) if margins.size else None
    values["margin_median"] = float(np.median(margins)) if margins.size else None
    values["smallest_margins"] = nearest
    if vocab is not None and len(vocab) != V:
        values["vocab_size"] = len(vocab)
    findings = []
    if un.size:
        shown = ", ".join(_label(vocab, int(i)) for i in un[:SHOWN])
        more = f" and {un.size - SHOWN} more" if un.size > SHOWN else ""
        findings.append(f"Unargmaxable: {shown}{more}.")
        lo, hi = min(cert_sizes), max(cert_sizes)
        sizes = str(lo) if lo == hi else f"{lo} to {hi}"
        findings.append(
            f"Each is certified by a convex combination of {sizes} other rows that always "
            "scores at least as high."
        )
    if und.size:
        findings.append(f"{und.size} classes could not be decided either way.")
    if margins.size:
        low = ", ".join(_label(vocab, e["index"]) for e in nearest[:5])
        findings.append(
            f"Every other class has a witness input; the smallest witness margins "
            f"(z_k - max_j z_j) belong to {low} (closest to being unreachable)."
        )
    if vocab is not None and len(vocab) != V:
        findings.append(f"The vocabulary names {len(vocab)} tokens but the head has {V} rows.")
    if un.size:
        level = "problem"
        verdict = (
            f"{un.size} of {V} classes can never be the top prediction, whatever the input: "
            "greedy or argmax decoding can never output them."
        )
        step = f"latentgeo.unargmaxable(W, b).certificate({int(un[0])})  # the rows that win"
    elif und.size:
        level = "warning"
        verdict = f"No class was proven unreachable, but {und.size} remain undecided."
        step = (
            "latentgeo.unargmaxable(W, b, patience=10 * latentgeo.unargmax.DEFAULT_PATIENCE)"
            "  # more LP rounds"
        )
    else:
        level = "ok"
        verdict = f"Every one of the {V} classes can be the top prediction for some input."
        step = "latentgeo.unargmaxable(W, b).witness(0)  # an input that makes class 0 win"
    return AuditSection(
        name="unargmaxable",
        title="Softmax head",
        about="The rows read as the output layer of a classifier or language model (scores "
        "z = W x + b). A class whose row lies inside the convex hull of the others, with no bias "
        "to lift it, never gets the highest score for any input: argmax decoding can never "
        "produce it.",
        level=level,
        verdict=verdict,
        findings=tuple(findings),
        thresholds="exact: a class is unargmaxable when its row (and bias) is dominated by a "
        "convex combination of the others (certificate), argmaxable when an input makes it the "
        "strict argmax (witness); any unargmaxable class is a problem",
        sources=("demeter2020", "grivas2022"),
        next_step=step,
        notes=(
            "Each verdict comes with a certificate and is re-checked in float64 independently "
            "of the solver (UnargmaxReport.verify).",
        ),
        values=values,
        data={"margin_hist": _log_hist(margins), "unargmaxable_ids": un.tolist()},
    )
