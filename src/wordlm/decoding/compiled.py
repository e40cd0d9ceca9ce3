"""The compiled searches' Python side: when they apply, their inputs, and their outputs as hypotheses.

For LSTM models the greedy and beam searches run as one compiled `tf.while_loop` per batch of
prompts (`inference/search_loops.py`, built and cached by `lm.compiled`): one call instead of one
TensorFlow round trip per step, whose overhead dominates a one-row step. They give exactly the
hypotheses of the stepwise searches (`search.decode_rows`, `beam.beam_search` over `state.Stepper`),
which the tests check, and are used only where carried state is exact for the whole search
(`lm.carries_state`), without `no_repeat_ngram` (the stepwise searches handle it), and where the
model's runtime has the loops (`lm.runtime.search_loops`: TensorFlow's `tf.while_loop`s, or the same
loops in numpy over ONNX Runtime's step, `runtime/numpy_loops.py`).

- greedy: each step masks (forbidden words, `</s>` before `min_words`), takes the most likely token
  (ties: the lowest id), records its log-probability; the log-probabilities are summed here, in
  float64 and in order, as the stepwise search does.
- beam: the algorithm of `beam.py` for P prompts with K = beam_size slots each; the loop records
  back-pointers (parent slot, token per slot per step) and the hypotheses finished at each step
  (kind 1 a dead row: the beam before the step; 2 `</s>`: the beam before, + `</s>`; 3 the word
  budget reached: the beam after the step); here the token ids are rebuilt, each score computed
  with `options.length_normalised`, and the hypotheses ranked as `beam.py` does (score, then ids).

Not here: the TensorFlow loops (`inference/search_loops.py`), sampling (stepwise, in numpy).
"""

from __future__ import annotations

import numpy as np

from wordlm.decoding.constraints import forbidden_ids
from wordlm.decoding.hypothesis import Hypothesis, Prompt, make_hypothesis
from wordlm.decoding.options import LENGTH_NORMS, DecodeOptions, length_normalised
from wordlm.inference.streams import time_major
from wordlm.vocab import EOS_ID


def greedy_applies(lm, prompts: list[Prompt], options: DecodeOptions) -> bool:
    """True when the compiled greedy loop gives exactly the stepwise search's result."""
    if not (options.strategy == "greedy" or options.temperature == 0) or options.num != 1:
        return False
    return state_applies(lm, prompts, options)


def state_applies(lm, prompts: list[Prompt], options: DecodeOptions) -> bool:
    """True when carried state is exact for the whole search and the masks are the compiled ones."""
    if not lm.has_network or not lm.runtime.search_loops or options.no_repeat_ngram:
        return False
    # A history read before predicting word k has len(history) + k - 1 tokens.
    return lm.carries_state(max(len(p.history) + max(p.max_words, 1) - 1 for p in prompts))


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
        ids, lps = lm.compiled["greedy"](time_major([p.history for p in prompts]), bias, budgets, np.int32(min_words))
        ids, lps = np.asarray(ids), np.asarray(lps)  # [steps, batch]: token (-1: none) and its log-probability
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


def beam_batch(lm, prompts: list[Prompt], options: DecodeOptions) -> list[list[Hypothesis]]:
    """The `options.num` best hypotheses of every prompt (each prompt's budget at least 1)."""
    width = options.beam_size
    out = lm.compiled["beam"](time_major([p.history for p in prompts]), _bias(lm, options),
             np.array([p.max_words for p in prompts], dtype=np.int32),
             np.int32(options.min_words if lm.boundaries else 0), np.int32(width), np.int32(options.num),
             np.int32(LENGTH_NORMS.index(options.length_norm)), np.float64(options.length_penalty))
    parent, token, fin_kind, fin_slot, fin_logprob = (np.asarray(x) for x in out)
    # parent/token [steps, P, K]: the slot's beam after step t = parent's beam after step t-1 + token.
    # fin_* [steps, P, 4K]: per step, K dead rows, 2K `</s>` ranks, K budget-reached slots; kind
    # 0 none, 1 dead row (the beam before the step), 2 `</s>` (the beam before, + `</s>`),
    # 3 budget reached (the beam after the step).

    def ids_of(step: int, p: int, slot: int) -> tuple[int, ...]:
        ids = []
        for t in range(step, -1, -1):
            ids.append(int(token[t, p, slot]))
            slot = int(parent[t, p, slot])
        return tuple(reversed(ids))

    results = []
    for p, prompt in enumerate(prompts):
        finished = [] if prompt.max_words > 0 else [(0.0, (), 0.0, False)]  # nothing to generate
        for t, j in zip(*np.nonzero(fin_kind[:, p, :])):
            kind, slot, logprob = int(fin_kind[t, p, j]), int(fin_slot[t, p, j]), float(fin_logprob[t, p, j])
            ids = ids_of(t, p, slot) if kind == 3 else (ids_of(t - 1, p, slot) if t > 0 else ())
            eos = kind == 2
            score = length_normalised(logprob, len(ids) + eos, options.length_norm, options.length_penalty)
            finished.append((score, ids, logprob, eos))
        best = sorted(finished, key=lambda f: (-f[0], f[1]))[: options.num]
        results.append([make_hypothesis(lm, prompt, list(ids), logprob, score, eos)
                        for score, ids, logprob, eos in best])
    return results
