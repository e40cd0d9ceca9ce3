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
  Each row's candidates come from `top_k_rows` (an exact two-stage top-k: at V = 10,000 a one-stage
  `tf.math.top_k` cost about as much as the 8-row softmax); see `benchmarks/decoding.md` for a step's costs.

Not here: the per-token numbers (`network.py`), hypotheses and their ranking (`decoding/`).
"""

from __future__ import annotations

import math

import numpy as np

from wordlm.vocab import EOS_ID, PAD_ID


TWO_STAGE_MIN_VOCAB = 1024  # below this, one `tf.math.top_k` over the row is as fast


def top_k_rows(x, k, vocab: int, chunk: int | None = None):
    """`tf.math.top_k(x, k)` of <float32>[rows, vocab] (values and indices, best first, ties to
    the lower index), exactly, in two stages: the k chunks of `chunk` consecutive entries with the
    best maxima (ties: the lower chunk), then the best k entries of those chunks, read in index
    order. Exact: an entry outside those chunks has k better entries (its chunk's maximum is at
    least the entry, and each chosen chunk's maximum beats that). One top-k over all V entries
    costs about 5x the two stages at V = 10,000 (a CPU heap per row). `chunk`: default √V (one
    stage below `TWO_STAGE_MIN_VOCAB`); rows are padded with −inf to whole chunks; the index
    of a −inf value is unspecified (the searches never use one)."""
    import tensorflow as tf

    if chunk is None:
        chunk = math.isqrt(vocab) if vocab >= TWO_STAGE_MIN_VOCAB else vocab
    if chunk >= vocab:
        return tf.math.top_k(x, k=k)
    chunks = -(-vocab // chunk)
    rows = tf.shape(x)[0]
    if chunks * chunk > vocab:
        x = tf.pad(x, [[0, 0], [0, chunks * chunk - vocab]], constant_values=-np.inf)
    x = tf.reshape(x, [rows, chunks, chunk])
    picked = tf.minimum(k, chunks)
    best = tf.sort(tf.math.top_k(tf.reduce_max(x, axis=2), k=picked).indices, axis=1)  # in index order
    values, pos = tf.math.top_k(tf.reshape(tf.gather(x, best, batch_dims=1), [rows, picked * chunk]), k=k)
    index = tf.gather(best, pos // chunk, batch_dims=1) * chunk + pos % chunk
    return values, tf.minimum(index, vocab - 1)


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

    eos_block = tf.where(tf.equal(tf.range(vocab, dtype=tf.int32), EOS_ID), -np.inf, 0.0)  # [V]
    read_all, cells = net.read, net.cells

    def logprobs(state):
        return net.log_softmax(net.output(state))

    f64 = tf.float64
    neg_inf = tf.constant(-np.inf, f64)

    def divisors(longest, kind, alpha):
        """<float64>[longest + 1]: `options.length_normalised`'s divisor of a hypothesis of each
        length (kind: index in LENGTH_NORMS; length 0 and "none": 1), so that a step's scores are
        one division by a gathered divisor, not a dozen ops of `tf.pow`s per step."""
        length = tf.cast(tf.range(longest + 1), f64)
        avg = tf.pow(length, alpha)
        gnmt = tf.pow(5.0 + length, alpha) / tf.pow(tf.constant(6.0, f64), alpha)
        out = tf.where(tf.equal(kind, 1), avg, tf.where(tf.equal(kind, 2), gnmt, tf.ones_like(length)))
        return tf.where(length > 0, out, tf.ones_like(length))

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
        slots = tf.broadcast_to(tf.range(width)[None, :], [prompts, width])
        offsets = tf.range(prompts)[:, None] * width  # a prompt's first row
        first_k = tf.range(4 * width)[None, :] < width  # the dead-row columns of the finished block
        div = divisors(tf.reduce_max(budgets) + 1, kind, alpha)
        budget_div = tf.gather(div, budgets)

        def body(t, state, cum, searching, best, count, tas):
            # `</s>` before min_words: folded into the [V] bias, one add over the rows' logprobs.
            lp = logprobs(state) + tf.where(t < min_words, bias + eos_block, bias)
            values, tokens = top_k_rows(lp, n, vocab)  # [R, n], ties to the lower id
            live = tf.logical_and(cum > neg_inf, searching[:, None])  # [P, K]
            dead = tf.logical_and(live, tf.reshape(tf.math.is_inf(values[:, 0]), [prompts, width]))
            scores = cum[:, :, None] + tf.reshape(tf.cast(values, f64), [prompts, width, n])
            scores = tf.reshape(tf.where(live[:, :, None], scores, neg_inf), [prompts, width * n])
            top, order = tf.math.top_k(scores, k=2 * width)  # [P, 2K]; ties: layout order (lower index)
            top_slot = order // n
            top_token = tf.gather(tf.reshape(tokens, [prompts, width * n]), order, batch_dims=1)
            ok = top > neg_inf
            eos = tf.logical_and(ok, tf.equal(top_token, EOS_ID))
            ends = tf.logical_and(eos, rank < width)
            other = tf.logical_and(ok, tf.logical_not(eos))
            kept = tf.logical_and(other, tf.cumsum(tf.cast(other, tf.int32), axis=1) <= width)
            pick = tf.math.top_k(tf.where(kept, -rank, -rank - 2 * width), k=width).indices  # kept ones, in rank order
            filled = tf.gather(kept, pick, batch_dims=1)  # [P, K]
            new_parent = tf.gather(top_slot, pick, batch_dims=1)
            new_token = tf.where(filled, tf.gather(top_token, pick, batch_dims=1), PAD_ID)
            new_cum = tf.where(filled, tf.gather(top, pick, batch_dims=1), neg_inf)
            spent = (t + 1 >= budgets)[:, None]
            cut = tf.logical_and(filled, spent)
            going = tf.logical_and(filled, tf.logical_not(spent))
            # Finished this step: dead rows (K, length t), `</s>` (2K ranks) and budget reached (K), length t + 1.
            kinds = tf.concat([tf.where(dead, 1, 0), tf.where(ends, 2, 0), tf.where(cut, 3, 0)], axis=1)
            fin_slot = tf.concat([slots, top_slot, slots], axis=1)
            fin_lp = tf.concat([cum, top, new_cum], axis=1)
            fin_score = tf.where(kinds > 0, fin_lp / tf.where(first_k, div[t], div[t + 1]), neg_inf)
            count = count + tf.reduce_sum(tf.cast(kinds > 0, tf.int32), axis=1)
            best = tf.math.top_k(tf.concat([best, fin_score], axis=1), k=num).values
            # Early stop: the num-th best finished beats anything the best live slot can reach.
            reach = new_cum[:, 0] / budget_div
            done = tf.logical_and(count >= num, best[:, num - 1] >= reach)
            searching = tf.logical_and(searching, tf.logical_and(tf.reduce_any(going, axis=1), tf.logical_not(done)))
            going = tf.logical_and(going, searching[:, None])
            new_cum = tf.where(going, new_cum, neg_inf)
            rows = tf.reshape(new_parent + offsets, [-1])
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
