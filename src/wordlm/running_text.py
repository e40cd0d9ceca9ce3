"""Running text (`--context-tokens N`): one rule for what a line is read after, in training and scoring.

The rule: a line is read after *whole* previous non-blank lines of the same text, never more than N
input tokens in all (the line's own inputs included); a line's inputs are `<s> w1 … wn`, so a line
of n words costs n + 1. Blank lines carry no words and are skipped.

- Training (`pack_lines`) cuts the corpus, in order, into runs of consecutive lines within N inputs;
  an example is a run, so a line is read after the lines before it *in its run*.
- Scoring (`context_ids`, `RunningContext`) gives each line the *longest* run of previous lines that
  fits with it in N inputs: the most context the rule allows.

So the two agree on the rule and differ only in how much of it they use: the context a line gets in
training is always a suffix (the most recent lines) of the context the scorer gives it, never a line
more, never a token over N (`tests/test_context.py` checks this on a corpus). Scoring uses the whole
allowance because that is the better estimate and the convention of the published running-text
figures; training cannot give every line its full context without reading each line N/len times.

Not here: reading files (`text.py`), batching (`training/batches.py`), the forward pass (`inference/`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from wordlm.errors import InputError
from wordlm.vocab import BOS_ID


MAX_CONTEXT_TOKENS = 4096  # each line re-reads its context: cost per line grows with the budget


def check_context(lm, bos: bool = True, context_tokens: int = 0) -> None:
    """Raise InputError unless `lm` can read lines in context (`--context-tokens`) within the cap."""
    if context_tokens > MAX_CONTEXT_TOKENS:
        raise InputError(f"context_tokens (--context-tokens) must be at most {MAX_CONTEXT_TOKENS:,} (each line "
                         f"re-reads its context), got {context_tokens:,}")
    if not lm.framing.recurrent or not lm.boundaries:
        raise InputError("context_tokens (--context-tokens) needs a recurrent model with boundaries "
                         "(sequence or char framing)")
    if lm.reverse:
        raise InputError("context_tokens (--context-tokens) reads lines forwards; a backward (--reverse) model "
                         "reads them backwards")
    if not bos:
        raise InputError("context_tokens (--context-tokens) marks where each line starts with <s>: it cannot go with "
                         "bos=False (--no-bos)")


def pack_lines(lengths: np.ndarray, context_tokens: int) -> np.ndarray:
    """Training: runs of consecutive streams of `lengths` tokens: boundaries <int64>[runs + 1].

    Greedy, in corpus order: a run takes the next stream while the run's inputs (n - 1 per stream
    of n tokens) stay within `context_tokens`; a longer stream is a run alone.
    """
    inputs = np.asarray(lengths, dtype=np.int64) - 1
    bounds, used = [0], 0
    for i, n in enumerate(inputs.tolist()):
        if used and used + n > context_tokens:
            bounds.append(i)
            used = 0
        used += n
    bounds.append(len(inputs))
    return np.asarray(bounds, dtype=np.int64)


def context_ids(previous: Sequence[Sequence[int]], line_inputs: int, context_tokens: int) -> list[int]:
    """Scoring: the context of a line, the most recent whole lines of `previous` (each `<s> w1 … wn`
    ids, oldest first) that fit, together with the line's own `line_inputs` input tokens, in
    `context_tokens`."""
    budget, taken = context_tokens - line_inputs, []
    for ids in reversed(previous):
        if len(ids) > budget:
            break
        budget -= len(ids)
        taken.append(ids)
    return [t for ids in reversed(taken) for t in ids]


class RunningContext:
    """The recent lines of a text, for `context_ids` (blank lines add nothing: training skips them)."""

    def __init__(self, context_tokens: int):
        self.context_tokens = context_tokens
        self.lines: list[list[int]] = []
        self.tokens = 0

    def before(self, ids: Sequence[int]) -> list[int]:
        """The context of a line of word ids (no markers), then remember the line."""
        ctx = context_ids(self.lines, len(ids) + 1, self.context_tokens)
        if len(ids):
            self.lines.append([BOS_ID, *ids])
            self.tokens += len(ids) + 1
            while self.lines and self.tokens - len(self.lines[0]) >= self.context_tokens:
                self.tokens -= len(self.lines.pop(0))  # older lines can never fit again
        return ctx


def in_context(streams: Sequence[Sequence[int]], context_tokens: int) -> tuple[list[list[int]], list[int]]:
    """Line streams (`<s> … </s>`, in text order) each preceded by its context: (streams, context lengths)."""
    running, out, skips = RunningContext(context_tokens), [], []
    for s in streams:
        ctx = running.before(s[1:-1])
        out.append(ctx + list(s))
        skips.append(len(ctx))
    return out, skips
