"""Framings: what "context" means. The only place that decides it, for training and inference.

A framing turns encoded lines (lists of vocabulary ids) into training examples, and turns a
*history* (the ids read so far, `<s>` first when the model has boundaries) into the model input
that predicts the next token. Scoring and decoding ask the framing; they never re-implement it.

| name       | context for token t                                  | tutorial            |
|------------|------------------------------------------------------|---------------------|
| `word`     | the previous token                                   | Model 1             |
| `window`   | the previous n tokens, left-padded with `<pad>`      | Model 3 (n = 2)     |
| `line`     | all previous tokens of the line, left-padded to the longest line (truncated on the left beyond it) | Model 2 |
| `sequence` | all previous tokens of the line; trained on every position at once (teacher forcing) | "whole rhyme" extension |
| `char`     | as `sequence`, over characters                       | "character models"  |

With boundaries (the default) each line is `<s> w1 … wn </s>` and examples never cross lines.
Without boundaries the tutorial's data preparation is reproduced exactly: `word` and `window` read
the whole text as one stream (pairs and windows cross line ends); `line`, `sequence` and `char`
work per line, and the first token of a line is context only.

Not here: tokenizing (`text.py`), ids (`vocab.py`), the network (`model.py`).
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np

from wordlm.errors import InputError
from wordlm.vocab import BOS_ID, EOS_ID, PAD_ID

NAMES = ("word", "window", "line", "sequence", "char")


class Framing:
    """Base class. `recurrent` framings predict every position of a line in one pass."""

    name: str = ""
    recurrent: bool = False

    def __init__(self, boundaries: bool = True):
        self.boundaries = boundaries

    # -- lines ------------------------------------------------------------------------------
    def line(self, ids: Sequence[int]) -> list[int]:
        """A line's ids with its boundary markers (`<s> … </s>`) when the model has them."""
        return [BOS_ID, *ids, EOS_ID] if self.boundaries else list(ids)

    def streams(self, lines: Iterable[Sequence[int]]) -> Iterator[list[int]]:
        """The token streams examples are cut from: one per line (one for all, see `word`)."""
        for ids in lines:
            yield self.line(ids)

    # -- training ---------------------------------------------------------------------------
    def examples(self, lines: Iterable[Sequence[int]]) -> Iterator[tuple[list[int], int]]:
        """Yield `(context, next_id)` training pairs, context as the framing's fixed-length input."""
        for stream in self.streams(lines):
            for t in range(self.first_target, len(stream)):
                yield self.context(stream[:t]), stream[t]

    @property
    def first_target(self) -> int:
        """Index of the first predicted token of a stream (earlier ones are context only)."""
        return 1

    def count_examples(self, lines: Iterable[Sequence[int]]) -> tuple[int, int]:
        """(training examples, predicted tokens) over the given lines, without building them."""
        n = sum(max(0, len(s) - self.first_target) for s in self.streams(lines))
        return n, n

    # -- inference --------------------------------------------------------------------------
    @property
    def input_length(self) -> int | None:
        """Fixed input length of the model, or None when it reads variable-length sequences."""
        raise NotImplementedError

    def context(self, history: Sequence[int]) -> list[int]:
        """The model input (a list of `input_length` ids) predicting the token after `history`."""
        raise NotImplementedError

    def contexts(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """<int32>[batch, input_length]: the inputs for a batch of histories."""
        out = np.zeros((len(histories), self.input_length), dtype=np.int32)
        for i, h in enumerate(histories):
            if len(h) == 0:
                raise InputError("empty history: there is nothing to predict from")
            out[i] = self.context(h)
        return out

    def to_config(self) -> dict:
        return {"name": self.name, "boundaries": self.boundaries}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class WordFraming(Framing):
    """One token in, one token out (the tutorial's Model 1)."""

    name = "word"

    @property
    def input_length(self) -> int:
        return 1

    def streams(self, lines):
        if self.boundaries:
            yield from super().streams(lines)
        else:  # the tutorial: one stream, pairs cross line ends
            yield [i for ids in lines for i in ids]

    def context(self, history):
        return [history[-1]]


class WindowFraming(Framing):
    """n tokens in, one out (the tutorial's Model 3 with n = 2)."""

    name = "window"

    def __init__(self, boundaries: bool = True, context: int = 2):
        super().__init__(boundaries)
        if context < 1:
            raise InputError(f"window context must be at least 1 word, got {context}")
        self.n = context

    @property
    def input_length(self) -> int:
        return self.n

    @property
    def first_target(self) -> int:
        # With boundaries every word is predicted from a (padded) window; without, only full
        # windows are used, as in the tutorial.
        return 1 if self.boundaries else self.n

    def streams(self, lines):
        if self.boundaries:
            yield from super().streams(lines)
        else:
            yield [i for ids in lines for i in ids]

    def context(self, history):
        return left_padded(history, self.n)

    def to_config(self):
        return {**super().to_config(), "context": self.n}


class LineFraming(Framing):
    """A line's growing prefix in, left-padded to the longest line (the tutorial's Model 2)."""

    name = "line"

    def __init__(self, boundaries: bool = True, max_length: int | None = None):
        super().__init__(boundaries)
        self.max_length = max_length  # longest training stream, set by `fit_length`

    def fit_length(self, lines: Iterable[Sequence[int]]) -> None:
        """Set the input length from the training lines (the tutorial's `max_length`)."""
        self.set_max_length(max((len(s) for s in self.streams(lines)), default=0))

    def set_max_length(self, longest_stream: int) -> None:
        """Set the input length from the longest training stream (tokens, markers included)."""
        if longest_stream < 2:
            raise InputError("the line framing needs at least one line of two or more tokens")
        self.max_length = int(longest_stream)

    @property
    def input_length(self) -> int:
        if self.max_length is None:
            raise ValueError("LineFraming.fit_length() has not been called")
        return self.max_length - 1

    def context(self, history):
        return left_padded(history, self.input_length)

    def to_config(self):
        return {**super().to_config(), "max_length": self.max_length}


class SequenceFraming(Framing):
    """Whole lines, every position predicted in one pass (teacher forcing); no length limit."""

    name = "sequence"
    recurrent = True

    @property
    def input_length(self) -> None:
        return None

    def examples(self, lines):
        """Yield `(inputs, targets)` per line: `stream[:-1]`, `stream[1:]` (so the first token of
        a stream, `<s>` or the first word without boundaries, is context only)."""
        for stream in self.streams(lines):
            if len(stream) < 2:
                continue
            yield list(stream[:-1]), list(stream[1:])

    def count_examples(self, lines):
        sequences = tokens = 0
        for stream in self.streams(lines):
            if len(stream) >= 2:
                sequences += 1
                tokens += len(stream) - 1
        return sequences, tokens

    def context(self, history):
        return list(history)

    def contexts(self, histories):
        """<int32>[batch, longest]: histories post-padded with `<pad>` (read the output at len-1)."""
        if any(len(h) == 0 for h in histories):
            raise InputError("empty history: there is nothing to predict from")
        longest = max(len(h) for h in histories)
        out = np.zeros((len(histories), longest), dtype=np.int32)
        for i, h in enumerate(histories):
            out[i, : len(h)] = h
        return out


class CharFraming(SequenceFraming):
    """The sequence framing over characters (the tokenizer's `char` mode)."""

    name = "char"


def make_framing(name: str, boundaries: bool = True, context: int = 2, max_length: int | None = None) -> Framing:
    """Build a framing by name."""
    if name == "word":
        return WordFraming(boundaries)
    if name == "window":
        return WindowFraming(boundaries, context)
    if name == "line":
        return LineFraming(boundaries, max_length)
    if name == "sequence":
        return SequenceFraming(boundaries)
    if name == "char":
        return CharFraming(boundaries)
    raise InputError(f"unknown framing {name!r}: expected one of {', '.join(NAMES)}")


def framing_from_config(config: dict) -> Framing:
    return make_framing(
        config["name"], config["boundaries"], config.get("context", 2), config.get("max_length")
    )


def left_padded(history, n: int) -> list[int]:
    """The last `n` ids of a history, left-padded with `<pad>` to length n (a fixed-length context)."""
    window = list(history[-n:])
    return [PAD_ID] * (n - len(window)) + window
