"""Families of the fuzz harness with a known, reported failure (see issue 13).

``KNOWN[family]`` names the finding (``/work/robustness_findings.md``). Such a family must
still have at least one failing case: once the library is fixed its test fails until the entry
is removed here (strict xfail).
"""

KNOWN = {
    "norm_truncation/huge": "F1: squared norms overflow (1e300) -> ties -> wrong rows kept",
    "norm_truncation/tiny": "F1: squared norms underflow (1e-300) -> ties -> wrong rows kept",
    "Whitening/fit-transform": "F2: tiny float32 data -> kernel overflows -> inf/NaN output",
}
