"""The decoder's view of a model: next-token log-probabilities for a batch of growing histories.

Job: one object, `Stepper`, that every search drives the same way. It holds a batch of *rows*
(histories) and their next-token log-probabilities `<float32>[rows, vocab]` (natural log);
`advance(parents, ids)` builds the next batch, whose row r is old row `parents[r]` extended by
`ids[r]` (a beam search reorders, duplicates and drops rows this way; a sampler keeps its live rows),
and computes its log-probabilities in one batched model call.

Two exactly equivalent ways to get the numbers:
- carried state (`lm.step`): for `lm.stateful` models (`sequence`, `char`, and `line` while every
  history fits `lm.max_stateful_history()`); each step reads one token per row, so a step costs the
  same whatever the prefix length; the LSTM state rows are gathered by `parents`. The prompts are
  read by `read_histories`, `lm.start`'s numbers in two compiled calls whatever their length (a
  `tf.while_loop` over the LSTM cells, then one `lm.step`) instead of one call per token.
- re-reading (`lm.next_logprobs`): every other framing (`word`, `window`: the context is a few
  words anyway), and a `line` model once a history outgrows its input (from then on the framing
  truncates the context on the left, which carried state cannot do).

Non-job: choosing tokens (the searches), masking (`constraints.py`).
"""

from __future__ import annotations

import weakref
from typing import Sequence

import numpy as np

from wordlm.vocab import PAD_ID


class Stepper:
    """Rows of histories and their next-token log-probabilities; see the module docstring."""

    def __init__(self, lm, histories: Sequence[Sequence[int]], carry_state: bool = True):
        self.lm = lm
        self.histories = [list(h) for h in histories]
        self.state = None  # <float32>[rows, lm.state_size] while state is carried
        self._limit = lm.max_stateful_history() if lm.stateful else None
        if not self.histories:
            self.logprobs = np.zeros((0, lm.vocab_size), dtype=np.float32)
        elif carry_state and self._state_is_exact():
            self.logprobs, self.state = read_histories(lm, self.histories)
        else:
            self.logprobs = lm.next_logprobs(self.histories)

    @property
    def incremental(self) -> bool:
        """True while the LSTM state is carried (one token read per row per step)."""
        return self.state is not None

    def _state_is_exact(self) -> bool:
        if not self.lm.stateful:
            return False
        return self._limit is None or max(len(h) for h in self.histories) <= self._limit

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


def read_histories(lm, histories: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """`lm.start(histories)` in two compiled calls: (<float32>[batch, vocab], <float32>[batch, state]).

    All but the last token of each history are read by one compiled loop over the LSTM cells,
    left-padded with `<pad>` (a padded step leaves the state as it is, so every row starts from the
    zero state exactly as when read alone); the last tokens then go through `lm.step`, which gives
    the log-probabilities with the model's own output layer and mask.
    """
    batch = len(histories)
    longest = max(len(h) for h in histories) - 1
    state = np.zeros((batch, lm.state_size), dtype=np.float32)
    if longest > 0:
        ids = np.full((longest, batch), PAD_ID, dtype=np.int32)  # time-major
        for i, h in enumerate(histories):
            if len(h) > 1:
                ids[longest - len(h) + 1 :, i] = h[:-1]
        state = _reader(lm)(ids).numpy()
    return lm.step(state, [h[-1] for h in histories])


_READERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _reader(lm):
    """The compiled cell loop for `lm` (cached; rebuilt if its Keras model object changes).

    The state layout is `lm.step`'s: [h_1, c_1, h_2, c_2, ...] concatenated per row.
    """
    cached = _READERS.get(lm)
    if cached is not None and cached[0] is lm.keras_model:
        return cached[1]
    import tensorflow as tf

    model = lm.keras_model
    embedding = model.get_layer("embedding")
    lstms = [model.get_layer(f"lstm_{i + 1}") for i in range(lm.size.layers)]
    units, size = lm.size.units, lm.state_size

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def read(ids):  # [time, batch] -> [batch, state]
        steps = tf.shape(ids)[0]

        def body(t, state):
            x = tf.gather(embedding.embeddings, ids[t])
            new = []
            for i, layer in enumerate(lstms):
                h = state[:, 2 * i * units : (2 * i + 1) * units]
                c = state[:, (2 * i + 1) * units : (2 * i + 2) * units]
                x, (h2, c2) = layer.cell(x, [h, c], training=False)
                new += [h2, c2]
            active = tf.not_equal(ids[t], PAD_ID)[:, None]
            return t + 1, tf.where(active, tf.concat(new, axis=1), state)

        zero = tf.zeros([tf.shape(ids)[1], size])
        _, state = tf.while_loop(lambda t, _: t < steps, body, (tf.constant(0), zero))
        return state

    _READERS[lm] = (model, read)
    return read
