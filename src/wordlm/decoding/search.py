"""The row loop shared by greedy decoding and sampling: one token per row per step.

Job: for every prompt, `num` rows (independent continuations) are decoded side by side, all rows of
all prompts through one batched model call per step (`Stepper`). Each step:
  1. mask the log-probabilities (`Constraints`: forbidden words, `min_words`, `no_repeat_ngram`);
  2. `pick` one token per row (greedy: argmax; sample: a draw from the shaped distribution);
  3. add the model's own log-probability of that token to the row's `logprob`;
  4. rows that picked `</s>`, had nothing left to pick, or used up their word budget are finished
     and leave the batch; the others are extended by their token.

Greedy decoding of an LSTM model skips this loop: `compiled.greedy_batch` runs the same search as
one compiled `tf.while_loop` (a test checks both give the same hypotheses).

Randomness: prompt i draws from its own `numpy.random.default_rng(seed)`, one uniform per live row
per step, in row order; so a prompt's samples do not depend on which other prompts share the batch,
and the same seed gives the same samples. Non-job: beam search (`beam.py`), masks, shaping.
"""

from __future__ import annotations

import numpy as np

from wordlm.decoding.compiled import greedy_applies, greedy_batch
from wordlm.decoding.constraints import Constraints
from wordlm.decoding.hypothesis import Hypothesis, Prompt, make_hypothesis
from wordlm.decoding.options import DecodeOptions, length_normalised
from wordlm.decoding.sampling import draw, greedy_pick, shape
from wordlm.decoding.state import Stepper
from wordlm.vocab import EOS_ID


def make_picker(options: DecodeOptions, num_prompts: int):
    """`pick(masked_logprobs, prompt_of_row) -> ids` for the strategy (greedy, or sampling)."""
    if options.strategy == "greedy" or options.temperature == 0:
        return lambda logprobs, owners: greedy_pick(logprobs)
    rngs = [np.random.default_rng(options.seed) for _ in range(num_prompts)]

    def pick(logprobs, owners):
        uniforms = np.array([rngs[p].random() for p in owners])
        return draw(shape(logprobs, options.temperature, options.top_k, options.top_p), uniforms)

    return pick


def decode_rows(lm, prompts: list[Prompt], options: DecodeOptions, compiled: bool = True) -> list[list[Hypothesis]]:
    """Greedy or sampled continuations: `options.num` per prompt, in the order drawn.

    Greedy decoding of an LSTM model runs as one compiled loop (`compiled.greedy_batch`, the same
    result) unless `compiled` is False or the loop does not apply.
    """
    if compiled and greedy_applies(lm, prompts, options):
        return greedy_batch(lm, prompts, options)
    num = options.num
    owner = [p for p in range(len(prompts)) for _ in range(num)]  # row -> prompt
    generated: list[list[int]] = [[] for _ in owner]
    logprob = np.zeros(len(owner))
    results: list[Hypothesis | None] = [None] * len(owner)
    pick = make_picker(options, len(prompts))
    constraints = Constraints(lm, options)

    def finish(row: int, eos: bool) -> None:
        length = len(generated[row]) + eos
        score = length_normalised(logprob[row], length, options.length_norm, options.length_penalty)
        results[row] = make_hypothesis(lm, prompts[owner[row]], generated[row], logprob[row], score, eos)

    def has_budget(row: int) -> bool:
        return len(generated[row]) < prompts[owner[row]].max_words

    for r in range(len(owner)):
        if not has_budget(r):  # a zero budget: nothing to generate
            finish(r, eos=False)
    live = [r for r in range(len(owner)) if has_budget(r)]  # batch position -> row
    stepper = Stepper(lm, [prompts[owner[r]].history for r in live])
    words = 0
    while live:
        raw = stepper.logprobs
        ids = pick(constraints.apply(raw, stepper.histories, words), [owner[r] for r in live])
        parents, next_ids, next_live = [], [], []
        for k, (r, i) in enumerate(zip(live, ids.tolist())):
            if i < 0:  # nothing allowed: the row ends as it is
                finish(r, eos=False)
                continue
            logprob[r] += float(raw[k, i])
            if i == EOS_ID:
                finish(r, eos=True)
                continue
            generated[r].append(i)
            if not has_budget(r):  # budget spent: ends without `</s>`, no need to read the token
                finish(r, eos=False)
                continue
            parents.append(k)
            next_ids.append(i)
            next_live.append(r)
        live = next_live
        words += 1
        if live:
            stepper.advance(parents, next_ids)
    return [results[p * num : (p + 1) * num] for p in range(len(prompts))]
