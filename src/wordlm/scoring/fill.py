"""Fill in the blank: every vocabulary word for the `___` of a sentence, ranked by the filled sentence.

Not here: the conditional scores it is built on (`conditional.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from wordlm.errors import InputError
from wordlm.text import one_line
from wordlm.scoring.conditional import check_top, continuations
from wordlm.vocab import BOS_ID, EOS_ID, RESERVED

BLANK = "___"


@dataclass
class Filled:
    """A word for the blank: the filled sentence's log-probability (`</s>` included) and the word's
    probability given the rest of the sentence, p(w | rest) = p(sentence_w) / Σ_v p(sentence_v)."""

    word: str
    text: str
    logprob: float
    prob: float
    forward: float | None = None  # with a backward model: each model's own ln p(sentence)
    backward: float | None = None

    def to_json(self) -> dict:
        out = {"word": self.word, "text": self.text, "logprob": self.logprob, "prob": self.prob}
        if self.backward is not None:
            out.update(forward=self.forward, backward=self.backward)
        return out


def fill(lm, text: str, top: int | None = 10, backward=None) -> list[Filled]:
    """Rank every vocabulary word for the one `___` in `text` by the filled sentence's log-probability.

    The sentence is scored as `score_sentences` would (`<s>`, `</s>`, OOV context words as `<unk>`);
    `<unk>` and the markers are not candidates. With a `backward` model (trained with `--reverse`,
    same tokenizer) a word's `logprob` is the mean of the two models' ln p(sentence) — two estimates
    of the same quantity — and only words in both vocabularies are candidates.
    """
    top = check_top(top)
    text = one_line(text, "text")
    if text.count(BLANK) != 1:
        raise InputError(f"expected exactly one {BLANK} (the blank to fill) in {text!r}, found {text.count(BLANK)}")
    if backward is not None:
        if not backward.reverse or lm.reverse:
            raise InputError("the backward model must be trained with --reverse and the main model without it")
        if backward.tokenizer != lm.tokenizer:
            raise InputError(f"the backward model's tokenizer ({backward.tokenizer}) differs from the model's "
                             f"({lm.tokenizer}): train both with the same --tokenizer")
    left, right = text.split(BLANK)
    words = [w for w in lm.vocab.id_to_token[len(RESERVED):] if backward is None or w in backward.vocab]
    if not words:
        raise InputError("no candidate words: the two models' vocabularies have no word in common")
    score = fwd = fill_logprobs(lm, left, right, words)
    bwd = None
    if backward is not None:
        bwd = fill_logprobs(backward, left, right, words)
        score = (fwd + bwd) / 2
    prob = np.exp(score - np.logaddexp.reduce(score))
    order = np.argsort(-score, kind="stable")[:top]
    return [Filled(word=words[i], text=f"{left}{words[i]}{right}", logprob=float(score[i]),
                   prob=float(prob[i]), forward=float(fwd[i]) if bwd is not None else None,
                   backward=float(bwd[i]) if bwd is not None else None) for i in order]


def fill_logprobs(lm, left: str, right: str, words: Sequence[str]) -> np.ndarray:
    """<float64>[len(words)]: ln p(left + word + right) for each word (`<s>`, `</s>` as in scoring).

    The part before the blank is read once; each word and the whole part after it go through the
    model for all words together (stateful models: one batched step per token, `CHUNK` words a call).
    """
    if lm.scores_text:  # a mixture: the filled sentences scored whole, one batch per component
        return lm.fill_texts([f"{left} {w} {right}" for w in words])
    before, after = lm.tokenizer.tokenize(left), lm.tokenizer.tokenize(right)
    if lm.reverse:  # a backward model reads the line right to left
        before, after = after[::-1], before[::-1]
    before_ids, after_ids = lm.vocab.encode(before), lm.vocab.encode(after)
    history = [BOS_ID, *before_ids] if lm.boundaries else before_ids
    tail = [*after_ids, EOS_ID] if lm.boundaries else after_ids
    first = lm.framing.first_target
    known = float(lm.stream_logprobs([history])[0].sum()) if len(history) > first else 0.0
    ids = lm.vocab.encode(words)
    per_token = continuations(lm, history, [[w, *tail] for w in ids], first)
    return known + np.array([np.nansum(x) for x in per_token])
