"""Exact LM scores of many hypotheses: a cache by text, and a prefix trie that reads each prefix once.

Why the trie keeps its own state arrays instead of `Rows`/`extend` (the model interface, which
the decoders and the conditional scorer use): a level of the trie needs ln p(target | prefix) for the
few children of each node only, and the compiled `level` step computes just those (the logits'
logsumexp per row, the targets gathered), never the <float32>[rows, vocab] log-probabilities that
`Rows` carries; at ~1,000 rows of 10k words a call that matrix is most of the cost. Models without a
network step through `lm.step` (the same numbers).
Not here: the per-token formula (`inference/network.py`, `Network.target_logprobs`, which the
compiled `level` step uses), the combination (`formula.py`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class LMCache:
    """Sentence log-probabilities by hypothesis text: each distinct text is scored once."""

    def __init__(self, lm, rows_per_call: int | None = None):
        self.lm = lm
        self.rows_per_call = rows_per_call
        self.scores: dict[str, float] = {}
        self.tokens_scored = 0  # predicted tokens of the distinct texts scored (</s> included)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """<float64>[len(texts)]: ln p(text </s> | <s>) of each text."""
        missing = list(dict.fromkeys(t for t in texts if t not in self.scores))
        if missing and self.lm.scores_text:  # a mixture: from the texts (`wordlm.mixture`)
            self.tokens_scored += sum(len(self.lm.tokens(t)) + 1 for t in missing)
            self.scores.update(zip(missing, self.lm.text_logprobs(missing).tolist()))
        elif missing:
            streams = [self.lm.stream(t) for t in missing]
            self.tokens_scored += sum(max(0, len(s) - self.lm.framing.first_target) for s in streams)
            for t, v in zip(missing, sentence_logprobs(self.lm, streams, self.rows_per_call)):
                self.scores[t] = float(v)
        return np.array([self.scores[t] for t in texts], dtype=np.float64)


def sentence_logprobs(lm, streams: Sequence[Sequence[int]], rows_per_call: int | None = None) -> np.ndarray:
    """<float64>[streams]: Σ_t ln p(s[t] | s[:t]) over each stream's predicted tokens (trie when exact)."""
    if not streams:
        return np.zeros(0)
    if lm.carries_state(max(len(s) for s in streams) - 1):
        return trie_logprobs(lm, streams, rows_per_call)
    return np.array([float(np.sum(x)) for x in lm.stream_logprobs(streams)], dtype=np.float64)


def trie_token_logprobs(lm, streams: Sequence[Sequence[int]], rows_per_call: int | None = None) -> list[np.ndarray]:
    """`trie_logprobs` per token: for each stream s, <float64>[len(s) - 1] ln p(s[t] | s[:t]), t = 1 … len − 1
    (the edges on its path); what `lm.stream_logprobs` gives, with each distinct prefix read once."""
    return trie_logprobs(lm, streams, rows_per_call, per_token=True)


def trie_logprobs(lm, streams: Sequence[Sequence[int]], rows_per_call: int | None = None, per_token: bool = False):
    """Exact stream log-probabilities of a stateful model, reading each distinct prefix once.

    Trie node = a distinct prefix s[:t] (t ≥ 1) of some stream; its state is the LSTM state after
    reading the prefix, obtained by one step from its parent's state (the first token is read
    from the zero state, exactly as `lm.start`). The edge into node s[:t+1] scores
    ln p(s[t] | s[:t]), read off the parent's next-token distribution; a stream's log-probability
    is the sum of the edges on its path. Level by level (depth = prefix length − 1), only nodes
    with children are stepped, in chunks of `rows_per_call` rows (default: about 10M logits a call,
    1,048 rows for a 10k vocabulary, 0.75x the time of 256 rows on LibriSpeech test_other,
    benchmarks/rerank.md; 4096 for characters).
    """
    if rows_per_call is None:
        rows_per_call = int(min(4096, max(256, 10 * 2**20 // lm.vocab_size)))
    first = lm.framing.first_target
    if first != 1:
        raise ValueError("trie scoring needs framing.first_target == 1")
    # 1. Build the trie: node ids in order of creation; key = (parent + 1) * V + token.
    vocab = lm.vocab_size
    index: dict[int, int] = {}
    parent: list[int] = []
    token: list[int] = []
    depth: list[int] = []
    leaf = np.full(len(streams), -1, dtype=np.int64)
    paths: list[list[int]] = []
    for si, s in enumerate(streams):
        node = -1
        path = []
        paths.append(path)
        for t, tok in enumerate(s):
            key = (node + 1) * vocab + tok
            child = index.get(key)
            if child is None:
                child = index[key] = len(parent)
                parent.append(node)
                token.append(tok)
                depth.append(t)
            node = child
            path.append(node)
        leaf[si] = node
    parent_a = np.array(parent, dtype=np.int64)
    token_a = np.array(token, dtype=np.int32)
    depth_a = np.array(depth, dtype=np.int64)
    n = len(parent)
    has_child = np.zeros(n, dtype=bool)
    has_child[parent_a[parent_a >= 0]] = True
    edge_lp = np.zeros(n, dtype=np.float64)  # ln p(token | parent prefix); 0 for first tokens
    # 2. Walk the levels, carrying states of the previous level's internal nodes.
    level_step = _level_step(lm)
    order = np.argsort(depth_a, kind="stable")
    bounds = np.searchsorted(depth_a[order], np.arange(depth_a.max() + 2 if n else 1))
    row_of = np.full(n, -1, dtype=np.int64)  # row of a node in its level's state array
    prev_state = np.zeros((0, lm.state_size), dtype=np.float32)
    for d in range(len(bounds) - 1):
        level = order[bounds[d] : bounds[d + 1]]
        internal = level[has_child[level]]
        if len(internal) == 0:
            break
        row_of[internal] = np.arange(len(internal))
        if d == 0:
            in_state = np.zeros((len(internal), lm.state_size), dtype=np.float32)
        else:
            in_state = prev_state[row_of[parent_a[internal]]]
        children = order[bounds[d + 1] : bounds[d + 2]] if d + 2 < len(bounds) else order[:0]
        child_rows = row_of[parent_a[children]]
        by_row = np.argsort(child_rows, kind="stable")
        children, child_rows = children[by_row], child_rows[by_row]
        new_state = np.empty_like(in_state)
        for lo in range(0, len(internal), rows_per_call):
            hi = min(lo + rows_per_call, len(internal))
            c_lo, c_hi = np.searchsorted(child_rows, [lo, hi])
            edge_lp[children[c_lo:c_hi]], new_state[lo:hi] = level_step(
                token_a[internal[lo:hi]], in_state[lo:hi], (child_rows[c_lo:c_hi] - lo).astype(np.int32),
                token_a[children[c_lo:c_hi]],
            )
        prev_state = new_state
    if per_token:
        return [edge_lp[p[1:]] if len(p) > 1 else np.zeros(0) for p in paths]
    # 3. Sum the edges from the root down (parents come before children in creation order).
    cum = edge_lp.copy()
    for d in range(1, len(bounds) - 1):
        level = order[bounds[d] : bounds[d + 1]]
        cum[level] += cum[parent_a[level]]
    out = np.zeros(len(streams), dtype=np.float64)
    has = leaf >= 0
    out[has] = cum[leaf[has]]
    return out


def _level_step(lm):
    """(ids[N], states[N, S], rows[P], targets[P]) → (ln p(targets | rows' histories)[P], new states[N, S]).

    A model with a network (any runtime): its `level` function (logits and logsumexp once per row,
    only the targets picked). Any other stateful model (a stub): its own `step` and a numpy gather.
    """
    if lm.has_network:
        fn = lm.compiled["level"]
        return lambda *args: tuple(np.asarray(x) for x in fn(*args))

    def step(ids, state, rows, targets):
        lp, new_state = lm.step(state, ids)
        return lp[rows, targets], new_state

    return step
