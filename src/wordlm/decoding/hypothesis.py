"""Prompts in, hypotheses out: the text side of decoding.

Job: turn prompt strings into the histories a model reads (`<s>` first with boundaries, `<unk>`
for unknown words, with a `UnknownWordWarning`), give each prompt its word budget, and turn
generated ids back into a `Hypothesis` (text, continuation, logprob, score). Non-job: searching.

A prompt is the beginning of a line; for a `--reverse` model it is the text that *follows* the
words to generate, written in normal order, and the continuation is shown before it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from wordlm.errors import InputError
from wordlm.framings import LineFraming
from wordlm.text import one_line
from wordlm.vocab import UNK


class UnknownWordWarning(UserWarning):
    """A prompt word is not in the vocabulary and is read as `<unk>`."""


@dataclass
class Hypothesis:
    """One generated continuation of a prompt.

    `logprob`: the model's natural-log probability of the continuation given the prompt, summed
    over the generated tokens, `</s>` included when generated (`eos`); it equals the scorer's
    (`lm.stream_logprobs`) terms for those positions. `score`: what the search ranked by (the
    length-normalised logprob, see `options.length_normalised`). `tokens`: the generated tokens in
    reading order, without `</s>`.
    """

    text: str
    continuation: str
    logprob: float
    score: float
    tokens: list[str] = field(default_factory=list)
    eos: bool = False

    def to_json(self) -> dict:
        return {"text": self.text, "continuation": self.continuation, "logprob": self.logprob, "score": self.score}


@dataclass
class Prompt:
    """A prompt as the model reads it."""

    text: str
    tokens: list[str]  # as written (tokenized), in normal order
    history: list[int]  # what the model reads: `<s>` + ids (reading order), or ids without boundaries
    max_words: int  # this prompt's word budget
    name: str = ""


def prepare_prompts(lm, texts, max_words: int, names=None) -> list[Prompt]:
    """Tokenize and encode prompts; warn (`UnknownWordWarning`) about words read as `<unk>`.

    `names` label prompts in messages (e.g. `prompts.txt:3`); default `prompt 1`, `prompt 2`, ...
    Raises `InputError` for an empty prompt to a model without boundaries (nothing to read).
    """
    prompts = []
    for i, text in enumerate(texts):
        name = names[i] if names is not None else f"prompt {i + 1}"
        text = one_line(text, name)
        tokens = lm.tokenizer.tokenize(text)
        history = lm.history(text)
        if not history:
            raise InputError(f"{name}: empty prompt: a model without boundaries needs at least one word to start from")
        unknown = [t for t in tokens if lm.vocab.is_oov(t) and t != UNK]
        if unknown:
            words = ", ".join(repr(t) for t in dict.fromkeys(unknown))
            warnings.warn(UnknownWordWarning(f"{name}: not in the vocabulary, read as <unk>: {words}"), stacklevel=3)
        budget = max_words
        if isinstance(lm.framing, LineFraming) and not lm.boundaries:
            # No `</s>`: the line ends at the longest training line (the model never saw longer).
            budget = max(0, min(budget, lm.framing.max_length - len(history)))
        prompts.append(Prompt(text, tokens, history, budget, name))
    return prompts


def make_hypothesis(lm, prompt: Prompt, ids, logprob: float, score: float, eos: bool) -> Hypothesis:
    """The hypothesis for generated ids (reading order, `</s>` excluded)."""
    tokens = lm.vocab.decode(ids)
    shown = tokens[::-1] if lm.reverse else tokens
    whole = shown + prompt.tokens if lm.reverse else prompt.tokens + shown
    detok = lm.tokenizer.detokenize
    return Hypothesis(detok(whole), detok(shown), float(logprob), float(score), tokens, eos)
