"""The audit as one self-contained HTML page: inline CSS and SVG, no scripts, nothing fetched."""

from __future__ import annotations

from html import escape
from typing import List

from .._core import __version__
from ._format import _fmt_value
from ._plots import INSTALL_HINT, require_matplotlib, section_plots
from ._verdicts import REFERENCES, SHORT

#: Every selector sits under .lg-audit, so the notebook fragment does not restyle its host page.
CSS = """
.lg-audit{--ok:#1a7f37;--warning:#9a6700;--problem:#cf222e;--muted:#57606a;--line:#d0d7de;
 font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 color:#1f2328;background:#fff;line-height:1.5;font-size:15px;max-width:980px;margin:0 auto;
 padding:28px 24px 40px}
.lg-audit h1{font-size:1.7em;margin:0 0 4px}
.lg-audit h2{font-size:1.3em;margin:0 0 8px;display:flex;align-items:center;gap:10px}
.lg-audit .meta{color:var(--muted);margin:0 0 20px}
.lg-audit .badge{font-size:.72rem;font-weight:600;text-transform:uppercase;letter-spacing:.04em;
 padding:2px 8px;border-radius:10px;color:#fff;background:var(--muted);white-space:nowrap}
.lg-audit .lv-ok .badge,.lg-audit .badge.lv-ok{background:var(--ok)}
.lg-audit .lv-warning .badge,.lg-audit .badge.lv-warning{background:var(--warning)}
.lg-audit .lv-problem .badge,.lg-audit .badge.lv-problem{background:var(--problem)}
.lg-audit table{border-collapse:collapse;width:100%}
.lg-audit .summary td{padding:6px 8px;border-top:1px solid var(--line);vertical-align:top}
.lg-audit .summary a{color:inherit;font-weight:600}
.lg-audit section.sec{border:1px solid var(--line);border-left:6px solid var(--muted);
 border-radius:6px;padding:16px 20px;margin:22px 0}
.lg-audit section.lv-ok{border-left-color:var(--ok)}
.lg-audit section.lv-warning{border-left-color:var(--warning)}
.lg-audit section.lv-problem{border-left-color:var(--problem)}
.lg-audit .verdict{font-size:1.08em;font-weight:600;margin:4px 0 8px}
.lg-audit .findings{margin:0 0 10px;padding-left:20px}
.lg-audit .next{background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:8px 12px;
 margin:10px 0}
.lg-audit .next b{display:block;font-size:.8em;color:var(--muted);text-transform:uppercase}
.lg-audit code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em;
 overflow-wrap:anywhere}
.lg-audit figure.plot{margin:14px auto;max-width:760px}
.lg-audit figure.plot svg{width:100%;height:auto;display:block}
.lg-audit figcaption{color:var(--muted);font-size:.85em;text-align:center}
.lg-audit .values{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));
 gap:0 28px;font-size:.85em;margin:10px 0}
.lg-audit .kv{display:flex;justify-content:space-between;gap:12px;padding:1px 0;
 border-bottom:1px dotted #e1e4e8}
.lg-audit .kv.wide{grid-column:1/-1;justify-content:flex-start}
.lg-audit .kv .k{color:var(--muted);white-space:nowrap}
.lg-audit .kv .v{font-variant-numeric:tabular-nums;text-align:right;overflow-wrap:anywhere}
.lg-audit .kv.wide .v{text-align:left}
.lg-audit .about{margin:0 0 8px;color:#3d444d}
.lg-audit .overall{margin:0 0 14px;font-size:1.05em}
.lg-audit .small{font-size:.85em;color:var(--muted);margin:6px 0}
.lg-audit .refs{font-size:.85em;color:var(--muted)}
@media print{
 .lg-audit{max-width:none;padding:0;font-size:11pt}
 .lg-audit section.sec{break-inside:avoid-page}
 .lg-audit figure.plot{break-inside:avoid}
 .lg-audit .badge,.lg-audit section.sec{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 .lg-audit a{text-decoration:none}
}
"""

#: Items of a list value shown in the HTML tables before "... (n more)".
LIST_SHOWN = 12


def _value_html(value) -> str:
    if isinstance(value, list):
        more = len(value) - LIST_SHOWN
        items = value[:LIST_SHOWN]
        if items and isinstance(items[0], dict):
            text = ", ".join(
                f"{_fmt_value(list(d.values())[0])} ({_fmt_value(list(d.values())[1])})"
                if len(d) == 2
                else _fmt_value(d)
                for d in items
            )
        else:
            text = ", ".join(_fmt_value(v) for v in items) or "-"
        return escape(text + (f", ... ({more} more)" if more > 0 else ""))
    return escape(_fmt_value(value))


def _key_html(key: str, value) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict) and len(value[0]) == 2:
        a, b = list(value[0])
        return escape(f"{key} ({a} ({b}))")
    return escape(key)


def _section_html(s, plots: bool) -> str:
    """One :class:`AuditSection` as a ``<section>``."""
    d = s.to_dict()
    lv = escape(s.level)
    out = [f'<section class="sec lv-{lv}" id="sec-{escape(s.name)}">']
    out.append(f'<h2>{escape(s.title)} <span class="badge">{lv}</span></h2>')
    if s.about:
        out.append(f'<p class="about">{escape(s.about)}</p>')
    if s.verdict:
        out.append(f'<p class="verdict">{escape(s.verdict)}</p>')
    if s.findings:
        out.append('<ul class="findings">')
        out += [f"<li>{escape(f)}</li>" for f in s.findings]
        out.append("</ul>")
    if s.next_step:
        out.append(f'<div class="next"><b>Suggested next step</b><code>{escape(s.next_step)}'
                   "</code></div>")  # fmt: skip
    if plots:
        for i, (caption, svg) in enumerate(section_plots(s)):
            out.append(f'<figure class="plot" id="plot-{escape(s.name)}-{i}">{svg}'
                       f"<figcaption>{escape(caption)}</figcaption></figure>")  # fmt: skip
    values = {k: v for k, v in d.items() if k not in _HEAD and k != "data"}
    if values:
        out.append('<div class="values">')
        for k, v in values.items():
            text = _value_html(v)
            wide = " wide" if len(text) > 34 else ""
            out.append(f'<div class="kv{wide}"><span class="k">{_key_html(k, v)}</span>'
                       f'<span class="v">{text}</span></div>')  # fmt: skip
        out.append("</div>")
    if s.thresholds:
        out.append(f'<p class="small"><b>Thresholds:</b> {escape(s.thresholds)}.</p>')
    if s.sources:
        cites = ", ".join(f'<a href="#ref-{escape(k)}">{escape(SHORT.get(k, k))}</a>'
                          for k in s.sources)  # fmt: skip
        out.append(f'<p class="small"><b>Sources:</b> {cites}.</p>')
    out += [f'<p class="small">{escape(n)}</p>' for n in s.notes]
    out.append("</section>")
    return "\n".join(out)


_HEAD = ("level", "verdict", "about", "findings", "thresholds", "sources", "next_step", "notes")


def _overall(report) -> str:
    """One line: the worst level, the count per level, and the section to read first."""
    judged = [s for s in report.sections if s.level in ("ok", "warning", "problem")]
    counts = {lv: sum(s.level == lv for s in judged) for lv in ("problem", "warning", "ok")}
    said = ", ".join(f"{n} {lv}{'s' if n != 1 and lv != 'ok' else ''}"
                     for lv, n in counts.items() if n)  # fmt: skip
    lv = escape(report.level)
    first = next((s for s in judged if s.level == report.level and s.level != "ok"), None)
    start = (
        f' Start with <a href="#sec-{escape(first.name)}">{escape(first.title)}</a>.'
        if first is not None
        else " Nothing needs fixing."
    )
    return (f'<p class="overall lv-{lv}">Overall <span class="badge">{lv}</span> '
            f"{escape(said or 'no judged sections')}.{start}</p>")  # fmt: skip


def render_html(report, plots: bool = True, fragment: bool = False) -> str:
    """The report as HTML: a whole page, or (`fragment`) one ``<div>`` for a notebook."""
    if plots:
        require_matplotlib()
    shape = " × ".join(str(s) for s in report.input.get("shape", ()))
    where = report.input.get("path") or report.input.get("example")
    meta = f"{shape} {report.input.get('dtype', '')} · k = {report.k} · {report.metric}"
    if where:
        meta = f"{where} · {meta}"
    body: List[str] = ['<div class="lg-audit">']
    if fragment:
        body.append(f"<style>{CSS}</style>")
    body.append(f"<h1>{escape(report.title)}</h1>")
    body.append(f'<p class="meta">{escape(meta)} · latentgeo {escape(__version__)}</p>')
    body.append(_overall(report))
    if not plots:
        hint = escape(INSTALL_HINT)
        body.append(f'<p class="small">Plots need matplotlib: <code>{hint}</code></p>')
    body.append('<table class="summary">')
    for s in report.sections:
        body.append(
            f'<tr class="lv-{escape(s.level)}"><td><a href="#sec-{escape(s.name)}">'
            f'{escape(s.title)}</a></td><td><span class="badge">{escape(s.level)}</span></td>'
            f"<td>{escape(s.verdict or '-')}</td></tr>"
        )
    body.append("</table>")
    body += [_section_html(s, plots) for s in report.sections]
    used = [k for k in REFERENCES if any(k in s.sources for s in report.sections)]
    if used:
        body.append('<section class="refs"><h2>References</h2><ol>')
        body += [f'<li id="ref-{escape(k)}">{escape(REFERENCES[k])}</li>' for k in used]
        body.append("</ol></section>")
    body.append("</div>")
    inner = "\n".join(body)
    if fragment:
        return inner
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(report.title)}: {escape(shape)}</title>\n"
        f"<style>body{{margin:0;background:#fff}}{CSS}</style>\n</head>\n<body>\n{inner}\n"
        "</body>\n</html>\n"
    )
