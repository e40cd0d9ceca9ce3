"""The whole greedy and beam searches of LSTM models as compiled `tf.while_loop`s (one call a batch).

Built by `compiled.Compiled` ("greedy", "beam") from the `Network` blocks; the Python side that
turns their outputs into hypotheses, and the rules they implement, are in `decoding/compiled.py`
(greedy) and `decoding/beam.py` (the beam search's rules, which the loop follows exactly).

- greedy(ids <int32>[T, P] left-padded prompts, bias <float32>[V], budgets <int32>[P], min_words)
  → (tokens <int32>[steps, P] (−1: none), log-probs <float32>[steps, P]): each step masks (the
  bias: forbidden words; `</s>` before `min_words`), takes the most likely token (ties: the lowest
  id, made explicit: TensorFlow's argmax leaves ties unspecified), records its log-probability and
  advances the rows still going.
- beam(ids, bias, budgets, min_words, width K, num, length-norm kind, alpha) → per step and prompt:
  back-pointers and tokens of the K slots and the hypotheses finished at that step (kind 1 a dead
  row, 2 `</s>`, 3 the word budget reached; slot; log-probability). See `decoding/compiled.py`.

Not here: the per-token numbers (`network.py`), hypotheses and their ranking (`decoding/`).
"""

from __future__ import annotations

import numpy as np

from wordlm.vocab import EOS_ID, PAD_ID


def build_greedy(net, vocab: int):
    import tensorflow as tf

    is_eos = tf.equal(tf.range(vocab, dtype=tf.int32), EOS_ID)
    read_all, cells = net.read, net.cells

    def logprobs(state):
        return net.log_softmax(net.output(state))

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

    return greedy


def build_beam(net, vocab: int):
    import tensorflow as tf

    is_eos = tf.equal(tf.range(vocab, dtype=tf.int32), EOS_ID)
    read_all, cells = net.read, net.cells

    def logprobs(state):
        return net.log_softmax(net.output(state))

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
