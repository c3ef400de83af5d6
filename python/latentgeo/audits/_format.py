"""Text formatting of report values, shared by the text and HTML forms."""

from __future__ import annotations


def _fmt_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_fmt_value(v) for v in value) or "-"
    if isinstance(value, dict):
        return ":".join(_fmt_value(v) for v in value.values())
    return str(value)


def _fmt_key(key: str, value) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return f"{key} ({':'.join(value[0])})"
    return key
