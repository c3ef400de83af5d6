"""Families of the fuzz harness with a known, reported failure (see issue 13).

``KNOWN[family]`` names the finding (``/work/robustness_findings.md``). Such a family must
still have at least one failing case: once the library is fixed its test fails until the entry
is removed here (strict xfail).
"""

KNOWN = {}
