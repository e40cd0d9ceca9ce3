"""Vocabulary: words ↔ integer ids, with reserved ids for padding and the boundary markers.

Ids: 0 `<pad>` (padding, masked, never predicted), 1 `<unk>`, 2 `<s>` (context only, never
predicted), 3 `</s>`, then the corpus's words by decreasing frequency, ties broken by first
appearance (so the tutorial's rhyme gives the same order as Keras's old Tokenizer). Words below
`min_count`, or beyond the `max_vocab` most frequent, are not in the vocabulary and encode as
`<unk>`; so does a literal `<unk>` in the text, and a `<s>`/`</s>`/`<pad>` typed in the text (the
markers are placed by the framing, never read from text).

This module knows nothing about tokenizing (`text.py`) or training examples (`framings.py`).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
RESERVED = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


class Vocabulary:
    """An ordered list of tokens; `id_to_token[i]` is a list lookup, `token_to_id` a dict."""

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if any(w in RESERVED for w in words):
            raise ValueError("reserved tokens are added by Vocabulary itself")
        self.id_to_token: list[str] = list(RESERVED) + words
        self.token_to_id: dict[str, int] = {t: i for i, t in enumerate(self.id_to_token)}
        if len(self.token_to_id) != len(self.id_to_token):
            raise ValueError("duplicate words in vocabulary")

    @classmethod
    def build(
        cls, token_lines: Iterable[Sequence[str]], min_count: int = 1, max_vocab: int | None = None
    ) -> "Vocabulary":
        """Count tokens over lines and keep those with count ≥ min_count, the max_vocab most frequent."""
        counts: Counter[str] = Counter()
        for tokens in token_lines:
            counts.update(t for t in tokens if t not in RESERVED)
        # Counter preserves first-insertion order; sorted() is stable: frequency, then first seen.
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        words = [w for w, c in ranked if c >= min_count]
        if max_vocab is not None:
            words = words[:max_vocab]
        return cls(words)

    def __len__(self) -> int:
        """Size of the id space (words + 4 reserved): the model's input and output dimension."""
        return len(self.id_to_token)

    @property
    def num_words(self) -> int:
        """Number of corpus words (reserved tokens not counted): the tutorial's vocabulary size."""
        return len(self.id_to_token) - len(RESERVED)

    def __contains__(self, token: str) -> bool:
        return token in self.token_to_id and self.token_to_id[token] > EOS_ID

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of tokens; anything not in the vocabulary (and any reserved marker) is `<unk>`."""
        get = self.token_to_id.get
        return [i if (i := get(t, UNK_ID)) > EOS_ID else UNK_ID for t in tokens]

    def is_oov(self, token: str) -> bool:
        """True when `token` encodes as `<unk>` (a literal `<unk>` included)."""
        return self.token_to_id.get(token, UNK_ID) <= EOS_ID

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.id_to_token[i] for i in ids]

    def to_config(self) -> dict:
        return {"words": self.id_to_token[len(RESERVED):]}

    @classmethod
    def from_config(cls, config: dict) -> "Vocabulary":
        return cls(config["words"])
