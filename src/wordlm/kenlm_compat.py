"""A KenLM drop-in: `Model(path)` with the `kenlm` Python module's signatures and conventions.

    import wordlm.kenlm_compat as kenlm          # was: import kenlm
    m = kenlm.Model("goose")                     # a wordlm model directory, a mixture .json, or an ARPA/binary
    m.score("jack and jill", bos=True, eos=True) # log10 p(jack and jill </s> | <s>)
    for prob, ngram_length, oov in m.full_scores("jack and jill"): ...
    m.perplexity("jack and jill"), m.order, "jack" in m
    state, out = kenlm.State(), kenlm.State()
    m.BeginSentenceWrite(state)                  # or m.NullContextWrite(state)
    m.BaseScore(state, "jack", out)              # log10 p(jack | <s>); `out` is the state after it

KenLM's conventions, not wordlm's native ones (`api.py`): log10; a sentence is split on whitespace
by KenLM, here by the model's own tokenizer (the same for an ARPA file: whitespace, case kept);
`perplexity(sentence)` is 10^(-score / (words + 1)) of that one sentence; `</s>` is predicted and
counted with `eos`, `<s>` is context only. It runs on the model interface alone (`protocol.py`:
`begin`, `extend`, `word_ids`, `is_oov`, `tokenize`; `full_scores` for whole sentences), so any
model `wordlm.load` takes works; numbers equal the native API's divided by ln 10, and on an ARPA
file KenLM's own (a test runs one script against both).

Where a wordlm model differs from an n-gram model:
- `bos=False` / `NullContextWrite`: an n-gram model scores the first word from the null context
  (its unigrams, as KenLM); a neural model cannot predict from nothing, so the first word is context
  only — `full_scores` yields `nan` for it and `score` leaves it out (as `lm.score(bos=False)`);
- `ngram_length` is the length of the context read plus one, capped at `order` for an n-gram model
  (KenLM reports the longest n-gram matched, which may be shorter after back-off);
- `order` is 0 for a model that reads the whole history (no n-gram order).
A `State` holds one row of the model's `Rows`; states compare and hash by `Rows.key` (an n-gram
model: the last order - 1 words; else the whole history). Not here: the native API (`api.py`).
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

LN10 = math.log(10.0)


class State:
    """KenLM's `State`: where a sentence has got to (one row of the model's `Rows`; empty until a
    `*Write` or `BaseScore` fills it, and then read from the null context)."""

    __slots__ = ("rows",)

    def __init__(self):
        self.rows = None

    def _key(self):
        return None if self.rows is None else self.rows.key(0)

    def __eq__(self, other) -> bool:
        return isinstance(other, State) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __copy__(self) -> "State":
        out = State()
        out.rows = self.rows
        return out


class Config:
    """KenLM's `Config` (accepted and ignored: nothing here loads lazily or warns)."""

    def __init__(self):
        self.load_method = None
        self.arpa_complain = None
        self.show_progress = False


class Model:
    """A wordlm model (directory, mixture, ARPA/KenLM binary) behind KenLM's `Model` methods."""

    def __init__(self, path, config: Config | None = None):
        from wordlm.loading import load

        self.path = str(path)
        self.lm = load(path)

    def __repr__(self) -> str:
        return f"<Model from {self.path}>"

    @property
    def order(self) -> int:
        """The n-gram order (context words + 1); 0 for a model that reads the whole history."""
        context = self.lm.row_context
        return 0 if context is None else context + 1

    def __contains__(self, word: str) -> bool:
        """True for a word of the vocabulary (not read as `<unk>`)."""
        return not self.lm.is_oov(word)

    # -- whole sentences -----------------------------------------------------------------------
    def score(self, sentence: str, bos: bool = True, eos: bool = True) -> float:
        """log10 p(sentence [</s>] | [<s>]): the sum of `full_scores` (a first word that is context
        only adds nothing)."""
        return float(sum(p for p, _, _ in self.full_scores(sentence, bos, eos) if not math.isnan(p)))

    def perplexity(self, sentence: str) -> float:
        """10^(-score / (words + 1)) of one sentence (KenLM's: `</s>` counted)."""
        words = len(self.lm.tokenize(sentence)) + 1
        return 10.0 ** (-self.score(sentence) / words)

    def full_scores(self, sentence: str, bos: bool = True, eos: bool = True) -> Iterator[tuple[float, int, bool]]:
        """(log10 prob, ngram_length, oov) per word, then `</s>` with `eos`."""
        lm = self.lm
        words = lm.tokenize(sentence)
        oov = [lm.is_oov(w) for w in words] + ([False] if eos else [])
        if bos:  # the scorer's own numbers, one batched call
            logprobs = [np.nan if t.logprob is None else t.logprob for t in lm.full_scores(sentence, eos=eos)]
            start = 1 if lm.boundaries else 0
        else:  # word by word through the rows (an n-gram model reads the first word from the null context)
            ids = list(lm.word_ids(words)) + ([lm.eos_id] if eos else [])
            rows, logprobs = lm.begin(1, bos=False), []
            for i in ids:
                logprobs.append(float(rows.logprobs[0, i]))
                rows = lm.extend(rows, [0], [i])
            start = 0
        for k, (lp, flag) in enumerate(zip(logprobs, oov)):
            yield float(lp) / LN10, self._ngram_length(start + k), flag

    def _ngram_length(self, context: int) -> int:
        return context + 1 if self.order == 0 else min(self.order, context + 1)

    # -- word by word ----------------------------------------------------------------------------
    def BeginSentenceWrite(self, state: State) -> None:  # noqa: N802 (KenLM's name)
        """`state` = the start of a sentence (after `<s>`)."""
        state.rows = self.lm.begin(1)

    def NullContextWrite(self, state: State) -> None:  # noqa: N802
        """`state` = no context at all (see the module docstring for a neural model)."""
        state.rows = self.lm.begin(1, bos=False)

    def BeginSentence(self, state: State) -> None:  # noqa: N802 (older KenLM spelling)
        self.BeginSentenceWrite(state)

    def BaseScore(self, in_state: State, word: str, out_state: State) -> float:  # noqa: N802
        """log10 p(word | in_state); `out_state` becomes the state after it (`in_state` is unchanged).
        A word goes through the model's tokenizer and must stay one token (ValueError otherwise);
        `</s>` is the end of the sentence."""
        lm = self.lm
        if in_state.rows is None:
            self.NullContextWrite(in_state)
        if word != "</s>":
            tokens = lm.tokenize(word)
            if len(tokens) != 1:
                raise ValueError(f"BaseScore: {word!r} is not one word as this model reads it (its tokenizer "
                                 f"gives {tokens!r})")
            word = tokens[0]
        i = int(lm.word_ids([word])[0])
        lp = float(in_state.rows.logprobs[0, i])
        out_state.rows = lm.extend(in_state.rows, [0], [i])
        return lp / LN10

    def BaseFullScore(self, in_state: State, word: str, out_state: State):  # noqa: N802
        """KenLM's `FullScoreReturn`-like triple: (log10 prob, ngram_length, oov)."""
        length = self._ngram_length(0 if in_state.rows is None else int(in_state.rows.lengths[0]))
        prob = self.BaseScore(in_state, word, out_state)
        return FullScore(prob, length, word != "</s>" and self.lm.is_oov(word))


class FullScore:
    """What `BaseFullScore` returns (KenLM's `FullScoreReturn`): log_prob, ngram_length, oov."""

    __slots__ = ("log_prob", "ngram_length", "oov")

    def __init__(self, log_prob: float, ngram_length: int, oov: bool):
        self.log_prob, self.ngram_length, self.oov = log_prob, ngram_length, oov


LanguageModel = Model  # KenLM's other name for it
