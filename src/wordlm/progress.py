"""Progress of long work on stderr: counts, a rate, and the total and ETA where the size is known.

    progress = Progress("scored", ("lines", "words"), rate="words", total={"lines": 5071})
    progress.add(lines=1, words=7)      # or progress.set(lines=…, words=…) for running totals
    progress.close()                    # a terminal: erases the line

On a terminal the line is redrawn in place (at most four times a second), e.g.
`scored 1,024/5,071 lines, 20,480 words (9,311 words/s, 0:00:04 left)`. Not on a terminal (a log
file, CI) the same line is written in full every `LOG_EVERY` seconds, so a long job is never
silent; each command ends with its own summary line (score's corpus summary, rerank's report).
Data never goes here (stdout is for data). Not here: Keras's own training bar (`training/`).
"""

from __future__ import annotations

import sys
import time

LOG_EVERY = 30.0  # seconds between lines when stderr is not a terminal


def count_lines(paths) -> int | None:
    """Lines in the files (`.gz` read through), or None when one is standard input or another stream
    (a pipe such as `<(zcat …)`, a device): unknown, and reading it here would consume it."""
    import os

    from wordlm.errors import WordlmError
    from wordlm.text import open_text

    total = 0
    for path in paths:
        if path in (None, "-") or not os.path.isfile(path):
            return None
        try:
            with open_text(path) as f:
                last = b"\n"
                while chunk := f.read(1 << 20):
                    total += chunk.count(b"\n")
                    last = chunk[-1:]
                total += last != b"\n"  # a last line without its newline
        except (WordlmError, OSError, EOFError):  # the reader itself reports it, with the line
            return None
    return total


class Progress:
    def __init__(self, label: str, fields: tuple[str, ...], rate: str | None = None, stream=None,
                 total: dict[str, int] | None = None):
        self.label, self.fields, self.rate = label, fields, rate
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = {k: v for k, v in (total or {}).items() if v}
        self.counts = dict.fromkeys(fields, 0)
        self.start, self.shown = time.perf_counter(), 0.0

    def add(self, **increments: int) -> None:
        for name, n in increments.items():
            self.counts[name] += n
        self._draw()

    def set(self, **values: int) -> None:
        self.counts.update(values)
        self._draw()

    def _elapsed(self) -> float:
        return max(time.perf_counter() - self.start, 1e-9)

    def line(self) -> str:
        parts = []
        for f in self.fields:
            total = self.total.get(f)
            parts.append(f"{self.counts[f]:,}/{total:,} {f}" if total else f"{self.counts[f]:,} {f}")
        text = f"{self.label} " + ", ".join(parts)
        notes = []
        if self.rate:
            notes.append(f"{self.counts[self.rate] / self._elapsed():,.0f} {self.rate}/s")
        left = self._seconds_left()
        if left is not None:
            notes.append(f"{clock(left)} left")
        return text + (f" ({', '.join(notes)})" if notes else "")

    def _seconds_left(self) -> float | None:
        for field, total in self.total.items():
            done = self.counts.get(field, 0)
            if 0 < done <= total:
                return self._elapsed() * (total - done) / done
        return None

    def _draw(self) -> None:
        now = time.perf_counter()
        if self.tty and now - self.shown > 0.25:
            self.shown = now
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()
        elif not self.tty and now - max(self.shown, self.start) >= LOG_EVERY:
            self.shown = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Erase the line on a terminal; elsewhere nothing (the command prints its own summary)."""
        if self.tty and self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
