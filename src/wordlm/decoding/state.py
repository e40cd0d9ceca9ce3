"""The decoder's view of a model: next-token log-probabilities for a batch of growing histories.

Job: one object, `Stepper`, that every search drives the same way. It holds a batch of *rows*
(histories) and their next-token log-probabilities `<float32>[rows, vocab]` (natural log);
`advance(parents, ids)` builds the next batch, whose row r is old row `parents[r]` extended by
`ids[r]` (a beam search reorders, duplicates and drops rows this way; a sampler keeps its live rows),
and computes its log-probabilities in one batched model call.

Two exactly equivalent ways to get the numbers:
- carried state (`lm.step`): for `lm.stateful` models (`sequence`, `char`, and `line` while every
  history fits its input: `lm.carries_state`); each step reads one token per row, so a step costs the
  same whatever the prefix length; the LSTM state rows are gathered by `parents`. The prompts are
  read by `lm.start` in one compiled call whatever their length.
- re-reading (`lm.next_logprobs`): every other framing (`word`, `window`: the context is a few
  words anyway), and a `line` model once a history outgrows its input (from then on the framing
  truncates the context on the left, which carried state cannot do).

Non-job: choosing tokens (the searches), masking (`constraints.py`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np



class Stepper:
    """Rows of histories and their next-token log-probabilities; see the module docstring."""

    def __init__(self, lm, histories: Sequence[Sequence[int]], carry_state: bool = True):
        self.lm = lm
        self.histories = [list(h) for h in histories]
        self.state = None  # <float32>[rows, lm.state_size] while state is carried
        if not self.histories:
            self.logprobs = np.zeros((0, lm.vocab_size), dtype=np.float32)
        elif carry_state and self._state_is_exact():
            self.logprobs, self.state = lm.start(self.histories)
        else:
            self.logprobs = lm.next_logprobs(self.histories)

    @property
    def incremental(self) -> bool:
        """True while the LSTM state is carried (one token read per row per step)."""
        return self.state is not None

    def _state_is_exact(self) -> bool:
        return self.lm.carries_state(max(len(h) for h in self.histories))

    def advance(self, parents: Sequence[int], ids: Sequence[int]) -> np.ndarray:
        """Row r of the new batch = old row `parents[r]` + token `ids[r]`; returns its log-probs."""
        parents = np.asarray(parents, dtype=np.int64)
        ids = np.asarray(ids, dtype=np.int32)
        old = self.histories
        self.histories = [old[p] + [int(i)] for p, i in zip(parents.tolist(), ids.tolist())]
        if not self.histories:
            self.logprobs = np.zeros((0, self.lm.vocab_size), dtype=np.float32)
            if self.state is not None:
                self.state = self.state[:0]
        elif self.state is not None and self._state_is_exact():
            self.logprobs, self.state = self.lm.step(self.state[parents], ids)
        else:
            self.state = None  # outgrown (line framing): re-read from now on
            self.logprobs = self.lm.next_logprobs(self.histories)
        return self.logprobs

