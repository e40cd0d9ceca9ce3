"""Mixture weights by EM on held-out text, as SRILM's `compute-best-mix`.

Each component's per-token probabilities p_ti on the held-out text are computed once (the
mixture's rule applied: 0 for a word of the vocabulary a component does not know); then, from
uniform weights (or the given ones), each iteration sets

    λ_i ← (1 / T) Σ_t λ_i p_ti / Σ_j λ_j p_tj          (the posterior of component i, averaged)

which never lowers the held-out likelihood; the log-likelihood is concave in λ, so the fixed point
is the global optimum (a test: no point of a weight grid beats it). Stops when the perplexity
changes by less than `tolerance` (relative) or after `max_iterations`. Tokens are those the
perplexity counts (`</s>` included; OOVs as `<unk>`, or left out with `oov="skip"`); a token that
no component can predict is left out (it is -inf whatever the weights).
Not here: the interpolation itself (`model.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from wordlm.errors import InputError


@dataclass
class EMResult:
    weights: list[float]
    perplexities: list[float]  # held-out perplexity before the first iteration, then after each
    tokens: int
    iterations: int

    def to_json(self) -> dict:
        return {"weights": self.weights, "ppl": self.perplexities[-1], "iterations": self.iterations,
                "tokens": self.tokens, "ppl_by_iteration": self.perplexities}


def heldout_logprobs(mixture, lines, bos=True, eos=True, oov="unk", batch: int = 1024,
                     context_tokens: int = 0) -> np.ndarray:
    """<float64>[tokens, components]: ln p_i of every counted held-out token (the mixture's rule applied).

    `context_tokens` > 0: running text, as `perplexity --context-tokens` reads it (recurrent word
    components read each line after the previous ones; the others each line alone)."""
    from wordlm.running_text import RunningContext
    from wordlm.vocab import BOS, BOS_ID

    columns = [[] for _ in mixture.components]
    running = RunningContext(context_tokens) if context_tokens else None
    for lo in range(0, len(lines), batch):
        part = [mixture.tokens(t) for t in lines[lo : lo + batch]]
        contexts = None
        if running is not None:
            contexts = [[BOS if i == BOS_ID else mixture.vocab.id_to_token[i] for i in running.before(mixture.vocab.encode(w))]
                        for w in part]
        per_component, _ = mixture.component_token_logprobs(part, bos, eos, contexts)
        for k, words in enumerate(part):
            keep = ~np.isnan(per_component[0][k])
            if oov == "skip":
                keep[: len(words)] &= ~np.array([mixture.is_oov(w) for w in words], dtype=bool)
            for i, pc in enumerate(per_component):
                columns[i].append(pc[k][keep])
    return np.stack([np.concatenate(c) if c else np.zeros(0) for c in columns], axis=1)


def em_weights(logprobs: np.ndarray, start=None, max_iterations: int = 100, tolerance: float = 1e-6,
               report: Callable[[int, float, list[float]], None] | None = None) -> EMResult:
    """EM on <float64>[tokens, components] log-probabilities; `report(iteration, ppl, weights)`."""
    lp = np.asarray(logprobs, dtype=np.float64)
    lp = lp[np.isfinite(lp).any(axis=1)]
    if lp.shape[0] == 0:
        raise InputError("no held-out tokens to tune the weights on")
    k = lp.shape[1]
    w = np.full(k, 1.0 / k) if start is None else np.asarray(start, dtype=np.float64)

    def perplexity(w):
        with np.errstate(divide="ignore"):
            mixed = np.logaddexp.reduce(lp + np.log(w), axis=1)
        return math.exp(-float(mixed.mean())), mixed

    ppl, mixed = perplexity(w)
    history = [ppl]
    if report:
        report(0, ppl, w.tolist())
    iterations = 0
    for iterations in range(1, max_iterations + 1):
        with np.errstate(divide="ignore", invalid="ignore"):
            posterior = np.exp(lp + np.log(w) - mixed[:, None])
        w = np.nan_to_num(posterior).mean(axis=0)
        w = w / w.sum()
        new_ppl, mixed = perplexity(w)
        history.append(new_ppl)
        if report:
            report(iterations, new_ppl, w.tolist())
        if abs(ppl - new_ppl) <= tolerance * ppl:
            break
        ppl = new_ppl
    return EMResult([float(x) for x in w], history, int(lp.shape[0]), iterations)
