"""A one-line progress bar on stderr, redrawn in place with a carriage return.

Self-written because it is twenty lines and the service must not depend on tqdm.
"""

from __future__ import annotations

import sys
from typing import TextIO

BAR_WIDTH = 30


class ProgressBar:
    """`[#####.....]  12/40 photos` on one line; messages are printed above it."""

    def __init__(self, total: int, *, unit: str = "photos", stream: TextIO | None = None) -> None:
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.done = 0
        self._width = 0

    def update(self, done: int) -> None:
        self.done = done
        filled = BAR_WIDTH * done // self.total if self.total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self._draw(f"[{bar}] {done:>{len(str(self.total))}}/{self.total} {self.unit}")

    def message(self, text: str) -> None:
        """Print a line (a warning) without leaving a half-drawn bar before it."""
        self._draw("")
        self.stream.write(text + "\n")
        self.update(self.done)

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, line: str) -> None:
        self.stream.write("\r" + " " * self._width + "\r" + line)
        self._width = len(line)
        self.stream.flush()
