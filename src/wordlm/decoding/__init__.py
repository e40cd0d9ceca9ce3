"""Decoding: continue prompts with a language model, greedily, by sampling, or by beam search.

    generate(lm, "jack", strategy="beam", beam_size=8, num=3)  -> [Hypothesis, ...]
    generate_batch(lm, ["jack", "jill"], strategy="sample", num=5, seed=0) -> [[...], [...]]

Every strategy works on one primitive, the model's next-token log-probabilities for a batch of
histories (`state.Stepper`: carried LSTM state for `sequence`, `char` and `line` models, batched
re-reading for the others), so the decoders can be tested on a hand-made stub (`tests/stubs.py`);
for LSTM models, compiled paths compute the same numbers with fewer TensorFlow calls.

Conventions: natural log; `<s>` is context only, never generated nor scored; `</s>` is generated
and counted in `logprob` when a hypothesis ends with it (`eos`). A hypothesis's `logprob` is the
model's log-probability of its continuation given the prompt, exactly the scorer's
(`lm.stream_logprobs`) terms for those positions; `score` is what the search ranked by (see
`options.length_normalised`). Ties are broken by token id everywhere, so greedy ≡ beam size 1
(with length_norm none) ≡ top-k 1 ≡ temperature 0. Several prompts decode side by side in one
batched model call per step, with the same results as one by one (sampling too: each prompt draws
from its own generator seeded with `seed`).

Modules: `options` (the knobs, length normalisation), `hypothesis` (prompts in, results out),
`state` (the model as a stepper), `constraints` (what may be generated), `sampling` (how a token
is picked), `search` (greedy and sampling loop), `beam` (beam search), `compiled` (TensorFlow
fast paths for LSTM models: prompt reading, the whole greedy search, the beam step; each checked
equal to the stepwise numpy path).
Not here: the top-n next words of `wordlm next` (the scorer's), the command line (`cli/decode_cmds.py`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from wordlm.decoding.beam import beam_search
from wordlm.decoding.hypothesis import Hypothesis, UnknownWordWarning, prepare_prompts
from wordlm.decoding.options import LENGTH_NORMS, MAX_ROWS, STRATEGIES, DecodeOptions, length_normalised
from wordlm.decoding.search import decode_rows

__all__ = [
    "DecodeOptions", "Hypothesis", "UnknownWordWarning", "generate", "generate_batch", "length_normalised",
    "LENGTH_NORMS", "STRATEGIES",
]


def _options(options: DecodeOptions | None, overrides: dict) -> DecodeOptions:
    options = DecodeOptions() if options is None else options
    return (replace(options, **overrides) if overrides else options).validate()


def generate(lm, prompt: str, options: DecodeOptions | None = None, **overrides) -> list[Hypothesis]:
    """Continuations of one prompt (keyword arguments override `options`, see `DecodeOptions`).

    Greedy: one hypothesis. Sampling: `num` samples in the order drawn. Beam: the `num` best,
    sorted by score (ties by token ids), all distinct.
    """
    return generate_batch(lm, [prompt], options, **overrides)[0]


def generate_batch(lm, prompts: Sequence[str], options: DecodeOptions | None = None, names: Sequence[str] | None = None,
                   **overrides) -> list[list[Hypothesis]]:
    """`generate` for several prompts at once: one list of hypotheses per prompt, the same as one
    by one, with all rows of all prompts in one model call per step. `names` label prompts in
    warnings and errors (e.g. `prompts.txt:3`)."""
    options = _options(options, overrides)
    ready = prepare_prompts(lm, list(prompts), options.max_words, names)
    search = beam_search if options.strategy == "beam" else decode_rows
    step = max(1, MAX_ROWS // max(options.num, options.beam_size if options.strategy == "beam" else 1))
    return [hyps for lo in range(0, len(ready), step) for hyps in search(lm, ready[lo : lo + step], options)]
