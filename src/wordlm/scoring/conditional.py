"""Conditional scores: the next words after a prompt, and continuations scored given a prompt.

A prompt is the beginning of a line (after `<s>` with boundaries); for a backward model it is the
text that follows, in normal order. Stateful models read the prompt once and step every
continuation in one batch (`Rows`, `lm.read_rows`/`lm.extend`); the others batch one row per distinct context. Natural log throughout.
Not here: whole sentences (`sentences.py`), fill in the blank (`fill.py`).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np

from wordlm.errors import InputError
from wordlm.text import one_line
from wordlm.vocab import EOS_ID, PAD_ID, RESERVED

CHUNK = 512  # candidates per batched call in conditional and fill-in scoring


def _prompt_history(lm, prompt: str) -> list[int]:
    history = lm.history(one_line(prompt, "prompt"))
    if not history:
        raise InputError("this model has no boundary markers, so it cannot predict the first word of a line: "
                         "give a prompt of at least one word")
    return history


class NextWord(NamedTuple):
    """A next word and ln p(word | prompt) (natural log); `prob` is its probability."""

    word: str
    logprob: float

    @property
    def prob(self) -> float:
        return math.exp(self.logprob)

    def to_json(self) -> dict:
        return {"word": self.word, "logprob": self.logprob, "prob": self.prob}


def check_top(top, what: str = "top") -> int | None:
    """`top` as given when it is None (everything) or a positive int; else ValueError (TypeError for
    a non-integer) saying what is accepted — before any model work."""
    if top is None:
        return None
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)):
        raise TypeError(f"{what}: expected a positive integer or None (every word), got {type(top).__name__}")
    if top < 1:
        raise ValueError(f"{what} must be at least 1 (or None for every word), got {top}")
    return int(top)


def next_words(lm, prompt: str, top: int | None = None, prefix: str | None = None) -> list[NextWord]:
    """Every token the model can predict after `prompt` (`</s>` and `<unk>` included), most likely
    first, with ln p(token | prompt); the probabilities of the full list sum to 1. `prefix`: only
    vocabulary words that start with it (a keyboard completing the word being typed)."""
    return next_words_batch(lm, [prompt], top, prefix)[0]


def next_words_batch(lm, prompts: Sequence[str], top: int | None = None,
                     prefix: str | None = None) -> list[list[NextWord]]:
    """`next_words` of several prompts, from one batched call of the model."""
    top = check_top(top)
    allowed = prefix_mask(lm, prefix)
    rows = lm.next_logprobs(prompt_histories(lm, prompts)) if prompts else []
    return [rank_next_words(lm, lp, top, allowed) for lp in rows]


def prompt_histories(lm, prompts: Sequence[str]) -> list[list[int]]:
    """What the model reads for each prompt (`<s>` first with boundaries): `lm.next_logprobs`'s input."""
    return [_prompt_history(lm, p) for p in prompts]


def prefix_mask(lm, prefix: str | None) -> np.ndarray | None:
    """<bool>[vocab]: the vocabulary words that start with `prefix` (lower-cased as the tokenizer
    does); None for no prefix. Markers and `<unk>` never match."""
    if prefix is None:
        return None
    if lm.tokenizer.mode == "char":
        raise InputError("a prefix completes a word: a character model predicts one character at a time")
    prefix = prefix.lower() if lm.tokenizer.lower else prefix
    allowed = np.zeros(lm.vocab_size, dtype=bool)
    allowed[[i for i, w in enumerate(lm.vocab.id_to_token) if i >= len(RESERVED) and w.startswith(prefix)]] = True
    return allowed


def rank_next_words(lm, logprobs: np.ndarray, top: int | None = None,
                    allowed: np.ndarray | None = None) -> list[NextWord]:
    """One row of `lm.next_logprobs` (<float>[vocab]) as `NextWord`s, most likely first, ties by
    token id; tokens of probability 0 left out; only `allowed` ones (`prefix_mask`) when given.

    Vectorised: the `top` best are found by a partition, then only they are sorted (exactly the
    order a stable sort of the whole row gives)."""
    lp = np.asarray(logprobs, dtype=np.float64)
    keep = np.isfinite(lp) if allowed is None else np.isfinite(lp) & allowed
    ids = np.flatnonzero(keep)
    values = lp[ids]
    if top is not None and top < len(ids):
        kth = np.partition(values, len(values) - top)[len(values) - top]  # the top-th largest value
        ids, values = ids[values >= kth], values[values >= kth]  # ties with it stay: sorted below
    order = ids[np.argsort(-values, kind="stable")][:top]
    return [NextWord(lm.vocab.id_to_token[i], float(lp[i])) for i in order.tolist()]


def candidate_ids(lm, candidate: str) -> list[int]:
    """A candidate continuation's ids in the model's reading order; a `</s>` token ends the line."""
    tokens = lm.tokens(candidate)
    if not tokens:
        raise InputError(f"empty candidate {candidate!r}: expected one or more words")
    ids = [EOS_ID if t == "</s>" and lm.boundaries else i for t, i in zip(tokens, lm.vocab.encode(tokens))]
    if EOS_ID in ids[:-1]:
        raise InputError(f"candidate {candidate!r}: '</s>' can only be its last token")
    return ids


def continuation_logprobs(lm, prompt: str, candidates: Sequence[str]) -> list[float]:
    """ln p(candidate | prompt) for each candidate continuation (one or more words, natural log).

    The prompt is the beginning of a line (after `<s>` with boundaries); for a backward model it is
    the text that follows, and a candidate is the text just before it, both in normal order. An
    OOV word of a candidate is scored as `<unk>`. All candidates go through the model together.
    """
    per_token = continuations(lm, _prompt_history(lm, prompt), [candidate_ids(lm, c) for c in candidates])
    return [float(x.sum()) for x in per_token]


def continuations(lm, history: Sequence[int], conts: Sequence[Sequence[int]], first: int = 0) -> list[np.ndarray]:
    """For each continuation c, <float64>[len(c)]: ln p(c[j] | history + c[:j]).

    Positions (in history + c) before `first`, and position 0, are context only: NaN. Stateful
    models read the history once and step every continuation in one batch (`CHUNK` rows a call);
    the others batch one row per distinct context (shared contexts are computed once).
    """
    history = list(history)
    longest = max((len(c) for c in conts), default=0)
    if longest and lm.carries_state(len(history) + longest - 1):
        return _continuations_stateful(lm, history, conts, first)
    return _continuations_by_context(lm, history, conts, first)


def _continuations_stateful(lm, history, conts, first):
    """The history read once (`lm.read_rows`), then every continuation of a chunk stepped side by side
    (`lm.extend`, one batched call a token; a finished continuation steps on padding)."""
    out = [np.full(len(c), np.nan) for c in conts]
    h = len(history)
    if h:
        start = lm.read_rows([history])
    for lo in range(0, len(conts), CHUNK):
        chunk = conts[lo : lo + CHUNK]
        width = max(len(c) for c in chunk)
        ids = np.full((len(chunk), width), PAD_ID, dtype=np.int32)
        for r, c in enumerate(chunk):
            ids[r, : len(c)] = c
        every = np.arange(len(chunk))
        if h:
            rows, j0 = start[np.zeros(len(chunk), dtype=np.int64)], 0
        else:  # nothing to predict the first token from: it is context only
            rows, j0 = lm.read_rows([[c[0]] for c in chunk]), 1
        for j in range(j0, width):
            if h + j >= first:
                got = rows.logprobs[every, ids[:, j]]
                for r, c in enumerate(chunk):
                    if j < len(c):
                        out[lo + r][j] = got[r]
            if j + 1 < width:
                rows = lm.extend(rows, every, ids[:, j])
    return out


def _continuations_by_context(lm, history, conts, first):
    out = [np.full(len(c), np.nan) for c in conts]
    rows: dict[tuple, int] = {}  # distinct model input -> row
    reps, wants = [], []  # a history per row; (row, continuation, position, target)
    for ci, c in enumerate(conts):
        for j, target in enumerate(c):
            pos = len(history) + j
            if pos < max(first, 1):
                continue
            hist = history + list(c[:j])
            key = tuple(lm.framing.context(hist))
            if key not in rows:
                rows[key] = len(reps)
                reps.append(hist)
            wants.append((rows[key], ci, j, target))
    wants.sort()
    k = 0
    for lo in range(0, len(reps), CHUNK):
        lp = lm.next_logprobs(reps[lo : lo + CHUNK])
        while k < len(wants) and wants[k][0] < lo + CHUNK:
            row, ci, j, target = wants[k]
            out[ci][j] = lp[row - lo, target]
            k += 1
    return out
