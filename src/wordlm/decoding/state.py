"""The decoder's view of a model: next-token log-probabilities for a batch of growing histories.

Job: one object, `Stepper`, that every search drives the same way. It holds a batch of *rows*
(histories) and their next-token log-probabilities `<float32>[rows, vocab]` (natural log);
`advance(parents, ids)` builds the next batch, whose row r is old row `parents[r]` extended by
`ids[r]` (a beam search reorders, duplicates and drops rows this way; a sampler keeps its live rows),
and computes its log-probabilities in one batched model call.

The rows are the model interface's `Rows`, each step one `lm.extend` (`api.py`), which picks one of
two exactly equivalent ways to get the numbers:
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
    """The searches' cursor over `Rows` (`inference/rows.py`): the current rows, replaced by
    `lm.extend` each step; see the module docstring."""

    def __init__(self, lm, histories: Sequence[Sequence[int]], carry_state: bool = True):
        self.lm = lm
        self.rows = lm.read_rows(histories, carry_state=carry_state)

    @property
    def logprobs(self) -> np.ndarray:
        """<float32>[rows, vocab]: ln p(next token | history) of each row."""
        return self.rows.logprobs

    @property
    def histories(self):
        return self.rows.histories

    @property
    def incremental(self) -> bool:
        """True while the LSTM state is carried (one token read per row per step)."""
        return self.rows.state is not None

    def advance(self, parents: Sequence[int], ids: Sequence[int]) -> np.ndarray:
        """Row r of the new batch = old row `parents[r]` + token `ids[r]`; returns its log-probs."""
        self.rows = self.lm.extend(self.rows, parents, ids)
        return self.rows.logprobs
