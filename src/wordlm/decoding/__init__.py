"""Decoding (placeholder until the decoder lands): greedy continuation of a prompt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wordlm.vocab import EOS_ID


@dataclass
class Hypothesis:
    text: str
    continuation: str
    logprob: float
    score: float


def generate(lm, prompt: str, strategy: str = "greedy", max_words: int = 20) -> list[Hypothesis]:
    history = lm.history(prompt)
    words, total = [], 0.0
    for _ in range(max_words):
        lp = lm.next_logprobs([history])[0]
        i = int(np.argmax(lp))
        total += float(lp[i])
        if i == EOS_ID:
            break
        history.append(i)
        words.append(lm.vocab.id_to_token[i])
    cont = lm.tokenizer.detokenize(words)
    text = lm.tokenizer.detokenize(lm.tokenizer.tokenize(prompt) + words)
    return [Hypothesis(text, cont, total, total)]
