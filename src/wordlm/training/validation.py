"""Validation perplexity during training, computed on the scorer's own path.

`perplexity(lm, streams, context_tokens)` is what `wordlm perplexity` reports for the same text
(natural log, `</s>` counted, OOVs as `<unk>`): it sums `lm.stream_logprobs`, the one
sentence-scoring path, which groups the streams so that a group's logits stay within
`inference.streams.MAX_LOGITS`. With `context_tokens` N each line is read after the lines before
it (`running_text.in_context`, as `wordlm perplexity --context-tokens N`).
"""

from __future__ import annotations

import math
from typing import Sequence

from wordlm.running_text import in_context
from wordlm.scoring.sentences import perplexity_of


def perplexity(lm, streams: Sequence[Sequence[int]], context_tokens: int = 0) -> float:
    """exp(-mean ln p) over every predicted token of the streams; NaN when none is predicted."""
    skips = None
    if context_tokens:
        streams, skips = in_context(list(streams), context_tokens)
    scores = lm.stream_logprobs(list(streams), skips=skips)
    count = sum(len(s) for s in scores)
    if not count:
        return float("nan")
    return perplexity_of(math.fsum(float(s.sum()) for s in scores), count)
