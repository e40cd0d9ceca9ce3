"""Stub language models for tests: hand-made distributions you can compute by hand.

`TableLM` is a `LanguageModel` whose next-token log-probabilities come from a Python function of
the history instead of a network, so scorers and decoders can be checked against exact numbers.
It uses the real Tokenizer, Vocabulary and Framing (sequence framing: the whole history counts).
"""

from __future__ import annotations

import numpy as np

from wordlm.framings import SequenceFraming
from wordlm.lm import LanguageModel
from wordlm.model import ModelSize
from wordlm.text import Tokenizer
from wordlm.vocab import Vocabulary


class TableLM(LanguageModel):
    """next_logprobs(history) = log of `table(history_tokens)`, a dict {token: prob} (normalised here).

    Tokens missing from the dict get probability 0 (-inf); never-predicted ids always get -inf.
    With `table=None` the distribution is uniform over every predictable token.
    """

    def __init__(self, words, table=None, boundaries=True):
        super().__init__(Tokenizer("whitespace", True), Vocabulary(words), SequenceFraming(boundaries),
                         ModelSize(4, 4, 1, 0.0), keras_model=None)
        self.table = table
        self.calls = 0

    @property
    def stateful(self):
        return False

    @property
    def predictable(self):
        never = set(self.never_predicted())
        return [i for i in range(self.vocab_size) if i not in never]

    def next_logprobs(self, histories, batch_size=256):
        self.calls += 1
        out = np.full((len(histories), self.vocab_size), -np.inf, dtype=np.float32)
        for r, h in enumerate(histories):
            if self.table is None:
                out[r, self.predictable] = -np.log(len(self.predictable))
                continue
            dist = self.table(self.vocab.decode(h))
            total = sum(dist.values())
            for token, p in dist.items():
                if p > 0:
                    out[r, self.vocab.token_to_id[token]] = np.log(p / total)
        return out

    def stream_logprobs(self, streams, batch_size=64, skips=None):
        skips = [self.framing.first_target - 1] * len(streams) if skips is None else skips
        res = []
        for s, skip in zip(streams, skips):
            positions = range(skip + 1, len(s))
            if not positions:
                res.append(np.zeros(0))
                continue
            lp = self.next_logprobs([s[:t] for t in positions])
            res.append(np.array([lp[k, s[t]] for k, t in enumerate(positions)], dtype=np.float64))
        return res


from helpers import tiny_model  # noqa: E402,F401  (the trained tiny models live with the shared helpers)
