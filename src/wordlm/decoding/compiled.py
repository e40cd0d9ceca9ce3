"""Compiled paths for LSTM models: read prompts, and decode greedily, in one TensorFlow call each.

Job: `tf.function`s built from the Keras model's own layers (shared weights, no copy):
- `read_histories(lm, histories)`: `lm.start`'s numbers (next log-probs and LSTM state after each
  history) in one call whatever the prompt length, instead of one call per token;
- `greedy_batch(lm, prompts, options)`: the whole greedy search, prompt reading included, as one
  `tf.while_loop`: each step masks (forbidden words, `</s>` before `min_words`), takes the most
  likely token (ties: lowest id, made explicit: TensorFlow's argmax leaves ties unspecified),
  records its log-probability, and advances the state of the rows still going. One call per batch
  of prompts instead of one per word: the per-call overhead of TensorFlow, which dominates a
  one-row step, is paid once.
(`compiled_beam.py` does the same for beam search, from the same building blocks.)
All give the numbers of the stepwise path (`state.Stepper` + `search.decode_rows`), which the
tests check. Used only where carried state is exact (`sequence`, `char`, and `line` while the line
fits its input) and without `no_repeat_ngram` (the searches fall back otherwise).

State layout, as `lm.step`'s: per row [h_1, c_1, h_2, c_2, ...]. Log-probabilities are
`log_softmax(logits + mask)` with the model's mask (-inf on `lm.never_predicted()`), as in lm.py.
Non-job: sampling (stepwise in numpy), the searches' bookkeeping.
"""

from __future__ import annotations

import weakref
from typing import Sequence

import numpy as np

from wordlm.decoding.constraints import forbidden_ids
from wordlm.decoding.hypothesis import Hypothesis, Prompt, make_hypothesis
from wordlm.decoding.options import DecodeOptions, length_normalised
from wordlm.vocab import EOS_ID, PAD_ID

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def read_histories(lm, histories: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """`lm.start(histories)` in one compiled call: (<float32>[batch, vocab], <float32>[batch, state]).

    Histories are left-padded with `<pad>`; a padded step leaves a row's state as it is, so every
    row starts from the zero state exactly as when read alone.
    """
    lp, state = _functions(lm)["read"](_time_major(histories))
    return lp.numpy(), state.numpy()


def greedy_applies(lm, prompts: list[Prompt], options: DecodeOptions) -> bool:
    """True when the compiled greedy loop gives exactly the stepwise search's result."""
    if not (options.strategy == "greedy" or options.temperature == 0) or options.num != 1:
        return False
    return state_applies(lm, prompts, options)


def state_applies(lm, prompts: list[Prompt], options: DecodeOptions) -> bool:
    """True when carried state is exact for the whole search and the masks are the compiled ones."""
    if not lm.stateful or lm.keras_model is None or options.no_repeat_ngram:
        return False
    limit = lm.max_stateful_history()
    # A history read before predicting word k has len(history) + k - 1 tokens.
    return limit is None or all(len(p.history) + max(p.max_words, 1) - 1 <= limit for p in prompts)


def _bias(lm, options: DecodeOptions) -> np.ndarray:
    bias = np.zeros(lm.vocab_size, dtype=np.float32)
    bias[forbidden_ids(lm, options.forbid, options.allow_unk)] = -np.inf
    return bias


def greedy_batch(lm, prompts: list[Prompt], options: DecodeOptions) -> list[list[Hypothesis]]:
    """Greedy continuations of every prompt, from one compiled call."""
    bias = _bias(lm, options)
    min_words = options.min_words if lm.boundaries else 0
    budgets = np.array([p.max_words for p in prompts], dtype=np.int32)
    if budgets.max() > 0:
        ids, lps = _functions(lm)["greedy"](_time_major([p.history for p in prompts]), bias, budgets,
                                            np.int32(min_words))
        ids, lps = ids.numpy(), lps.numpy()  # [steps, batch]: token (-1: none) and its log-probability
    else:
        ids = lps = np.zeros((0, len(prompts)))
    results = []
    for r, prompt in enumerate(prompts):
        tokens, logprob, eos = [], 0.0, False
        for t in range(ids.shape[0]):
            if ids[t, r] < 0:
                break
            logprob += float(lps[t, r])  # summed in float64 in order, as the stepwise search does
            if ids[t, r] == EOS_ID:
                eos = True
                break
            tokens.append(int(ids[t, r]))
        score = length_normalised(logprob, len(tokens) + eos, options.length_norm, options.length_penalty)
        results.append([make_hypothesis(lm, prompt, tokens, logprob, score, eos)])
    return results


def _time_major(histories: Sequence[Sequence[int]]) -> np.ndarray:
    """<int32>[longest, batch]: histories left-padded with `<pad>`."""
    longest = max(len(h) for h in histories)
    ids = np.full((longest, len(histories)), PAD_ID, dtype=np.int32)
    for i, h in enumerate(histories):
        ids[longest - len(h) :, i] = h
    return ids


def _functions(lm) -> dict:
    """The compiled functions for `lm` (cached; rebuilt if its Keras model object changes).

    `parts` holds the building blocks (Python functions over tensors) for other compiled searches
    (`compiled_beam.py`), which cache their own functions in the same dictionary.
    """
    cached = _CACHE.get(lm)
    if cached is not None and cached[0] is lm.keras_model:
        return cached[1]
    fns = _build(lm)
    _CACHE[lm] = (lm.keras_model, fns)
    return fns


def _build(lm) -> dict:
    import tensorflow as tf

    net = lm.network()
    size, vocab = lm.state_size, lm.vocab_size
    is_eos = tf.equal(tf.range(vocab, dtype=tf.int32), EOS_ID)

    def cells(ids, state):
        """Read one token per row; padded rows keep their state."""
        _, new = net.cell_step(ids, state)
        return tf.where(tf.not_equal(ids, PAD_ID)[:, None], new, state)

    def read_all(ids):  # [time, batch] -> state [batch, size]
        zero = tf.zeros([tf.shape(ids)[1], size])
        _, state = tf.while_loop(lambda t, _: t < tf.shape(ids)[0], lambda t, s: (t + 1, cells(ids[t], s)),
                                 (tf.constant(0), zero))
        return state

    top_h = slice(size - 2 * net.units, size - net.units)  # h of the last layer: the network's output

    def logprobs(state):
        return net.log_softmax(state[:, top_h])

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def read(ids):
        state = read_all(ids)
        return logprobs(state), state

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([vocab], tf.float32),
                                  tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32)])
    def greedy(ids, bias, budgets, min_words):
        state = read_all(ids)
        batch = tf.shape(ids)[1]
        steps = tf.reduce_max(budgets)
        iota = tf.range(vocab, dtype=tf.int32)

        def body(t, state, done, out_ids, out_lps):
            lp = logprobs(state)
            masked = lp + bias
            masked = tf.where(tf.logical_and(t < min_words, is_eos)[None, :], -np.inf, masked)
            best = tf.reduce_max(masked, axis=1)
            choice = tf.reduce_min(tf.where(tf.equal(masked, best[:, None]), iota, vocab), axis=1)  # lowest id
            writes = tf.logical_and(tf.logical_not(done), tf.logical_and(t < budgets, best > -np.inf))
            choice = tf.where(writes, choice, -1)
            picked = tf.where(writes, tf.gather(lp, tf.maximum(choice, 0), axis=1, batch_dims=1), 0.0)
            going = tf.logical_and(writes, tf.not_equal(choice, EOS_ID))
            state = cells(tf.where(going, choice, PAD_ID), state)
            return t + 1, state, tf.logical_not(going), out_ids.write(t, choice), out_lps.write(t, picked)

        done = tf.zeros([batch], tf.bool)
        out = (tf.TensorArray(tf.int32, size=0, dynamic_size=True), tf.TensorArray(tf.float32, size=0, dynamic_size=True))
        _, _, _, out_ids, out_lps = tf.while_loop(
            lambda t, s, d, *_: tf.logical_and(t < steps, tf.logical_not(tf.reduce_all(d))),
            body, (tf.constant(0), state, done, *out))
        # Unwritten steps (all rows done early) read as "no token".
        written = out_ids.size()
        pad = tf.fill([steps - written, batch], -1)
        return tf.concat([out_ids.stack(), pad], 0), tf.concat([out_lps.stack(), tf.zeros([steps - written, batch])], 0)

    parts = {"cells": cells, "read_all": read_all, "logprobs": logprobs, "is_eos": is_eos}
    return {"read": read, "greedy": greedy, "parts": parts}
