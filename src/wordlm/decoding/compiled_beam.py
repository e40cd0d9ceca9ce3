"""Beam search for LSTM models as one compiled `tf.while_loop`: the search of `beam.py`, exactly,
without one Python round trip per step.

Job: the same algorithm as `beam.beam_search` (read its docstring for the rules), for a batch of
P prompts with K = beam_size slots each (R = P·K rows; an empty slot has logprob -inf). Each
iteration, for every prompt still searching:
  1. next-token log-probs of every row, masked (forbidden words, `</s>` before `min_words`);
  2. each row's 2K best tokens (`tf.math.top_k`: ties to the lower id), scored
     logprob(row) + ln p(token) in float64; a stable sort of the prompt's K·2K candidates, laid out
     row by row, ranks them by score, ties by (row, token): the order `beam.merge_candidates` uses;
  3. `</s>` among the first K ranks finishes a line; the first K other candidates fill the slots;
     a row with nothing allowed finishes as it is; slots reaching the word budget finish there;
  4. early stop when the `num`-th best finished score is at least what the best live slot could
     still reach (`beam.py`); then the state rows are gathered from the parents and advanced.
The loop records back-pointers (parent slot, token per slot per step) and the finished lines
(step, slot, logprob, `</s>` or not); Python then rebuilds the token ids, computes each score with
`options.length_normalised`, and ranks exactly as `beam.py` does (score, then token ids).

Used by `beam.beam_search` where carried state is exact (`compiled.state_applies`); a test
checks it gives the numpy search's hypotheses. Non-job: the model's building blocks
(`compiled.py`), masks other than the compiled ones (`no_repeat_ngram` uses the numpy search).
"""

from __future__ import annotations

import numpy as np

from wordlm.decoding.compiled import _bias, _functions, _time_major
from wordlm.decoding.hypothesis import Hypothesis, Prompt, make_hypothesis
from wordlm.decoding.options import LENGTH_NORMS, DecodeOptions, length_normalised
from wordlm.vocab import EOS_ID, PAD_ID


def beam_batch(lm, prompts: list[Prompt], options: DecodeOptions) -> list[list[Hypothesis]]:
    """The `options.num` best hypotheses of every prompt (each prompt's budget at least 1)."""
    width = options.beam_size
    fn = _beam_function(lm)
    out = fn(_time_major([p.history for p in prompts]), _bias(lm, options),
             np.array([p.max_words for p in prompts], dtype=np.int32),
             np.int32(options.min_words if lm.boundaries else 0), np.int32(width), np.int32(options.num),
             np.int32(LENGTH_NORMS.index(options.length_norm)), np.float64(options.length_penalty))
    parent, token, fin_kind, fin_slot, fin_logprob = (x.numpy() for x in out)
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


def _beam_function(lm):
    fns = _functions(lm)
    if "beam" not in fns:
        fns["beam"] = _build(lm, fns["parts"])
    return fns["beam"]


def _build(lm, parts):
    import tensorflow as tf

    cells, read_all, logprobs, is_eos = parts["cells"], parts["read_all"], parts["logprobs"], parts["is_eos"]
    vocab = lm.vocab_size
    f64 = tf.float64
    neg_inf = tf.constant(-np.inf, f64)

    def normalised(logprob, length, kind, alpha):
        """`options.length_normalised` in TensorFlow (kind: index in LENGTH_NORMS)."""
        length = tf.cast(length, f64)
        avg = logprob / tf.pow(length, alpha)
        gnmt = logprob / (tf.pow(5.0 + length, alpha) / tf.pow(tf.constant(6.0, f64), alpha))
        out = tf.where(tf.equal(kind, 1), avg, tf.where(tf.equal(kind, 2), gnmt, logprob))
        return tf.where(length > 0, out, logprob)

    @tf.function(input_signature=[
        tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([vocab], tf.float32), tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32),
        tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float64)])
    def beam(ids, bias, budgets, min_words, width, num, kind, alpha):
        prompts = tf.shape(ids)[1]
        n = tf.minimum(2 * width, vocab)  # candidates per row
        state = tf.repeat(read_all(ids), width, axis=0)  # [P*K, size]: slot 0 live, the others empty
        cum = tf.where(tf.range(width)[None, :] == 0, tf.zeros([prompts, width], f64), neg_inf)
        rank = tf.range(2 * width)[None, :]
        slots = tf.range(width)[None, :]

        def body(t, state, cum, searching, best, count, tas):
            lp = logprobs(state) + bias
            lp = tf.where(tf.logical_and(t < min_words, is_eos)[None, :], -np.inf, lp)
            values, tokens = tf.math.top_k(lp, k=n)  # [R, n], ties to the lower id
            live = tf.logical_and(cum > neg_inf, searching[:, None])  # [P, K]
            dead = tf.logical_and(live, tf.reshape(tf.math.is_inf(values[:, 0]), [prompts, width]))
            scores = cum[:, :, None] + tf.reshape(tf.cast(values, f64), [prompts, width, n])
            scores = tf.reshape(tf.where(live[:, :, None], scores, neg_inf), [prompts, width * n])
            order = tf.argsort(-scores, axis=1, stable=True)[:, : 2 * width]  # ties: layout order
            top = tf.gather(scores, order, batch_dims=1)  # [P, 2K]
            top_slot = order // n
            top_token = tf.gather(tf.reshape(tokens, [prompts, width * n]), order, batch_dims=1)
            ok = top > neg_inf
            eos = tf.logical_and(ok, tf.equal(top_token, EOS_ID))
            ends = tf.logical_and(eos, rank < width)
            other = tf.logical_and(ok, tf.logical_not(eos))
            kept = tf.logical_and(other, tf.cumsum(tf.cast(other, tf.int32), axis=1) <= width)
            pick = tf.argsort(tf.where(kept, rank, rank + 2 * width), axis=1, stable=True)[:, :width]
            filled = tf.gather(kept, pick, batch_dims=1)  # [P, K]
            new_parent = tf.gather(top_slot, pick, batch_dims=1)
            new_token = tf.where(filled, tf.gather(top_token, pick, batch_dims=1), PAD_ID)
            new_cum = tf.where(filled, tf.gather(top, pick, batch_dims=1), neg_inf)
            spent = (t + 1 >= budgets)[:, None]
            cut = tf.logical_and(filled, spent)
            going = tf.logical_and(filled, tf.logical_not(spent))
            # Finished this step: dead rows (K), `</s>` (2K ranks), budget reached (K).
            kinds = tf.concat([tf.where(dead, 1, 0), tf.where(ends, 2, 0), tf.where(cut, 3, 0)], axis=1)
            fin_slot = tf.concat([tf.broadcast_to(slots, [prompts, width]), top_slot,
                                  tf.broadcast_to(slots, [prompts, width])], axis=1)
            fin_lp = tf.concat([cum, top, new_cum], axis=1)
            length = tf.concat([tf.fill([prompts, width], t), tf.fill([prompts, 3 * width], t + 1)], axis=1)
            fin_score = tf.where(kinds > 0, normalised(fin_lp, length, kind, alpha), neg_inf)
            count = count + tf.reduce_sum(tf.cast(kinds > 0, tf.int32), axis=1)
            best = tf.math.top_k(tf.concat([best, fin_score], axis=1), k=num).values
            # Early stop: the num-th best finished beats anything the best live slot can reach.
            reach = normalised(new_cum[:, 0], budgets, kind, alpha)
            done = tf.logical_and(count >= num, best[:, num - 1] >= reach)
            searching = tf.logical_and(searching, tf.logical_and(tf.reduce_any(going, axis=1), tf.logical_not(done)))
            going = tf.logical_and(going, searching[:, None])
            new_cum = tf.where(going, new_cum, neg_inf)
            rows = tf.reshape(new_parent + tf.range(prompts)[:, None] * width, [-1])
            feed = tf.reshape(tf.where(going, new_token, PAD_ID), [-1])
            state = cells(feed, tf.gather(state, rows))
            tas = [ta.write(t, x) for ta, x in zip(tas, (new_parent, new_token, kinds, fin_slot, fin_lp))]
            return t + 1, state, new_cum, searching, best, count, tas

        tas = [tf.TensorArray(dtype, size=0, dynamic_size=True)
               for dtype in (tf.int32, tf.int32, tf.int32, tf.int32, f64)]
        searching = budgets > 0
        best = tf.fill([prompts, num], neg_inf)
        count = tf.zeros([prompts], tf.int32)
        _, _, _, _, _, _, tas = tf.while_loop(
            lambda t, s, c, searching, *_: tf.reduce_any(searching), body,
            (tf.constant(0), state, cum, searching, best, count, tas))
        return tuple(ta.stack() for ta in tas)

    return beam
