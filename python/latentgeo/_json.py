"""One conversion of results to plain JSON-ready Python values (every to_dict and --json)."""

from __future__ import annotations

import math

import numpy as np


def plain(value):
    """`value` with numpy arrays and scalars (also nested in dicts, lists and tuples) turned into
    Python lists, ints and floats; NaN becomes None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()] if value.dtype.kind == "f" else value.tolist()
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value
