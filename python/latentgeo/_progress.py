"""A dependency-free progress bar on stderr for long runs."""

from __future__ import annotations

import sys
import time


class Progress:
    """Minimal progress bar: ``with Progress(total, "knn") as p: p.update(n)``.

    Disabled bars do nothing, so callers need no branches.
    """

    def __init__(self, total: int, desc: str = "", enabled: bool = True, stream=None):
        self.total = max(int(total), 1)
        self.desc = desc
        self.enabled = bool(enabled)
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.start = time.perf_counter()

    def __enter__(self) -> "Progress":
        self._draw()
        return self

    def update(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + int(n))
        self._draw()

    def __call__(self, done: int, total: int) -> None:
        """Callback form used by the Rust core: set the absolute progress."""
        self.total = max(int(total), 1)
        self.done = min(self.total, int(done))
        self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        frac = self.done / self.total
        width = 30
        bar = "#" * int(frac * width)
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r{self.desc} [{bar:<{width}}] {100 * frac:5.1f}% {elapsed:6.1f}s")
        self.stream.flush()

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
