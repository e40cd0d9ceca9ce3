"""The model interface: what every language model offers, and all that a consumer may use of one.

A leaf module (it imports nothing of wordlm's; a test checks), declared once so that no consumer
asks "which kind of model is this?". The LSTM model (`lm.LanguageModel`), a mixture
(`mixture.Mixture`) and an n-gram model (an ARPA or KenLM binary file: `wordlm.load("kn5.arpa")`, a
mixture of one KenLM component, its rows keyed by their last order - 1 ids) each implement it;
scoring, decoding, reranking, the service, the lattice rescorer and the adapters for outside decoders
(pyctcdecode, flashlight-text/torchaudio, the KenLM-compatible `Model`) use only it.

Conventions (README.md, "Conventions"):
- natural log everywhere; ids index `words`; `<s>` is context only, never predicted; `</s>` is
  predicted (id `eos_id`); a word outside the vocabulary is read and scored as `<unk>` (`unk_id`).
- Rows: a batch of histories. Row r's history is the ids read so far (`<s>` first where the model
  has boundaries and `bos`), `logprobs[r]` <float32>[vocab] is ln p(next token | history) (a row with
  an empty history predicts nothing, NaN, unless `predicts_from_nothing`: an n-gram model's null
  context). Each row's distribution sums to 1 over the vocabulary.
- `extend(rows, parents, ids)`: row r of the result is row `parents[r]` of `rows` extended by word
  `ids[r]` — a beam search reorders, duplicates and drops rows this way — in one batched model call.
- Rows hold ids: a word outside the vocabulary is `unk_id` there. (A mixture with a character
  component spells such a word out when it scores text; through ids it is `<unk>`.)
- `exact_state`: True when carrying state gives exactly the numbers of re-reading whole histories
  (an n-gram model and an LSTM read whole lines are exact; a `line` model past its input length is not).

Not here: the implementations (`lm.py`, `mixture/`, `inference/rows.py` owns the concrete `Rows`).
"""

from __future__ import annotations

from typing import Hashable, Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class RowsLike(Protocol):
    """Rows of histories (the concrete type: `wordlm.inference.rows.Rows`); immutable, so a decoder
    may branch from any of them."""

    histories: tuple[tuple[int, ...], ...]
    logprobs: np.ndarray  # <float32>[rows, vocab]: ln p(next token | history); NaN where nothing to predict from
    lengths: np.ndarray  # <int64>[rows]: the length of each history

    def __len__(self) -> int: ...

    def __getitem__(self, index) -> "RowsLike":
        """An int, a slice, or an int array of rows: a new Rows (the model state gathered with them)."""

    def key(self, r: int) -> Hashable:
        """A hashable key for row r: equal keys mean equal futures (the history, or the n-gram context
        where that is all the model reads) — for recombination and caching."""


@runtime_checkable
class LanguageModelLike(Protocol):
    """What every language model offers (see the module docstring for the conventions)."""

    # -- vocabulary ---------------------------------------------------------------------------
    words: Sequence[str]  # id -> word; `words[eos_id] == "</s>"`, `words[unk_id] == "<unk>"`
    eos_id: int
    unk_id: int
    boundaries: bool  # True: lines read as `<s> … </s>`

    @property
    def vocab_size(self) -> int: ...

    def word_ids(self, words: Sequence[str]) -> np.ndarray:
        """<int32>[len(words)]: the id of each word (already tokenized), `unk_id` for a word outside
        the vocabulary; no model call."""

    def is_oov(self, word: str) -> bool:
        """True for a word this model reads as `<unk>`."""

    # -- text ---------------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """The words of a line, as `score` reads them (the model's own tokenizer, reading order)."""

    # -- incremental scoring ------------------------------------------------------------------
    @property
    def exact_state(self) -> bool: ...

    # -- declared capabilities (consumers read them; they never probe with hasattr) -----------------
    row_context: int | None  # None: a row's future depends on its whole history; k: on its last k ids
    predicts_from_nothing: bool  # an empty history predicts (an n-gram model's unigrams), else NaN
    scores_text: bool  # True: hand it texts (`score_sentences`, `text_logprobs`, `fill_texts`): a mixture
    has_network: bool  # True: one network with compiled functions (`lm.compiled`; export) under `lm.runtime`

    def begin(self, n: int = 1, *, bos: bool = True) -> RowsLike:
        """`n` rows at the start of a line (after `<s>` when the model has boundaries and `bos`)."""

    def extend(self, rows: RowsLike, parents: Sequence[int], ids: Sequence[int]) -> RowsLike:
        """Row r of the result = row `parents[r]` of `rows` + word `ids[r]`; one batched model call."""

    def read_rows(self, histories: Sequence[Sequence[int]]) -> RowsLike:
        """Rows after reading whole histories of ids (prompts), in one batched call."""
