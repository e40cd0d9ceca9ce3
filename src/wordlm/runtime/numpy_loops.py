"""The greedy and beam searches of `inference/search_loops.py`, step for step in numpy, over any
runtime's `read` and `step` (ONNX Runtime's: one model call per step, no TensorFlow).

Same inputs and outputs as the compiled loops, so `decoding/compiled.py` turns either into
hypotheses; the same rules line by line (ties to the lower id, the beam's finished kinds 1/2/3, the
early stop), so they give the same hypotheses (`tests/test_onnx_runtime.py` compares them with the
stepwise searches). What differs is only where the loop runs: a Python loop whose body is one
model call and a few numpy operations on <float32>[rows, vocab].

Not here: the rules' reasons (`search_loops.py`, `decoding/beam.py`), hypotheses (`decoding/`).
"""

from __future__ import annotations

import math

import numpy as np

from wordlm.vocab import EOS_ID, PAD_ID

NEG_INF = -np.inf


def _select(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries of each row of <float32>[rows, n] (n < 2**32), best first,
    ties to the lower index: each entry becomes one int64 key, its value's order-preserving integer
    (reversed) in the high half and its index in the low half, so keys are distinct and a plain
    partition and a sort of k keys give the exact order (a stable argsort of the row costs far more)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.int32)
    ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # ascending with the float's value
    keys = (~ordered).astype(np.int64) << 32 | np.arange(x.shape[1], dtype=np.int64)
    if k < x.shape[1]:
        keys = np.partition(keys, k - 1, axis=1)[:, :k]
    keys.sort(axis=1)
    return keys[:, :k] & 0xFFFFFFFF


def top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, indices) of the k largest entries of each row of <float>[rows, n], best first, ties
    to the lower index (as `tf.math.top_k`). Above 1,024 entries, exactly in two stages as
    `search_loops.top_k_rows`: the k chunks of √n consecutive entries with the best maxima (ties: the
    lower chunk), then the best k entries of those chunks in index order (an entry outside them has
    k entries at least as good before it)."""
    rows, n = x.shape
    if x.dtype != np.float32:  # float64 scores: a stable sort (these rows are short)
        order = np.argsort(-x, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(x, order, axis=1), order
    r = np.arange(rows)[:, None]
    if k >= n or n <= 1024:
        order = _select(x, min(k, n))
        return x[r, order], order
    chunk = math.isqrt(n)
    chunks = -(-n // chunk)
    if chunks * chunk > n:
        x = np.concatenate([x, np.full((rows, chunks * chunk - n), NEG_INF, dtype=x.dtype)], axis=1)
    blocks = x.reshape(rows, chunks, chunk)
    picked = min(k, chunks)
    best = np.sort(_select(blocks.max(axis=2), picked), axis=1)  # the chosen chunks, in index order
    candidates = blocks[r, best].reshape(rows, picked * chunk)
    order = _select(candidates, k)
    index = best[r, order // chunk] * chunk + order % chunk
    return candidates[r, order], np.minimum(index, n - 1)


def _cells(step, feed: np.ndarray, state: np.ndarray, lp: np.ndarray):
    """One step; rows fed `<pad>` keep their state and log-probabilities (`Network.cells`). Only the
    rows that read a token go through the model."""
    reading = feed != PAD_ID
    if not reading.any():
        return state, lp
    if reading.all():
        new_lp, new_state = step(feed, state)
        return new_state, new_lp
    new_lp, new_state = step(feed[reading], state[reading])
    state, lp = state.copy(), lp.copy()
    state[reading], lp[reading] = new_state, new_lp
    return state, lp


def greedy(read, step, vocab: int, ids, bias, budgets, min_words):
    """`search_loops.build_greedy`'s loop: (tokens <int32>[steps, P] (−1: none), log-probs <float32>[steps, P])."""
    ids, bias, budgets = np.asarray(ids), np.asarray(bias, np.float32), np.asarray(budgets)
    lp, state = read(ids)
    batch, steps = ids.shape[1], int(budgets.max(initial=0))
    out_ids = np.full((steps, batch), -1, dtype=np.int32)
    out_lps = np.zeros((steps, batch), dtype=np.float32)
    done = np.zeros(batch, dtype=bool)
    rows = np.arange(batch)
    t = 0
    while t < steps and not done.all():
        masked = lp + bias
        if t < int(min_words):
            masked[:, EOS_ID] = NEG_INF
        choice = masked.argmax(axis=1)  # the first maximum: the lowest id
        best = masked[rows, choice]
        writes = ~done & (t < budgets) & (best > NEG_INF)
        choice = np.where(writes, choice, -1)
        out_ids[t] = choice
        out_lps[t] = np.where(writes, lp[rows, np.maximum(choice, 0)], 0.0)
        going = writes & (choice != EOS_ID)
        state, lp = _cells(step, np.where(going, choice, PAD_ID).astype(np.int32), state, lp)
        done = ~going
        t += 1
    return out_ids, out_lps


def _divisors(longest: int, kind: int, alpha: float) -> np.ndarray:
    """`search_loops`' divisors: <float64>[longest + 1] of `options.length_normalised` by length."""
    length = np.arange(longest + 1, dtype=np.float64)
    with np.errstate(divide="ignore"):
        if kind == 1:
            out = np.power(length, alpha)
        elif kind == 2:
            out = np.power(5.0 + length, alpha) / np.power(6.0, alpha)
        else:
            out = np.ones_like(length)
    return np.where(length > 0, out, 1.0)


def beam(read, step, vocab: int, ids, bias, budgets, min_words, width, num, kind, alpha):
    """`search_loops.build_beam`'s loop: per step, (parent, token) <int32>[steps, P, K] and the
    finished (kind, slot, log-prob) <[steps, P, 4K]> (see `decoding/compiled.py`)."""
    ids, bias, budgets = np.asarray(ids), np.asarray(bias, np.float32), np.asarray(budgets)
    width, num, kind, alpha, min_words = int(width), int(num), int(kind), float(alpha), int(min_words)
    prompts = ids.shape[1]
    n = min(2 * width, vocab)
    lp0, state0 = read(ids)
    state, lp = np.repeat(state0, width, axis=0), np.repeat(lp0, width, axis=0)  # slot 0 live, the others empty
    cum = np.where(np.arange(width)[None, :] == 0, 0.0, NEG_INF) * np.ones((prompts, 1))
    rank = np.arange(2 * width)[None, :]
    slots = np.broadcast_to(np.arange(width)[None, :], (prompts, width))
    pr = np.arange(prompts)[:, None]
    offsets = pr * width
    first_k = np.arange(4 * width)[None, :] < width
    div = _divisors(int(budgets.max(initial=0)) + 1, kind, alpha)
    budget_div = div[budgets]
    eos_bias = bias.copy()
    eos_bias[EOS_ID] = NEG_INF
    searching = budgets > 0
    best = np.full((prompts, num), NEG_INF)
    count = np.zeros(prompts, dtype=np.int64)
    records = []
    t = 0
    while searching.any():
        values, tokens = top_k(lp + (eos_bias if t < min_words else bias), n)  # [R, n]
        live = (cum > NEG_INF) & searching[:, None]
        dead = live & np.isinf(values[:, 0]).reshape(prompts, width)
        scores = cum[:, :, None] + values.astype(np.float64).reshape(prompts, width, n)
        scores = np.where(live[:, :, None], scores, NEG_INF).reshape(prompts, width * n)
        top, order = top_k(scores, 2 * width)  # ties: layout order
        top_slot = order // n
        top_token = tokens.reshape(prompts, width * n)[pr, order]
        ok = top > NEG_INF
        eos = ok & (top_token == EOS_ID)
        ends = eos & (rank < width)
        other = ok & ~eos
        kept = other & (np.cumsum(other, axis=1) <= width)
        pick = top_k(np.where(kept, -rank, -rank - 2 * width), width)[1]  # the kept ones, in rank order
        filled = kept[pr, pick]
        new_parent = top_slot[pr, pick]
        new_token = np.where(filled, top_token[pr, pick], PAD_ID)
        new_cum = np.where(filled, top[pr, pick], NEG_INF)
        spent = (t + 1 >= budgets)[:, None]
        cut = filled & spent
        going = filled & ~spent
        kinds = np.concatenate([np.where(dead, 1, 0), np.where(ends, 2, 0), np.where(cut, 3, 0)], axis=1)
        fin_slot = np.concatenate([slots, top_slot, slots], axis=1)
        fin_lp = np.concatenate([cum, top, new_cum], axis=1)
        fin_score = np.where(kinds > 0, fin_lp / np.where(first_k, div[t], div[t + 1]), NEG_INF)
        count = count + (kinds > 0).sum(axis=1)
        best = -np.sort(-np.concatenate([best, fin_score], axis=1), axis=1)[:, :num]
        reach = new_cum[:, 0] / budget_div
        done = (count >= num) & (best[:, num - 1] >= reach)
        searching = searching & going.any(axis=1) & ~done
        going = going & searching[:, None]
        new_cum = np.where(going, new_cum, NEG_INF)
        rows = (new_parent + offsets).reshape(-1)
        feed = np.where(going, new_token, PAD_ID).reshape(-1).astype(np.int32)
        state, lp = _cells(step, feed, state[rows], lp[rows])
        records.append((new_parent.astype(np.int32), new_token.astype(np.int32), kinds.astype(np.int32),
                        fin_slot.astype(np.int32), fin_lp))
        cum = new_cum
        t += 1
    if not records:
        empty = np.zeros((0, prompts, width), np.int32), np.zeros((0, prompts, 4 * width), np.int32)
        return empty[0], empty[0], empty[1], empty[1], np.zeros((0, prompts, 4 * width))
    return tuple(np.stack([r[i] for r in records]) for i in range(5))
