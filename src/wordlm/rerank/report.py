"""The WER report of a reranking (first pass, reranked, oracle; utterances changed) and a text plot.

Not here: the combination (`formula.py`), the alignment (`wer.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from wordlm.rerank.formula import Scored, choose
from wordlm.wer import ErrorCounts


@dataclass
class Report:
    """Corpus WER before (first pass: α = β = 0), after (the chosen weights) and oracle; changes."""

    lm_weight: float
    word_bonus: float
    other_weights: tuple = ()
    utterances: int = 0
    with_ref: int = 0
    before: ErrorCounts = field(default_factory=ErrorCounts)
    after: ErrorCounts = field(default_factory=ErrorCounts)
    oracle: ErrorCounts = field(default_factory=ErrorCounts)
    changed: int = 0
    improved: int = 0
    worsened: int = 0

    def add(self, s: Scored) -> None:
        self.utterances += 1
        if s.counts is None:
            return
        self.with_ref += 1
        b = choose(s.first_pass)
        a = choose(s.totals(self.lm_weight, self.word_bonus, self.other_weights))
        o = int(np.argmin(s.errors))
        self.before += s.counts[b]
        self.after += s.counts[a]
        self.oracle += s.counts[o]
        if s.utt.hyps[a].text != s.utt.hyps[b].text:
            self.changed += 1
            diff = s.counts[a].errors - s.counts[b].errors
            self.improved += diff < 0
            self.worsened += diff > 0

    def to_json(self) -> dict:
        return {
            "utterances": self.utterances, "with_reference": self.with_ref,
            "lm_weight": self.lm_weight, "word_bonus": self.word_bonus,
            "first_pass": self.before.to_json(), "reranked": self.after.to_json(), "oracle": self.oracle.to_json(),
            "changed": self.changed, "improved": self.improved, "worsened": self.worsened,
        }

    def lines(self) -> list[str]:
        if not self.with_ref:
            return [f"{self.utterances} utterances, no references: no WER"]
        out = [f"WER over {self.with_ref} utterances with references ({self.before.ref_words} words), "
               f"lm_weight {self.lm_weight:g}, word_bonus {self.word_bonus:g}:"]
        out.append(f"  {'':12} {'WER %':>7} {'errors':>7} {'sub':>6} {'del':>6} {'ins':>6}")
        for name, c in (("first pass", self.before), ("reranked", self.after), ("oracle", self.oracle)):
            out.append(f"  {name:12} {100 * c.wer:7.3f} {c.errors:7d} {c.substitutions:6d} {c.deletions:6d} "
                       f"{c.insertions:6d}")
        out.append(f"  utterances changed {self.changed}, improved {self.improved}, worsened {self.worsened}")
        return out


def ascii_plot(points: Sequence[tuple[float, float]], height: int = 10, width: int = 60,
               marks: dict[str, float] | None = None) -> list[str]:
    """A text plot of y against x (x ascending); `marks` draws labelled horizontal lines (e.g. first pass)."""
    if not points:
        return []
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    refs = dict(marks or {})
    lo = min(ys.min(), *refs.values()) if refs else ys.min()
    hi = max(ys.max(), *refs.values()) if refs else ys.max()
    if hi - lo < 1e-9:
        hi = lo + 1e-3
    cols = min(width, len(xs))
    # x bins: each column shows the lowest y of the points that fall in it
    col_of = np.minimum(((xs - xs.min()) / max(xs.max() - xs.min(), 1e-12) * (cols - 1)).round().astype(int), cols - 1)
    col_y = np.full(cols, np.nan)
    for c, y in zip(col_of, ys):
        col_y[c] = y if np.isnan(col_y[c]) else min(col_y[c], y)
    row_of = lambda y: int(round((hi - y) / (hi - lo) * (height - 1)))  # noqa: E731
    canvas = [[" "] * cols for _ in range(height)]
    for label, y in refs.items():
        for c in range(cols):
            canvas[row_of(y)][c] = "-"
    for c in range(cols):
        if not np.isnan(col_y[c]):
            canvas[row_of(col_y[c])][c] = "*"
    lines = []
    for r, row in enumerate(canvas):
        y = hi - r * (hi - lo) / (height - 1)
        tag = " ".join(f"({k})" for k, v in refs.items() if row_of(v) == r)
        lines.append(f"{y:8.3f} |{''.join(row)} {tag}".rstrip())
    lines.append(" " * 9 + "+" + "-" * cols)
    left, right = f"{xs.min():g}", f"{xs.max():g}"
    lines.append(" " * 10 + left + " " * max(1, cols - len(left) - len(right)) + right)
    return lines
