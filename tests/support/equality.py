"""Exact equality of arrays and of result dataclasses (for "bit-identical" claims)."""

import numpy as np


def same_bits(a, b) -> bool:
    """Same dtype, shape and bytes (so -0.0 != 0.0 and NaN payloads count)."""
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and np.array_equal(a.view(np.uint8), b.view(np.uint8))
    )


def assert_reports_equal(a, b, skip=()):
    """Every field of two result dataclasses equal: arrays exactly (NaN equal to NaN), dicts of
    arrays or tuples of arrays entry by entry; fields named in `skip` (e.g. timings) ignored."""
    assert type(a) is type(b)
    for name in a.__dataclass_fields__:
        if name in skip:
            continue
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), name
            for key in x:
                u, v = x[key], y[key]
                pairs = zip(u, v) if isinstance(u, tuple) else [(u, v)]
                assert all(np.array_equal(p, q) for p, q in pairs), (name, key)
        elif isinstance(x, tuple):
            assert isinstance(y, tuple) and len(x) == len(y), name
            assert all(np.array_equal(p, q) for p, q in zip(x, y)), name
        elif isinstance(x, float) and np.isnan(x):
            assert np.isnan(y), name
        else:
            assert x == y, name
