"""LanguageModel: tokenizer settings + Vocabulary + Framing + Keras model, and the one primitive.

The primitive everything else (scoring, reranking, decoding) is built on:

    next_logprobs(histories) -> <float32>[batch, vocab]

natural-log probabilities of the next token after each history (a list of ids, `<s>` first when
the model has boundaries). Tokens that can never be predicted (`<pad>`, `<s>`, and `</s>` for a
model without boundaries) get -inf, so each row is a distribution over the vocabulary that sums
to 1. Two faster, exactly equivalent views of the same numbers:

- `stream_logprobs(streams)`: log p(stream[t] | stream[:t]) at every scored position of whole
  streams, in as few compiled calls as possible (one forward pass per batch for recurrent
  framings);
- `start(histories)` / `step(state, ids)`: incremental prediction carrying the LSTM state, for
  framings whose context is the whole history (`sequence`, `char`, and `line` while the history
  fits its input length). One step costs the same whatever the history length.

All model calls are compiled `tf.function`s with fixed signatures (no `model.predict`).
Not here: training (`training.py`), saving (`saving.py`), scoring conventions (`scoring.py`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from wordlm.api import LanguageModelAPI
from wordlm.framings import Framing, LineFraming
from wordlm.model import ModelSize, Network, forward_flops_per_token
from wordlm.text import Tokenizer
from wordlm.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary


class LanguageModel(LanguageModelAPI):
    """A trained (or freshly built) word-level language model: its text conventions, the primitives,
    and the user-facing methods of `api.py` (score, full_scores, perplexity, next_words, …)."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        vocab: Vocabulary,
        framing: Framing,
        size: ModelSize,
        keras_model,
        info: dict | None = None,
    ):
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.framing = framing
        self.size = size
        self.keras_model = keras_model
        self.info = dict(info or {})  # training statistics: corpus, epochs, validation ppl, ...
        self._compiled = None

    # -- text ---------------------------------------------------------------------------------
    @property
    def boundaries(self) -> bool:
        return self.framing.boundaries

    @property
    def reverse(self) -> bool:
        """True for a backward model: lines are read right to left."""
        return bool(self.info.get("reverse", False))

    def tokens(self, text: str) -> list[str]:
        """The line's tokens in reading order (reversed for a backward model)."""
        tokens = self.tokenizer.tokenize(text)
        return tokens[::-1] if self.reverse else tokens

    def encode(self, text: str) -> list[int]:
        """Vocabulary ids of a line's tokens, no boundary markers."""
        return self.vocab.encode(self.tokens(text))

    def history(self, text: str) -> list[int]:
        """The history a prompt stands for: `<s>` + its ids with boundaries, else its ids."""
        ids = self.encode(text)
        return [BOS_ID, *ids] if self.boundaries else ids

    def stream(self, text: str) -> list[int]:
        """A whole line as the framing reads it (`<s> … </s>` with boundaries)."""
        return self.framing.line(self.encode(text))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def never_predicted(self) -> list[int]:
        """Ids that get probability 0: padding, `<s>`, and `</s>` without boundaries."""
        ids = [PAD_ID, BOS_ID]
        if not self.boundaries:
            ids.append(EOS_ID)
        return ids

    @property
    def num_parameters(self) -> int:
        return int(self.keras_model.count_params())

    @property
    def flops_per_token(self) -> int:
        return forward_flops_per_token(self.vocab_size, self.size)

    # -- the primitive ------------------------------------------------------------------------
    def next_logprobs(self, histories: Sequence[Sequence[int]], batch_size: int = 256) -> np.ndarray:
        """<float32>[batch, vocab]: ln p(next token | history) for each history (natural log)."""
        fns = self._fns()
        out = np.empty((len(histories), self.vocab_size), dtype=np.float32)
        for lo in range(0, len(histories), batch_size):
            chunk = histories[lo : lo + batch_size]
            x = self.framing.contexts(chunk)
            if self.framing.recurrent:
                lengths = np.array([len(h) for h in chunk], dtype=np.int32)
                out[lo : lo + len(chunk)] = fns["next_recurrent"](x, lengths).numpy()
            else:
                out[lo : lo + len(chunk)] = fns["next_fixed"](x).numpy()
        return out

    def stream_logprobs(self, streams: Sequence[Sequence[int]], batch_size: int = 64) -> list[np.ndarray]:
        """For each stream s, <float64>[len(s) - first]: ln p(s[t] | s[:t]) for t = first … len-1.

        `first` is `framing.first_target` (1: `<s>`, or a no-boundary line's first word, is never
        predicted). Streams shorter than `first + 1` give an empty array. Independent of batching
        (to float32 rounding, well under 1e-5 per token).
        """
        first = self.framing.first_target
        results: list[np.ndarray] = [np.zeros(0)] * len(streams)
        fns = self._fns()
        if self.framing.recurrent:
            # Sort by length so each batch pads little; one forward pass per batch.
            order = sorted((i for i in range(len(streams)) if len(streams[i]) > first), key=lambda i: len(streams[i]))
            for idx in _batches(order, [len(s) for s in streams], batch_size, MAX_LOGITS // self.vocab_size):
                longest = max(len(streams[i]) for i in idx) - 1
                x = np.zeros((len(idx), longest), dtype=np.int32)
                y = np.zeros((len(idx), longest), dtype=np.int32)
                for r, i in enumerate(idx):
                    s = streams[i]
                    x[r, : len(s) - 1] = s[:-1]
                    y[r, : len(s) - 1] = s[1:]
                lp = fns["targets_recurrent"](x, y).numpy().astype(np.float64)
                for r, i in enumerate(idx):
                    results[i] = lp[r, first - 1 : len(streams[i]) - 1]
            for i, s in enumerate(streams):
                if len(s) <= first:
                    results[i] = np.zeros(0)
            return results
        # Fixed-context framings: every scored position is one row; rows of many streams batched.
        rows, owners = [], []
        for i, s in enumerate(streams):
            for t in range(first, len(s)):
                rows.append(t)
                owners.append(i)
        flat = np.empty(len(rows), dtype=np.float64)
        step = max(batch_size * 16, 1)
        for lo in range(0, len(rows), step):
            hi = min(lo + step, len(rows))
            x = np.array(
                [self.framing.context(streams[owners[k]][: rows[k]]) for k in range(lo, hi)], dtype=np.int32
            )
            y = np.array([streams[owners[k]][rows[k]] for k in range(lo, hi)], dtype=np.int32)
            flat[lo:hi] = fns["targets_fixed"](x, y).numpy()
        pos = 0
        for i, s in enumerate(streams):
            n = max(0, len(s) - first)
            results[i] = flat[pos : pos + n]
            pos += n
        return results

    # -- incremental state --------------------------------------------------------------------
    @property
    def stateful(self) -> bool:
        """True when the context is the whole history read by the LSTM, so state can be carried."""
        return self.framing.recurrent or isinstance(self.framing, LineFraming)

    @property
    def state_size(self) -> int:
        return 2 * self.size.layers * self.size.units

    def max_stateful_history(self) -> int | None:
        """Longest history for which carrying state equals re-reading (None: no limit)."""
        return self.framing.input_length if isinstance(self.framing, LineFraming) else None

    def carries_state(self, longest_history: int) -> bool:
        """The one rule for "carried state is exact": True when reading histories of up to
        `longest_history` tokens one token at a time, carrying the LSTM state, gives the numbers of
        re-reading them whole (`sequence`, `char`; `line` while a history fits its input length)."""
        limit = self.max_stateful_history()
        return self.stateful and (limit is None or longest_history <= limit)

    def start(self, histories: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Read whole histories; return (<float32>[batch, vocab] next log-probs, <float32>[batch, state])."""
        if not self.stateful:
            raise TypeError(f"the {self.framing.name} framing has no recurrent state to carry")
        if any(len(h) == 0 for h in histories):
            raise ValueError("empty history")
        fns = self._fns()
        batch = len(histories)
        longest = max(len(h) for h in histories)
        ids = np.zeros((longest, batch), dtype=np.int32)
        for i, h in enumerate(histories):
            ids[: len(h), i] = h
        state = np.zeros((batch, self.state_size), dtype=np.float32)
        logprobs = np.zeros((batch, self.vocab_size), dtype=np.float32)
        for t in range(longest):
            active = ids[t] != PAD_ID
            lp, new_state = fns["step"](ids[t], state)
            state = np.where(active[:, None], new_state.numpy(), state)
            logprobs = np.where(active[:, None], lp.numpy(), logprobs)
        return logprobs, state

    def step(self, state: np.ndarray, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Read one more token per row: returns (next log-probs, new state), both numpy float32."""
        lp, new_state = self._fns()["step"](np.asarray(ids, dtype=np.int32), np.asarray(state, dtype=np.float32))
        return lp.numpy(), new_state.numpy()

    # -- compiled functions -------------------------------------------------------------------
    def _fns(self) -> dict:
        if self._compiled is None:
            self._compiled = _compile(self)
        return self._compiled

    def network(self) -> Network:
        """The Keras model's layers and the never-predicted mask, for compiled inference code."""
        return Network(self.keras_model, self.size, self.never_predicted())

    def reset_compiled(self) -> None:
        """Forget compiled functions (after the Keras model's weights object was replaced)."""
        self._compiled = None


MAX_LOGITS = 1 << 26  # at most this many float32 logits (256 MiB) in one forward pass


def _batches(order: list[int], lengths: list[int], max_rows: int, max_tokens: int):
    """Split length-sorted stream indices into batches of at most `max_rows` rows and at most
    `max_tokens` padded positions (rows × longest), so a [batch, time, vocab] pass stays bounded.
    A single stream longer than `max_tokens` is a batch of its own."""
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) >= max_rows or (len(batch) + 1) * lengths[i] > max_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _compile(lm: LanguageModel) -> dict:
    """Build the compiled inference functions from the Keras model's own layers (shared weights)."""
    import tensorflow as tf

    net = lm.network()
    fns = {}
    if lm.framing.recurrent:

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32)])
        def next_recurrent(x, lengths):
            h = net.features(x, PAD_ID)  # [B, T, units]
            last = tf.gather(h, lengths - 1, axis=1, batch_dims=1)
            return net.log_softmax(last)

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2)
        def targets_recurrent(x, y):
            lp = net.log_softmax(net.features(x, PAD_ID))  # [B, T, V]
            return tf.gather(lp, y, axis=2, batch_dims=2)

        fns.update(next_recurrent=next_recurrent, targets_recurrent=targets_recurrent)
    else:
        length = lm.framing.input_length

        @tf.function(input_signature=[tf.TensorSpec([None, length], tf.int32)])
        def next_fixed(x):
            return net.log_softmax(net.features(x, PAD_ID))

        @tf.function(input_signature=[tf.TensorSpec([None, length], tf.int32), tf.TensorSpec([None], tf.int32)])
        def targets_fixed(x, y):
            lp = net.log_softmax(net.features(x, PAD_ID))
            return tf.gather(lp, y, axis=1, batch_dims=1)

        fns.update(next_fixed=next_fixed, targets_fixed=targets_fixed)

    if lm.stateful:

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, lm.state_size], tf.float32)])
        def step(ids, state):
            h, new_state = net.cell_step(ids, state)
            return net.log_softmax(h), new_state

        fns["step"] = step
    return fns
