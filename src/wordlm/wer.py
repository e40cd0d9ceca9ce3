"""Word error rate: substitutions, deletions and insertions from jiwer's alignment.

Words are the whitespace-separated pieces of the lower-cased text (no punctuation stripping, no
other normalisation: "prince's" and "princes" are different words). The alignment is jiwer's
(the ASR community's standard Levenshtein alignment, rapidfuzz underneath); this module only
splits jiwer's per-sentence alignment chunks into per-sentence counts, so that a reranker can
know the errors of every hypothesis and compare utterances one by one.

    WER = (S + D + I) / N        N = number of reference words (summed over a corpus: never a
                                 mean of per-sentence WERs)

An empty reference has N = 0 and every hypothesis word counts as an insertion.
Not here: choosing hypotheses (`rerank.py`), reading n-best files (`nbest/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


def words(text: str) -> list[str]:
    """The words WER is computed over: lower-cased, split on whitespace."""
    return text.lower().split()


@dataclass(frozen=True)
class ErrorCounts:
    """Alignment counts of one hypothesis against its reference (or summed over a corpus)."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    hits: int = 0

    @property
    def ref_words(self) -> int:
        """N: reference words (hits + substitutions + deletions)."""
        return self.hits + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """(S + D + I) / N as a fraction (nan when there are no reference words)."""
        n = self.ref_words
        return self.errors / n if n else float("nan")

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.hits + other.hits,
        )

    def to_json(self) -> dict:
        """{"wer" (percent), "errors", "ref_words", "substitutions", "deletions", "insertions"}."""
        wer = self.wer
        return {
            "wer": round(100 * wer, 4) if wer == wer else None,
            "errors": self.errors,
            "ref_words": self.ref_words,
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
        }


def count_errors(references: Sequence[str], hypotheses: Sequence[str]) -> list[ErrorCounts]:
    """Per-pair error counts of hypotheses[i] against references[i] (one jiwer call for all)."""
    import jiwer

    class _Split(jiwer.AbstractTransform):  # the texts arrive already split into words
        def process_list(self, inp):
            return inp

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    out: list[ErrorCounts | None] = [None] * len(references)
    pairs = []  # jiwer needs at least one reference word; the others are counted here
    for i, (ref, hyp) in enumerate(zip(references, hypotheses)):
        r, h = words(ref), words(hyp)
        if not r:
            out[i] = ErrorCounts(insertions=len(h))
        elif r == h:  # nothing to align (saves jiwer's per-chunk work on the many exact hypotheses)
            out[i] = ErrorCounts(hits=len(r))
        else:
            pairs.append((i, r, h))
    if pairs:
        result = jiwer.process_words([r for _, r, _ in pairs], [h for _, _, h in pairs], _Split(), _Split())
        for (i, _, _), chunks in zip(pairs, result.alignments):
            s = d = ins = hits = 0
            for c in chunks:
                if c.type == "equal":
                    hits += c.ref_end_idx - c.ref_start_idx
                elif c.type == "substitute":
                    s += c.ref_end_idx - c.ref_start_idx
                elif c.type == "delete":
                    d += c.ref_end_idx - c.ref_start_idx
                elif c.type == "insert":
                    ins += c.hyp_end_idx - c.hyp_start_idx
            out[i] = ErrorCounts(s, d, ins, hits)
    return out  # type: ignore[return-value]


def total(counts: Iterable[ErrorCounts]) -> ErrorCounts:
    """Corpus counts: the sum over sentences (WER from totals)."""
    acc = ErrorCounts()
    for c in counts:
        acc = acc + c
    return acc
