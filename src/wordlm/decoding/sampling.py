"""How one token is picked per row: greedy, or a draw from a shaped distribution.

Job: the small "pick" functions the row loop (`search.py`) calls once per step on masked
log-probabilities `<float>[rows, vocab]` (natural log; -inf = not allowed):

- `greedy_pick`: the most likely token; ties go to the lower id.
- `shape(logprobs, temperature, top_k, top_p)`: the distribution a sampler draws from, as
  probabilities `<float64>[rows, vocab]` summing to 1 per row: log-probs divided by the
  temperature, then only the `top_k` most likely tokens kept (ties: lower id first), then only the
  nucleus (the smallest set of most likely tokens whose probability reaches `top_p`; the most
  likely token is always kept), renormalised.
- `draw(probs, uniforms)`: inverse-CDF sampling with one uniform number per row, so the caller
  decides where randomness comes from (one numpy Generator per prompt, from the seed).

A row with no allowed token gets -1. Non-job: the loop, the masks, the model.
"""

from __future__ import annotations

import numpy as np

# Tolerance when the nucleus mass is compared with top_p (probabilities come from float32).
_NUCLEUS_EPS = 1e-6


def greedy_pick(logprobs: np.ndarray) -> np.ndarray:
    """<int64>[rows]: argmax per row (first, i.e. lowest id, among ties); -1 where nothing is allowed."""
    ids = np.argmax(logprobs, axis=1)
    dead = ~np.isfinite(logprobs[np.arange(len(ids)), ids])
    ids[dead] = -1
    return ids


def shape(logprobs: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
          top_p: float | None = None) -> np.ndarray:
    """<float64>[rows, vocab] sampling probabilities (see the module docstring); temperature > 0."""
    logprobs = logprobs.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = logprobs / temperature
        top = np.max(scaled, axis=1, keepdims=True)
        # A tiny temperature (1e-310) overflows the division itself: those rows are divided after
        # subtracting their maximum (the same distribution; the most likely token keeps 0, not -inf).
        best = np.max(logprobs, axis=1, keepdims=True)
        over = (~np.isfinite(top) & np.isfinite(best))[:, 0]
        if over.any():
            scaled[over] = (logprobs[over] - best[over]) / temperature
            top[over] = 0.0
    top[~np.isfinite(top)] = 0.0
    probs = np.exp(scaled - top)  # -inf -> 0
    vocab = probs.shape[1]
    if (top_k is not None and top_k < vocab) or (top_p is not None and top_p < 1):
        order = np.argsort(-scaled, axis=1, kind="stable")  # most likely first, ties by lower id
        rows = np.arange(len(probs))[:, None]
        ranked = probs[rows, order]
        keep = np.ones_like(ranked, dtype=bool)
        if top_k is not None and top_k < vocab:
            keep[:, top_k:] = False
            ranked = np.where(keep, ranked, 0.0)
        if top_p is not None and top_p < 1:
            total = ranked.sum(axis=1, keepdims=True)
            before = (np.cumsum(ranked, axis=1) - ranked) / np.where(total > 0, total, 1.0)
            keep &= before < top_p - _NUCLEUS_EPS
            keep[:, 0] = True
        probs = np.zeros_like(probs)
        probs[rows, order] = np.where(keep, ranked, 0.0)
    total = probs.sum(axis=1, keepdims=True)
    return probs / np.where(total > 0, total, 1.0)


def draw(probs: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """<int64>[rows]: token j with probability probs[r, j], using uniforms[r] in [0, 1); -1 for an all-zero row."""
    cdf = np.cumsum(probs, axis=1)
    ids = np.sum(cdf <= uniforms[:, None] * cdf[:, -1:], axis=1)
    # Never land on a zero-probability token through rounding at the top end.
    last = probs.shape[1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
    ids = np.minimum(ids, last)
    ids[cdf[:, -1] <= 0] = -1
    return ids
