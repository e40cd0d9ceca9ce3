"""What a decoding step may generate: -inf masks over next-token log-probabilities.

Job: one place that decides, for every search alike, which tokens are allowed next:
- never: `<pad>` and `<s>` (context only), `</s>` for a model without boundaries (the model gives
  them probability 0 anyway), `<unk>` unless `allow_unk`, and the `forbid` words;
- `</s>` not before `min_words` words;
- with `no_repeat_ngram` n: no token that would complete an n-gram already present in the row's
  history (prompt and `<s>` included; n = 1 forbids every token already seen).

Masking changes what a search may pick, never the numbers it reports: a hypothesis's `logprob`
is always the model's own (unmasked, untempered) log-probability. Non-job: picking tokens.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from wordlm.decoding.hypothesis import UnknownWordWarning
from wordlm.decoding.options import DecodeOptions
from wordlm.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def forbidden_ids(lm, words: Sequence[str], allow_unk: bool = False) -> list[int]:
    """Ids that are never generated. `words` are tokenized as the model tokenizes text; a word
    not in the vocabulary is ignored with an `UnknownWordWarning` (it could only appear as `<unk>`)."""
    ids = {PAD_ID, BOS_ID, *lm.never_predicted()}
    if not allow_unk:
        ids.add(UNK_ID)
    for word in words:
        for token in lm.tokenizer.tokenize(word) or [word]:
            i = lm.vocab.token_to_id.get(token)
            if i is None:
                warnings.warn(UnknownWordWarning(f"--forbid: {token!r} is not in the vocabulary (ignored)"),
                              stacklevel=3)
            else:
                ids.add(i)
    return sorted(ids)


def repeated_ngram_tokens(history: Sequence[int], n: int) -> set[int]:
    """Tokens t such that history + [t] ends with an n-gram that already occurs in history."""
    if n <= 1:
        return set(history) if n == 1 else set()
    if len(history) < n - 1:
        return set()
    suffix = tuple(history[len(history) - n + 1 :])
    return {history[j + n - 1] for j in range(len(history) - n + 1) if tuple(history[j : j + n - 1]) == suffix}


class Constraints:
    """Masks for one decoding run (built once: the static mask is a vector over the vocabulary)."""

    def __init__(self, lm, options: DecodeOptions):
        self.static = np.zeros(lm.vocab_size, dtype=np.float32)
        self.static[forbidden_ids(lm, options.forbid, options.allow_unk)] = -np.inf
        self.min_words = options.min_words if lm.boundaries else 0
        self.no_repeat = options.no_repeat_ngram

    def apply(self, logprobs: np.ndarray, histories: Sequence[Sequence[int]], words: int) -> np.ndarray:
        """A masked copy of `<float32>[rows, vocab]` log-probs for rows that have generated `words` words."""
        out = logprobs + self.static
        if words < self.min_words:
            out[:, EOS_ID] = -np.inf
        if self.no_repeat:
            for r, h in enumerate(histories):
                banned = repeated_ngram_tokens(h, self.no_repeat)
                if banned:
                    out[r, list(banned)] = -np.inf
        return out
