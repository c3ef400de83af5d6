"""The timing helper shared by the benchmark scripts (run as ``python benches/<script>.py``)."""

from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int):
    """Run ``fn()`` `repeats` times: (median seconds, the last result)."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result
