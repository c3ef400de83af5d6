"""The audit's result: :class:`AuditSection` and :class:`AuditReport`, with their text, JSON
and HTML forms."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional, Tuple

from .._files import AtomicFile
from .._json import plain
from ._format import _fmt_key, _fmt_value
from ._verdicts import REFERENCES, SHORT


@dataclass(frozen=True, eq=False)
class AuditSection:
    """One section of an audit: a verdict in plain words and the numbers behind it.

    Attributes
    ----------
    name : str
        Key of the section (``"array"``, ``"hubness"``, ``"whitening"``, ``"geodesic"``,
        ``"unargmaxable"``, or a name of the caller's).
    title : str
        Heading for people.
    level : str
        ``"ok"``, ``"warning"`` or ``"problem"``; ``"skipped"`` when the section could not run,
        ``"info"`` for a section without a judgement.
    verdict : str
        One line in plain words ("" for a section without a judgement).
    about : str
        What the section looks at and why it matters, for a reader new to it.
    findings : tuple of str
        The observations the verdict rests on, one sentence each.
    thresholds : str
        The cut-offs the verdict uses.
    sources : tuple of str
        Keys of :data:`latentgeo.audits.REFERENCES` that the thresholds and advice rest on.
    next_step : str
        A suggested next step, as an exact latentgeo call.
    notes : tuple of str
        Definitions and explanations (e.g. what whitening's beta and gamma do).
    values : dict
        The headline numbers (JSON-plain), shown in the text form.
    data : dict
        JSON-plain arrays behind the plots (histograms, spectra).
    """

    name: str
    title: str
    level: str = "info"
    verdict: str = ""
    about: str = ""
    findings: Tuple[str, ...] = ()
    thresholds: str = ""
    sources: Tuple[str, ...] = ()
    next_step: str = ""
    notes: Tuple[str, ...] = ()
    values: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready: the verdict fields, then every value, then ``data`` (plot arrays)."""
        head = {}
        if self.verdict:
            head = {
                "level": self.level,
                "verdict": self.verdict,
                "about": self.about,
                "findings": list(self.findings),
                "thresholds": self.thresholds,
                "sources": [REFERENCES.get(s, s) for s in self.sources],
                "next_step": self.next_step,
            }
            if self.notes:
                head["notes"] = list(self.notes)
        out = {**head, **plain(self.values)}
        if self.data:
            out["data"] = plain(self.data)
        return out

    def to_text(self) -> str:
        """A heading, the verdict lines, then aligned ``key  value`` lines."""
        lines = [f"== {self.name} =="]
        if self.verdict and self.level != "skipped":  # a skipped section's values say why
            lines.append(f"  [{self.level}] {self.verdict}")
            lines += [f"    - {f}" for f in self.findings]
            if self.thresholds:
                lines.append(f"  thresholds: {self.thresholds}")
            if self.sources:
                lines.append(f"  sources: {'; '.join(_short(s) for s in self.sources)}")
            if self.next_step:
                lines.append(f"  next step: {self.next_step}")
        values = plain(self.values)
        keys = [_fmt_key(k, v) for k, v in values.items()]
        width = max((len(k) for k in keys), default=0)
        lines += [f"  {k:<{width}}  {_fmt_value(v)}" for k, v in zip(keys, values.values())]
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class AuditReport:
    """The result of :func:`latentgeo.audit`: one :class:`AuditSection` per analysis.

    Attributes
    ----------
    input : dict
        What was audited: ``shape`` and ``dtype`` (the command line adds ``path`` and ``key``).
    k : int
        Neighbours per point of the kNN-based sections.
    metric : str
        Distance of the kNN-based sections.
    sections : tuple of AuditSection
        In the order they ran.
    title : str
        Heading of the text and HTML forms.
    """

    input: dict
    k: int
    metric: str
    sections: Tuple[AuditSection, ...]
    title: str = "latentgeo audit"

    def __getitem__(self, name: str) -> AuditSection:
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(f"no section {name!r}; the report has {[s.name for s in self.sections]}")

    @property
    def level(self) -> str:
        """The worst level over the sections."""
        from ._verdicts import worst

        return worst([s.level for s in self.sections])

    def with_sections(self, *extra: AuditSection) -> "AuditReport":
        """A copy with `extra` sections appended."""
        return dataclasses.replace(self, sections=self.sections + tuple(extra))

    def to_dict(self) -> dict:
        """JSON-ready: ``input``, ``k``, ``metric``, ``level`` and ``sections`` by name."""
        return {
            "input": plain(self.input),
            "k": self.k,
            "metric": self.metric,
            "level": self.level,
            "sections": {s.name: s.to_dict() for s in self.sections},
        }

    def to_text(self) -> str:
        """The report for a terminal: a header line, then each section's text."""
        shape = " x ".join(str(s) for s in self.input.get("shape", ()))
        head = f"{self.title}: {shape} {self.input.get('dtype', '')} (k={self.k}, {self.metric})"
        return "\n\n".join([head] + [s.to_text() for s in self.sections])

    def to_html(self, path=None) -> str:
        """The self-contained HTML report (inline SVG plots, no scripts, no external files).

        Parameters
        ----------
        path : str or path-like, optional
            Also write the page there, atomically (whole or not at all).

        Returns
        -------
        str
            The HTML page.

        Raises
        ------
        ImportError
            Without matplotlib (``pip install 'latentgeo[report]'``).
        """
        from ._html import render_html

        html = render_html(self, plots=True)
        if path is not None:
            with AtomicFile(path) as out:
                out.commit(lambda fh: fh.write(html.encode("utf-8")))
        return html

    def _repr_html_(self) -> str:
        from ._html import render_html
        from ._plots import have_matplotlib

        return render_html(self, plots=have_matplotlib(), fragment=True)

    def __repr__(self) -> str:
        parts = ", ".join(f"{s.name}={s.level}" for s in self.sections)
        return f"AuditReport({self.input.get('shape')}, k={self.k}, {parts})"


def _short(key: str) -> str:
    """``"Radovanović et al. 2010"`` style short form of a reference."""
    return SHORT.get(key, key)


def section_from_values(name: str, values: Optional[dict]) -> AuditSection:
    """A judgement-free section holding `values` (for sections plugged in by a caller)."""
    return AuditSection(name=name, title=name, values=dict(values or {}))
