"""Rows of histories: the one state type of incremental scoring, owned by the inference core.

`begin`, `extend` (the model interface, `protocol.py`), `advance` (the public step), the decoders,
the conditional scorer, the rerank trie, the lattice rescorer and the outside-decoder adapters all
hold their histories as `Rows`. Immutable: indexing gathers rows into a new object, so a decoder may
branch from any of them.

Fields: `histories` (ids read so far, per row), `logprobs` <float32>[rows, vocab] (ln p(next token |
history); NaN for a row whose history is empty), `state` <float32>[rows, state] (the LSTM state after
each history while carrying it is exact, else None: histories are re-read), `context` (None: a row's
future depends on its whole history; k: only on its last k ids, as for an n-gram model of order k+1).

Not here: computing the numbers (the model's `begin`/`extend`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np


@dataclass(frozen=True)
class Rows:
    """A batch of histories with their next-token log-probabilities; see the module docstring."""

    histories: tuple[tuple[int, ...], ...]
    logprobs: np.ndarray
    state: np.ndarray | None = None
    context: int | None = None

    def __len__(self) -> int:
        return len(self.histories)

    def __getitem__(self, index) -> "Rows":
        """Row(s) `index` (an int, a slice, or a sequence/array of ints) as a new Rows."""
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= int(index) < n:
                raise IndexError(f"row {index} of {n}")
            idx = np.array([int(index) % n])
        elif isinstance(index, slice):
            idx = np.arange(len(self))[index]
        else:
            idx = np.asarray(index, dtype=np.int64).reshape(-1)
        return Rows(tuple(self.histories[i] for i in idx.tolist()), self.logprobs[idx],
                    None if self.state is None else self.state[idx], self.context)

    def key(self, r: int) -> Hashable:
        """The hashable key of row r: its whole history, or its last `context` ids."""
        h = self.histories[r]
        return h if self.context is None else h[len(h) - self.context:] if self.context else ()

    @staticmethod
    def concat(parts: Sequence["Rows"]) -> "Rows":
        """Rows of several batches, in order (they must come from the same model)."""
        parts = list(parts)
        if not parts:
            raise ValueError("Rows.concat: nothing to concatenate")
        states = [p.state for p in parts]
        state = None if any(s is None for s in states) else np.concatenate(states)
        return Rows(tuple(h for p in parts for h in p.histories), np.concatenate([p.logprobs for p in parts]),
                    state, parts[0].context)
