"""The audit: one call that says in plain words whether an embedding space or a softmax head has
a problem (hubness, a cone, an uneven spectrum, a disconnected neighbourhood graph, unreachable
classes) and which latentgeo call to try next, as text, JSON or a self-contained HTML page with
plots (``pip install 'latentgeo[report]'``)."""

from ._audit import DEFAULT_SECTIONS, SECTIONS, audit
from ._report import AuditReport, AuditSection
from ._softmax import read_vocab
from ._verdicts import REFERENCES

__all__ = [
    "audit",
    "AuditReport",
    "AuditSection",
    "SECTIONS",
    "DEFAULT_SECTIONS",
    "REFERENCES",
    "read_vocab",
]
