"""Progress of long work on stderr: counts and a rate, redrawn in place, only when stderr is a terminal.

    progress = Progress("scored", ("lines", "words"), rate="words")
    progress.add(lines=1, words=7)      # or progress.set(lines=…, words=…) for running totals
    progress.close()                    # erases the line

Output is at most four redraws a second, e.g. `scored 1,024 lines, 20,480 words (9,311 words/s)`.
Data never goes here (stdout is for data). Not here: Keras's own training bar (`training/`).
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, fields: tuple[str, ...], rate: str | None = None, stream=None):
        self.label, self.fields, self.rate = label, fields, rate
        self.stream = stream or sys.stderr
        self.on = self.stream.isatty()
        self.counts = dict.fromkeys(fields, 0)
        self.start, self.shown = time.perf_counter(), 0.0

    def add(self, **increments: int) -> None:
        for name, n in increments.items():
            self.counts[name] += n
        self._draw()

    def set(self, **values: int) -> None:
        self.counts.update(values)
        self._draw(force=True)

    def line(self) -> str:
        text = f"{self.label} " + ", ".join(f"{self.counts[f]:,} {f}" for f in self.fields)
        if self.rate:
            per_s = self.counts[self.rate] / max(time.perf_counter() - self.start, 1e-9)
            text += f" ({per_s:,.0f} {self.rate}/s)"
        return text

    def _draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self.on and (force or now - self.shown > 0.25):
            self.shown = now
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def close(self) -> None:
        if self.on and self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
