"""Rows of histories: the one state type of incremental scoring, owned by the inference core.

`begin`, `extend`, `read_rows` (the model interface, `protocol.py`), `advance` (the public step), the
decoders (`decoding/state.py`), the conditional scorer (`scoring/conditional.py`), the lattice
rescorer and the outside-decoder adapters (`kenlm_compat.py`) all hold their histories as `Rows`.
Immutable: indexing gathers rows into a new object, so a decoder may branch from any of them.

Fields: `histories` (ids read so far, per row: a tuple of tuples), `logprobs` <float32>[rows, vocab]
(ln p(next token | history); NaN for a row whose history is empty), `state` <float32>[rows, state]
(the LSTM state after each history while carrying it is exact, else None: histories are re-read),
`context` (None: a row's future depends on its whole history; k: only on its last k ids, as for an
n-gram model of order k + 1), `lengths` <int64>[rows] (the length of each history).

Histories are kept lazily: `Rows.extended` records only (parents, ids) per step, and `histories` is
built on first use (a search that never looks at them, or only at their lengths, pays nothing per
step for them; a step costs the same whatever the prefix length). The record holds no logprobs.

Not here: computing the numbers (the model's `begin`/`extend`).
"""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np


class _Trace:
    """How a batch's histories came about: explicit (`hist`), or rows `parents` of `prev` + `ids`."""

    __slots__ = ("hist", "prev", "parents", "ids")

    def __init__(self, hist=None, prev=None, parents=None, ids=None):
        self.hist, self.prev, self.parents, self.ids = hist, prev, parents, ids

    def histories(self) -> tuple[tuple[int, ...], ...]:
        if self.hist is None:
            n = len(self.ids)
            idx, cols, t = np.arange(n), [], self
            while t.hist is None:  # walk back to explicit histories, a column of ids per step
                cols.append(t.ids[idx])
                idx = t.parents[idx]
                t = t.prev
            base = t.hist
            tails = np.stack(cols[::-1], axis=1).tolist() if cols else [[]] * n
            self.hist = tuple(base[i] + tuple(tail) for i, tail in zip(idx.tolist(), tails))
            self.prev = self.parents = self.ids = None  # the record is no longer needed
        return self.hist


class Rows:
    """A batch of histories with their next-token log-probabilities; see the module docstring."""

    __slots__ = ("logprobs", "state", "context", "lengths", "_trace")

    def __init__(self, histories: Sequence[Sequence[int]], logprobs: np.ndarray, state: np.ndarray | None = None,
                 context: int | None = None):
        hist = tuple(tuple(h) for h in histories)
        self.logprobs, self.state, self.context = logprobs, state, context
        self.lengths = np.fromiter(map(len, hist), dtype=np.int64, count=len(hist))
        self._trace = _Trace(hist)

    @classmethod
    def extended(cls, rows: "Rows", parents: np.ndarray, ids: np.ndarray, logprobs: np.ndarray,
                 state: np.ndarray | None) -> "Rows":
        """Rows whose row r is `rows[parents[r]]` + `ids[r]`, with these numbers (the model's `extend`)."""
        out = cls.__new__(cls)
        out.logprobs, out.state, out.context = logprobs, state, rows.context
        out.lengths = rows.lengths[parents] + 1
        out._trace = _Trace(None, rows._trace, np.asarray(parents, dtype=np.int64), np.asarray(ids, dtype=np.int64))
        return out

    @property
    def histories(self) -> tuple[tuple[int, ...], ...]:
        """Ids read so far, per row (`<s>` first where the model has boundaries and `bos`)."""
        return self._trace.histories()

    def __len__(self) -> int:
        return len(self.lengths)

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
        hist = self.histories
        return Rows([hist[i] for i in idx.tolist()], self.logprobs[idx],
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
        return Rows([h for p in parts for h in p.histories], np.concatenate([p.logprobs for p in parts]),
                    state, parts[0].context)

    def __repr__(self) -> str:
        return f"Rows({len(self)} rows, vocab {self.logprobs.shape[1] if self.logprobs.ndim == 2 else '?'}, " \
               f"state {'carried' if self.state is not None else 'none'}, context {self.context})"
