"""Beam search: the `num` best continuations of each prompt, keeping `beam_size` live hypotheses.

Job: the n-best search. All live beams of all prompts go through the model in one batched call
per step. Each step, for each prompt:
  1. every live beam b and allowed token t (masks from `Constraints`) is a candidate scored
     logprob(b) + ln p(t | b) (natural log, the model's own numbers);
  2. candidates are ranked by that score, ties by (beam rank, token id), lower first; only the
     best 2·beam_size are looked at. Each beam first offers its own 2·beam_size best tokens
     (`row_top`); the prompt's best 2·beam_size are among them, since adding a beam's logprob
     keeps the order of its tokens (`merge_candidates`);
  3. a `</s>` candidate ranked within the first beam_size is a finished hypothesis; the first
     beam_size other candidates become the next live beams (so a finished line never costs a slot);
  4. live beams that reach the prompt's word budget finish there, without `</s>`; a beam with
     no allowed token finishes as it is.
Finished hypotheses are ranked by `score` = `length_normalised(logprob, length)`; all live beams of
a step have the same length, so ranking them by logprob is the same as by score.

Early stop (exact, no approximation beyond the beam): a prompt is done when it has `num` finished
hypotheses and the `num`-th best score is at least the best score any live beam could still
reach: logprob(best live) / norm(budget) (log-probabilities only decrease and the normalisers only
grow with length). With `length_norm` none and beam_size 1 this is greedy decoding exactly.
A beam wider than the number of possible continuations never prunes, so it returns the
exhaustive top `num`.

For LSTM models (where carried state is exact) the same search runs as one compiled loop
(`decoding/compiled.py`, `inference/search_loops.py`); here it runs step by step over `state.Stepper` (every framing, every mask).
Non-job: masks, the model, sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wordlm.decoding.compiled import state_applies
from wordlm.decoding.compiled import beam_batch
from wordlm.decoding.constraints import Constraints
from wordlm.decoding.hypothesis import Hypothesis, Prompt, make_hypothesis
from wordlm.decoding.options import DecodeOptions, length_normalised
from wordlm.decoding.state import Stepper
from wordlm.vocab import EOS_ID


@dataclass
class _Beam:
    prompt: int
    ids: list[int]
    logprob: float


@dataclass(frozen=True)
class _Finished:
    score: float
    ids: tuple[int, ...]
    logprob: float
    eos: bool


def row_top(block: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's n best entries of <float>[rows, vocab]: (values, tokens) <[rows, n]>, best first,
    ties by lower token (as `tf.math.top_k`); rows with fewer finite entries are padded with -inf."""
    rows_n, vocab = block.shape
    n = min(n, vocab)
    if n < vocab:  # cut each row to its n best, ties at the cut included, then sort exactly
        part = np.argpartition(-block, n - 1, axis=1)[:, :n]
        cut = np.take_along_axis(block, part, axis=1).min(axis=1)
        rows, tokens = np.nonzero(block >= cut[:, None])
    else:
        rows, tokens = np.nonzero(np.ones_like(block, dtype=bool))
    values = block[rows, tokens]
    order = np.lexsort((tokens, -values, rows))
    rows, tokens, values = rows[order], tokens[order], values[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # position within its row
    keep = rank < n
    out_values = np.full((rows_n, n), -np.inf, dtype=block.dtype)
    out_tokens = np.zeros((rows_n, n), dtype=np.int64)
    out_values[rows[keep], rank[keep]] = values[keep]
    out_tokens[rows[keep], rank[keep]] = tokens[keep]
    return out_values, out_tokens


def merge_candidates(values: np.ndarray, tokens: np.ndarray, cum: np.ndarray, n: int):
    """The n best (row, token, score) of a prompt's beams, best first, score = cum[row] + value
    (float64), ties by (row, token); from each row's best tokens (`row_top`'s layout)."""
    scores = (cum[:, None] + values.astype(np.float64)).ravel()
    rows = np.repeat(np.arange(values.shape[0]), values.shape[1])
    tokens = tokens.ravel()
    finite = np.isfinite(scores)
    rows, tokens, scores = rows[finite], tokens[finite], scores[finite]
    order = np.lexsort((tokens, rows, -scores))[:n]
    return rows[order], tokens[order], scores[order]


class NumpySource:
    """Candidates from `Stepper` log-probabilities masked by `Constraints` (every framing, every mask)."""

    def __init__(self, lm, options: DecodeOptions, histories, n: int, carry_state: bool = True):
        self.stepper = Stepper(lm, histories, carry_state=carry_state)
        self.constraints = Constraints(lm, options)
        self.n = n
        self._top(0)

    def _top(self, words: int) -> None:
        masked = self.constraints.apply(self.stepper.logprobs, self.stepper.histories, words)
        self.values, self.tokens = row_top(masked, self.n)

    def advance(self, parents, ids, words: int) -> None:
        self.stepper.advance(parents, ids)
        self._top(words)


def beam_search(lm, prompts: list[Prompt], options: DecodeOptions, source: str = "auto") -> list[list[Hypothesis]]:
    """The `options.num` best hypotheses per prompt, sorted by score (ties: by token ids).

    `source`: "auto" (the compiled loop for LSTM models where exact, else stepwise), "numpy"
    (stepwise, carried state), or "reread" (stepwise, re-reading histories); all give the same
    hypotheses (a test checks).
    """
    if source == "auto" and state_applies(lm, prompts, options):
        return beam_batch(lm, prompts, options)
    width, num = options.beam_size, options.num
    finished: list[list[_Finished]] = [[] for _ in prompts]

    def norm(logprob: float, length: int) -> float:
        return length_normalised(logprob, length, options.length_norm, options.length_penalty)

    def finish(beam: _Beam, logprob: float, eos: bool) -> None:
        length = len(beam.ids) + eos
        finished[beam.prompt].append(_Finished(norm(logprob, length), tuple(beam.ids), logprob, eos))

    beams = []
    for p, prompt in enumerate(prompts):
        if prompt.max_words > 0:
            beams.append(_Beam(p, [], 0.0))
        else:
            finish(_Beam(p, [], 0.0), 0.0, eos=False)
    if not beams:
        return _results(lm, prompts, finished, num)
    histories = [prompts[b.prompt].history for b in beams]
    cands = NumpySource(lm, options, histories, 2 * width, carry_state=source != "reread")
    words = 0
    while beams:
        next_beams, parents = [], []
        lo = 0
        while lo < len(beams):  # the beams of one prompt are contiguous, best first
            p = beams[lo].prompt
            hi = lo
            while hi < len(beams) and beams[hi].prompt == p:
                hi += 1
            survivors = _step_prompt(beams, lo, hi, cands, width, finish)
            budget = prompts[p].max_words
            alive = []
            for row, token, logprob in survivors:
                beam = _Beam(p, beams[row].ids + [token], logprob)
                if len(beam.ids) >= budget:
                    finish(beam, logprob, eos=False)
                else:
                    alive.append((row, beam))
            if alive and len(finished[p]) >= num:
                kth = sorted((f.score for f in finished[p]), reverse=True)[num - 1]
                if kth >= norm(alive[0][1].logprob, budget):
                    alive = []  # nothing a live beam can still reach beats the num-th best
            for row, beam in alive:
                parents.append(row)
                next_beams.append(beam)
            lo = hi
        beams = next_beams
        words += 1
        if beams:
            cands.advance(parents, [b.ids[-1] for b in beams], words)
    return _results(lm, prompts, finished, num)


def _results(lm, prompts, finished, num):
    results = []
    for p, prompt in enumerate(prompts):
        best = sorted(finished[p], key=lambda f: (-f.score, f.ids))[:num]
        results.append([make_hypothesis(lm, prompt, list(f.ids), f.logprob, f.score, f.eos) for f in best])
    return results


def _step_prompt(beams, lo, hi, cands, width, finish):
    """One prompt's step over its live beams lo..hi-1: record finished lines (via `finish`) and
    return the next live beams as (parent row, token, logprob), best first."""
    values, tokens = cands.values[lo:hi], cands.tokens[lo:hi]
    for r in np.flatnonzero(~np.isfinite(values[:, 0])):  # nothing allowed: ends as it is
        finish(beams[lo + r], beams[lo + r].logprob, eos=False)
    cum = np.array([beams[r].logprob for r in range(lo, hi)])
    rows, tokens, scores = merge_candidates(values, tokens, cum, 2 * width)
    survivors = []
    for rank, (r, token, score) in enumerate(zip(rows.tolist(), tokens.tolist(), scores.tolist())):
        if token == EOS_ID:
            if rank < width:
                finish(beams[lo + r], score, eos=True)
            continue
        survivors.append((lo + r, token, score))
        if len(survivors) == width:
            break
    return survivors
