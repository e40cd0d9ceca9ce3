"""A mixture is a model: linear interpolation of its components per word, behind the LanguageModel API.

    p(w | h) = Σ_i λ_i · p_i(w | h)        computed as logsumexp_i(ln λ_i + ln p_i(w | h)), float64

The rules (SRILM's `ngram -mix-lm -unk` is the reference):
- The mixture's words are the line's tokens under the mixture's tokenizer (that of its wordlm word
  models, which must agree; whitespace for n-gram and character models alone). Its vocabulary V is
  the union of its word components' vocabularies (wordlm word models, n-gram models), plus `<unk>`
  and `</s>`.
- A word of V that a word component does not know gets probability 0 from that component: the
  mixture gives it Σ over the components that know it (as SRILM, whose models share one vocabulary
  and give a word without a unigram probability 0). So each component's distribution sums to 1
  over V, and so does the mixture's (`next_words`, a test).
- A word outside V (no word component knows it) is an OOV: every word component scores it as its
  own `<unk>`; a character component spells it out. It counts in O like any OOV; with
  `--oov skip` it adds nothing and is not counted (SRILM), exactly as for a single model. A literal
  `<unk>` in the text is an OOV too (wordlm's and KenLM's convention).
- `</s>` is predicted and counted, `<s>` is context only; with `bos=False` the first word is
  context only for every component (a neural model cannot predict it from nothing).
- Running text (`--context-tokens`): recurrent wordlm word components read each line after the
  previous lines; n-gram and character components score each line alone (an n-gram's context never
  crosses `<s>` anyway).
- One component with weight 1 gives exactly that component's numbers (a test).

Cost: one batched call per component for a whole batch of lines (`Component.token_logprobs`),
then a numpy logsumexp: the sum of the components' costs plus a few per cent
(`benchmarks/mixtures.md`). Next words and decoding ask every component for its distribution over V.

Not here: the components (`components.py`), the file (`file.py`), EM weights (`em.py`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from wordlm.api import LanguageModelAPI
from wordlm.text import lines_argument
from wordlm.errors import InputError, ModelError
from wordlm.text import Tokenizer
from wordlm.vocab import BOS, BOS_ID, EOS, EOS_ID, PAD_ID, UNK, UNK_ID, Vocabulary


class MixtureFraming:
    """What the generic scorers ask of a framing: a mixture reads `<s> w1 … wn </s>`, the whole history."""

    name = "mixture"
    boundaries = True
    first_target = 1
    input_length = None

    def __init__(self, recurrent: bool):
        self.recurrent = recurrent  # True when a component reads running text

    def line(self, ids):
        return [BOS_ID, *ids, EOS_ID]

    def context(self, history):
        return list(history)


class Mixture(LanguageModelAPI):
    """A mixture of components with weights; the methods of `api.py` (score, full_scores, perplexity,
    next_words, candidates, fill, generate, rerank, begin/advance) work on it as on a LanguageModel."""

    keras_model = None
    scores_text = True  # lines are scored from their words (`score_sentences`, `text_logprobs`, `fill_texts`)
    runtime = None  # no one network: the components' own runtimes run them
    reverse = False
    boundaries = True
    stateful = False
    state_size = 0

    def __init__(self, components, weights: Sequence[float], tokenizer: Tokenizer | None = None, spec=None):
        if len(components) != len(weights) or not components:
            raise ModelError("a mixture needs one weight per component")
        self.components = list(components)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.spec = spec
        self.info: dict = {}
        self.tokenizer = tokenizer or mixture_tokenizer(self.components)
        words: dict[str, None] = {}
        for c in self.components:
            if not c.open_vocabulary:
                words.update(dict.fromkeys(w for w in c.words() if w not in (UNK, BOS, EOS, "<pad>")))
        self.vocab = Vocabulary(list(words))
        self.framing = MixtureFraming(any(c.recurrent for c in self.components))
        self.has_word_components = any(not c.open_vocabulary for c in self.components)
        # known[i]: <bool>[V] the words component i gives a probability (<unk> and </s>: every one)
        self.known = np.zeros((len(self.components), len(self.vocab)), dtype=bool)
        for i, c in enumerate(self.components):
            if c.open_vocabulary:
                self.known[i] = True
            else:
                self.known[i, [self.vocab.token_to_id[w] for w in c.words() if w in self.vocab]] = True
            self.known[i, [UNK_ID, EOS_ID]] = True
            self.known[i, [PAD_ID, BOS_ID]] = False

    # -- what the generic code asks of a model ---------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def tokens(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(text)

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(self.tokens(text))

    def history(self, text: str) -> list[int]:
        return [BOS_ID, *self.encode(text)]

    def stream(self, text: str) -> list[int]:
        return self.framing.line(self.encode(text))

    def never_predicted(self) -> list[int]:
        return [PAD_ID, BOS_ID]

    def carries_state(self, longest_history: int) -> bool:
        return False

    @property
    def row_context(self) -> int | None:
        """n-gram components alone: a row's future is its last (order - 1) ids (`Rows.key`)."""
        orders = [c.order for c in self.components]
        return None if None in orders else max(orders) - 1

    def describe(self) -> dict:
        return {"mixture": True, "tokenizer": self.tokenizer.to_config(), "vocabulary": self.vocab.num_words,
                "components": [{"path": c.path, "kind": c.kind, "weight": float(w),
                                "type": type(c).__name__} for c, w in zip(self.components, self.weights)]}

    # -- the interpolation ----------------------------------------------------------------------
    def mix(self, per_component: Sequence[np.ndarray]) -> np.ndarray:
        """logsumexp_i(ln λ_i + lp_i), elementwise (float64); a single component is returned as is.
        NaN (context only) in any component gives NaN."""
        if len(per_component) == 1 and self.weights[0] == 1.0:
            return np.asarray(per_component[0], dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)
        stacked = np.stack([np.asarray(lp, dtype=np.float64) + lw for lp, lw in zip(per_component, log_w)])
        with np.errstate(invalid="ignore"):
            return np.logaddexp.reduce(stacked, axis=0)

    def word_ids(self, words: Sequence[str]) -> np.ndarray:
        """Mixture ids of tokens (`</s>` → EOS, unknown → `<unk>`)."""
        return np.array([EOS_ID if w == EOS else i for w, i in zip(words, self.vocab.encode(words))], dtype=np.int64)

    def component_token_logprobs(self, lines: Sequence[Sequence[str]], bos=True, eos=True, contexts=None,
                                 trie=False):
        """Per component, per line, <float64>[n + eos] after the mixture's rule (a word of V that the
        component does not know: -inf). Returns (per_component, ids per line)."""
        ids = [self.word_ids(list(w) + ([EOS] if eos else [])) for w in lines]
        out = []
        for i, c in enumerate(self.components):
            rows = c.token_logprobs([list(w) for w in lines], bos, eos, contexts, trie=trie)
            for row, line_ids in zip(rows, ids):
                unknown = ~self.known[i, line_ids]
                row[unknown & ~np.isnan(row)] = -np.inf
            out.append(rows)
        return out, ids

    def token_logprobs(self, lines, bos=True, eos=True, contexts=None, trie=False) -> list[np.ndarray]:
        per_component, _ = self.component_token_logprobs(lines, bos, eos, contexts, trie)
        return [self.mix([pc[k] for pc in per_component]) for k in range(len(lines))]

    # -- scoring (the hook `scoring.sentences.score_sentences` calls) -----------------------------
    def score_sentences(self, texts, options, contexts=None, max_batch: int = 64):
        from wordlm.scoring.sentences import SentenceScore

        texts = lines_argument(texts)
        lines = [self.tokens(t) for t in texts]
        ctx_words = None
        if contexts is not None and any(len(c) for c in contexts):
            ctx_words = [[BOS if i == BOS_ID else self.vocab.id_to_token[i] for i in c] for c in contexts]
        mixed = self.token_logprobs(lines, options.bos, options.eos, ctx_words)
        results = []
        for text, words, lp in zip(texts, lines, mixed):
            oov = [self.is_oov(w) for w in words]
            if options.oov == "skip":
                lp[: len(words)][np.array(oov, dtype=bool)] = np.nan
            tokens = list(words) + ([EOS] if options.eos else [])
            flags = oov + ([False] if options.eos else [])
            results.append(SentenceScore(text=text, tokens=tokens, logprobs=lp, oov=flags, words=len(words),
                                         ends=int(options.eos and not math.isnan(lp[-1])),
                                         context=0 if options.bos or not words else 1))
        return results

    def is_oov(self, word: str) -> bool:
        """No word component knows it (a literal `<unk>` included); never, with character models alone."""
        return self.has_word_components and self.vocab.is_oov(word)

    def text_logprobs(self, texts: Sequence[str]) -> np.ndarray:
        """<float64>[texts]: ln p(text </s> | <s>) of each text (OOVs as `<unk>`): rerank's LM score."""
        mixed = self.token_logprobs([self.tokens(t) for t in texts], trie=True)
        return np.array([float(np.nansum(lp)) for lp in mixed], dtype=np.float64)

    # -- the id-based primitives (next words, decoding, fill) ------------------------------------
    def _words_of(self, ids) -> list[str]:
        return [self.vocab.id_to_token[i] for i in ids]

    def stream_logprobs(self, token_streams, batch_size: int = 64, skips=None) -> list[np.ndarray]:
        """For each stream of mixture ids (`<s> w1 … [</s>]`), <float64>[len − 1]: ln p(s[t] | s[:t])."""
        if skips is not None and any(skips):
            raise InputError("a mixture reads running text through `score` and `perplexity` only")
        out = []
        for s in token_streams:
            s = list(s)
            bos = bool(s) and s[0] == BOS_ID
            eos = len(s) > 1 and s[-1] == EOS_ID
            words = self._words_of(s[int(bos) : len(s) - int(eos)])
            lp = self.token_logprobs([words], bos, eos)[0]
            out.append(lp[~np.isnan(lp)] if not bos else lp)
        return out

    @property
    def predicts_from_nothing(self) -> bool:
        """n-gram components alone predict from no context (KenLM's null context: their unigrams)."""
        return self.row_context is not None

    def next_logprobs(self, histories, batch_size: int = 256) -> np.ndarray:
        """<float32>[rows, V]: ln p(next token | history) over the mixture's vocabulary; sums to 1.
        A history starts with `<s>`, except for n-gram components alone (the null context)."""
        words_hist, starts = [], []
        for h in histories:
            h = list(h)
            start = bool(h) and h[0] == BOS_ID
            if not start and not self.predicts_from_nothing:
                raise InputError("a mixture predicts after <s>: a history starts with <s>")
            words_hist.append(self._words_of(h[int(start):]))
            starts.append(start)
        if not all(starts):
            per_component = []
            for i, c in enumerate(self.components):  # n-gram components only (predicts_from_nothing)
                lp = np.full((len(histories), len(self.vocab)), -np.inf)
                predictable = [k for k in range(len(self.vocab)) if k not in (PAD_ID, BOS_ID)]
                lp[:, predictable] = c.next_logprobs(words_hist, self._words_of(predictable), starts)
                lp[:, ~self.known[i]] = -np.inf
                per_component.append(lp)
            return self.mix(per_component).astype(np.float32)
        predictable = [i for i in range(len(self.vocab)) if i not in (PAD_ID, BOS_ID)]
        names = [self.vocab.id_to_token[i] for i in predictable]
        per_component = []
        for i, c in enumerate(self.components):
            lp = np.full((len(histories), len(self.vocab)), -np.inf)
            lp[:, predictable] = c.next_logprobs(words_hist, names)
            lp[:, ~self.known[i]] = -np.inf
            per_component.append(lp)
        return self.mix(per_component).astype(np.float32)

    def fill_texts(self, texts: Sequence[str]) -> np.ndarray:
        """`fill`'s filled sentences scored whole (one batched call per component)."""
        return self.text_logprobs(texts)


def mixture_tokenizer(components) -> Tokenizer:
    """The tokenizer of the wordlm word components (they must agree), else whitespace (KenLM's)."""
    from wordlm.mixture.components import WordModel

    words = [c for c in components if isinstance(c, WordModel)]
    if not words:
        return Tokenizer("whitespace", False)
    first = words[0].lm.tokenizer
    for c in words[1:]:
        if c.lm.tokenizer != first:
            raise ModelError(f"{c.path}: splits text with {c.lm.tokenizer}, but {words[0].path} with {first}: the "
                             "word models of a mixture must share a tokenizer (train them with the same --tokenizer)")
    return first
