"""The model's primitives on numpy arrays: batching, memory bounds, and the one sentence-scoring path.

- `next_logprobs(lm, histories)` → <float32>[batch, vocab]: ln p(next token | history) per history;
- `stream_logprobs(lm, streams, skips)` → for each stream s, <float64>[len(s) − 1 − skip]
  (`stream_logprobs_flat`: the same numbers as one array and offsets):
  ln p(s[t] | s[:t]) for t = skip + 1 … len − 1 — the path every sentence score takes (`score`,
  `perplexity`, training's validation, export's check, fill-in; the reranking trie shares its
  formula, `Network.target_logprobs`);
- `start(lm, histories)` / `step(lm, state, ids)`: read whole histories (one compiled call whatever
  their length) and then one token per row, carrying the LSTM state.

Recurrent streams are sorted by length and go through one forward pass per group of at most
`max_batch` streams (default: 64, more for short streams, `groups`) and `MAX_LOGITS` logits, the softmax computed only at scored positions; a stream
too long for one pass is read in chunks carrying the state. Fixed-context framings score every
position as one row, rows of many streams batched. Results do not depend on the grouping beyond
float32 rounding (well under 1e-5 per token).

Not here: what a stream is (`framings.py`, `lm.stream`), the scoring conventions (`scoring/`).
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from wordlm.errors import InputError
from wordlm.vocab import PAD_ID

MAX_LOGITS = 1 << 26  # float32 logits one forward pass may hold (256 MiB); training's batches too
MAX_BATCH = 192  # streams per forward pass (recurrent framings; fastest on PTB, 0.9x the time of 64: benchmarks/scoring.md)
FIXED_ROWS = 1024  # scored positions per call for fixed-context framings


def next_logprobs(lm, histories: Sequence[Sequence[int]], batch_size: int = 256) -> np.ndarray:
    out = np.empty((len(histories), lm.vocab_size), dtype=np.float32)
    for lo in range(0, len(histories), batch_size):
        chunk = histories[lo : lo + batch_size]
        x = lm.framing.contexts(chunk)
        if lm.framing.recurrent:
            lengths = np.array([len(h) for h in chunk], dtype=np.int32)
            out[lo : lo + len(chunk)] = np.asarray(lm.compiled["next_recurrent"](x, lengths))
        else:
            out[lo : lo + len(chunk)] = np.asarray(lm.compiled["next_fixed"](x))
    return out


def stream_logprobs(lm, streams: Sequence[Sequence[int]], skips: Sequence[int] | None = None,
                    max_batch: int | None = None, max_logits: int = MAX_LOGITS) -> list[np.ndarray]:
    flat, offsets = stream_logprobs_flat(lm, streams, skips, max_batch, max_logits)
    return [flat[lo:hi] for lo, hi in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def stream_logprobs_flat(lm, streams: Sequence[Sequence[int]], skips: Sequence[int] | None = None,
                         max_batch: int | None = None, max_logits: int = MAX_LOGITS) -> tuple[np.ndarray, np.ndarray]:
    """`stream_logprobs` as one array: (<float64>[scored positions], <int64>[streams + 1] offsets);
    stream i's scores are `flat[offsets[i]:offsets[i + 1]]` (no per-stream array is made)."""
    lengths = np.fromiter(map(len, streams), dtype=np.int64, count=len(streams))
    starts = np.zeros(len(streams) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    ids = np.fromiter(itertools.chain.from_iterable(streams), dtype=np.int32, count=int(starts[-1]))
    return stream_logprobs_packed(lm, ids, starts, skips, max_batch, max_logits)


def stream_logprobs_packed(lm, ids: np.ndarray, starts: np.ndarray, skips=None, max_batch: int | None = None,
                           max_logits: int = MAX_LOGITS) -> tuple[np.ndarray, np.ndarray]:
    """`stream_logprobs_flat` of streams packed in one array: stream i is `ids[starts[i]:starts[i + 1]]`."""
    first = lm.framing.first_target
    n_streams = len(starts) - 1
    if skips is None:
        skip = np.full(n_streams, first - 1, dtype=np.int64)
    elif not lm.framing.recurrent:
        raise InputError("context-only positions need a recurrent model (sequence or char framing)")
    else:
        skip = np.asarray(skips, dtype=np.int64).reshape(n_streams)
    if not lm.framing.recurrent:
        return _fixed(lm, [ids[lo:hi].tolist() for lo, hi in zip(starts[:-1], starts[1:])], first)
    lengths = np.diff(starts)
    starts = starts[:-1]
    steps = lengths - 1
    counts = np.maximum(steps - skip, 0)
    offsets = np.zeros(n_streams + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = np.empty(int(offsets[-1]), dtype=np.float64)
    if not len(flat):
        return flat, offsets
    rows = np.flatnonzero(counts > 0)
    for group in groups(rows, steps, max_batch, max_logits // lm.vocab_size):
        if steps[group[0]] * lm.vocab_size > max_logits:  # too long for one pass: chunks carrying the state
            i = group[0]
            whole = _chunked(lm, ids[starts[i] : starts[i] + lengths[i]], max(1, max_logits // lm.vocab_size))
            flat[offsets[i] : offsets[i + 1]] = whole[skip[i] :]
            continue
        n = steps[group]
        mask = np.arange(n.max())[None, :] < n[:, None]  # post-padded rows
        source = (starts[group][:, None] + np.arange(n.max())[None, :])[mask]
        x = np.zeros(mask.shape, dtype=np.int32)
        y = np.zeros_like(x)
        x[mask], y[mask] = ids[source], ids[source + 1]
        scores = np.asarray(lm.compiled["targets"](x, y, skip[group].astype(np.int32)))  # row by row, scored positions
        k = counts[group]
        # where each row's scores go in `flat`: its offset, then one slot per scored position
        into = np.repeat(offsets[group] - np.concatenate([[0], np.cumsum(k)[:-1]]), k) + np.arange(int(k.sum()))
        flat[into] = scores
    return flat, offsets


def stream_logprobs_pair(lm, streams: Sequence[Sequence[int]], alternatives: Sequence[Sequence[int]],
                         max_batch: int = MAX_BATCH, max_logits: int = MAX_LOGITS) -> list[tuple[np.ndarray, np.ndarray]]:
    """`stream_logprobs` of a recurrent model with a second target at every position: for each
    stream s and its alternative a (same length), (<float64>[len(s) - 1] ln p(s[t] | s[:t]),
    <float64>[len(s) - 1] ln p(a[t] | s[:t])) for t = 1 … len - 1; one softmax per position
    (`targets_pair`). Used where a scorer needs the probability of a token that was not read
    (a character model's word boundary: " " or `</s>`)."""
    if not lm.framing.recurrent:
        raise InputError("two targets per position need a recurrent model (sequence or char framing)")
    out: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0), np.zeros(0))] * len(streams)
    steps = [len(s) - 1 for s in streams]
    rows = [i for i in range(len(streams)) if steps[i] > 0]
    per_pass = max(1, max_logits // lm.vocab_size)
    for group in groups(rows, steps, max_batch, per_pass):
        width = max(steps[i] for i in group)
        if width > per_pass:
            raise InputError(f"a line of {width:,} tokens is too long to score in one pass")
        x = np.zeros((len(group), width), dtype=np.int32)
        y, y2 = np.zeros_like(x), np.zeros_like(x)
        for r, i in enumerate(group):
            x[r, : steps[i]] = streams[i][:-1]
            y[r, : steps[i]] = streams[i][1:]
            y2[r, : steps[i]] = alternatives[i][1:]
        a, b = lm.compiled["targets_pair"](x, y, y2, np.zeros(len(group), dtype=np.int32))
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        for i, lo in zip(group, np.cumsum([0, *[steps[i] for i in group[:-1]]])):
            out[i] = (a[lo : lo + steps[i]], b[lo : lo + steps[i]])
    return out


POSITIONS_PER_PASS = 8192  # short streams: a pass holds up to this many positions (rows x longest); with
# 8,192-line reads, 200,000 one-word lines score 2x faster than with 2,048 (benchmarks/robustness.md)


def groups(rows: Sequence[int], steps: Sequence[int], max_rows: int | None, max_positions: int):
    """Split stream indices, sorted by length, into forward passes of at most `max_rows` streams and at
    most `max_positions` padded positions (streams × longest); a stream longer than that is alone.

    `max_rows=None`: `MAX_BATCH` streams (the fastest for sentences of PTB's length), or, for short
    streams, as many as fill `POSITIONS_PER_PASS` positions: 4,096 two-token lines are one pass, not
    22 (at most `MAX_LOGITS` logits), since a compiled call costs about a millisecond whatever it holds. Worked out once per
    distinct length, not once per stream (the same groups as adding streams one by one).
    """
    steps = np.asarray(steps)
    order = np.asarray(rows, dtype=np.int64)[np.argsort(steps[rows], kind="stable")]
    lengths, first_of = np.unique(steps[order], return_index=True)
    bounds = [*first_of.tolist(), len(order)]
    group: list[int] = []
    for n, lo, hi in zip(lengths.tolist(), bounds[:-1], bounds[1:]):
        if n > max_positions:  # each alone
            yield from ([i] for i in order[lo:hi].tolist())
            continue
        cap = max_rows if max_rows is not None else max(MAX_BATCH, POSITIONS_PER_PASS // max(n, 1))
        fits = max(1, min(cap, max_positions // max(n, 1)))  # rows of length n one pass may hold
        run = order[lo:hi].tolist()
        while run:
            if len(group) >= fits:
                yield group
                group = []
            take = fits - len(group)
            group.extend(run[:take])
            run = run[take:]
    if group:
        yield group


def _chunked(lm, stream: Sequence[int], chunk: int) -> np.ndarray:
    """ln p(s[t + 1] | s[:t + 1]) at every position t of one long stream, `chunk` positions a call."""
    fn = lm.compiled["chunk"]
    state = np.zeros((1, lm.state_size), dtype=np.float32)
    x = np.asarray(stream[:-1], dtype=np.int32)
    y = np.asarray(stream[1:], dtype=np.int32)
    parts = []
    for lo in range(0, len(x), chunk):
        lp, state = fn(x[lo : lo + chunk], y[lo : lo + chunk], state)
        parts.append(np.asarray(lp, dtype=np.float64))
    return np.concatenate(parts)


def _fixed(lm, streams, first) -> tuple[np.ndarray, np.ndarray]:
    """Fixed contexts: every scored position is one row; rows of many streams batched."""
    owners = [(i, t) for i, s in enumerate(streams) for t in range(first, len(s))]
    flat = np.empty(len(owners), dtype=np.float64)
    for lo in range(0, len(owners), FIXED_ROWS):
        part = owners[lo : lo + FIXED_ROWS]
        x = np.array([lm.framing.context(streams[i][:t]) for i, t in part], dtype=np.int32)
        y = np.array([streams[i][t] for i, t in part], dtype=np.int32)
        flat[lo : lo + len(part)] = np.asarray(lm.compiled["targets_fixed"](x, y))
    offsets = np.zeros(len(streams) + 1, dtype=np.int64)
    np.cumsum([max(0, len(s) - first) for s in streams], out=offsets[1:])
    return flat, offsets


def time_major(histories: Sequence[Sequence[int]]) -> np.ndarray:
    """<int32>[longest, batch]: histories left-padded with `<pad>` (the layout `read` and the searches take)."""
    longest = max(len(h) for h in histories)
    ids = np.full((longest, len(histories)), PAD_ID, dtype=np.int32)
    for i, h in enumerate(histories):
        ids[longest - len(h) :, i] = h
    return ids


def start(lm, histories: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    if not lm.stateful:
        raise TypeError(f"the {lm.framing.name} framing has no recurrent state to carry")
    if not histories or any(len(h) == 0 for h in histories):
        raise ValueError("empty history")
    lp, state = lm.compiled["read"](time_major(histories))
    return np.asarray(lp), np.asarray(state)


def step(lm, state: np.ndarray, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    lp, new_state = lm.compiled["step"](np.asarray(ids, dtype=np.int32), np.asarray(state, dtype=np.float32))
    return np.asarray(lp), np.asarray(new_state)
