"""pyctcdecode (0.5) with a wordlm model inside its beam search: an `AbstractLanguageModel`, a
decoder that batches the LM work of each frame, and a `build_ctcdecoder` that takes a model.

    from wordlm.fusion import build_ctcdecoder
    decoder = build_ctcdecoder(["", " ", "a", ..., "z", "'"], lm, alpha=0.5, beta=1.0)
    text = decoder.decode(log_probs)                   # <float>[frames, labels], as pyctcdecode takes
    beams = decoder.decode_beams(log_probs)            # (text, state, word frames, logit, combined)

pyctcdecode's conventions, kept (its `LanguageModel` for KenLM does the same, `language_model.py`):
- `score(state, word, is_last_word)` returns α·(ln p(word | state) + ln 10 · unk_score_offset·[word
  is OOV] + [is_last_word]·ln p(</s> | state, word)) + β: natural log; `unk_score_offset` is in
  KenLM's log10 units (−10 by default, as pyctcdecode's), so the same value means the same penalty.
  A word is OOV when the model's tokenizer does not read it as one vocabulary word; it is then
  read, and scored, as `<unk>`.
- `score_partial_token(part)` (no state: pyctcdecode does not pass one) is pyctcdecode's own:
  unk_score_offset (raw, not scaled by α) when no vocabulary word starts with `part`, scaled by
  len(part)/6 past 6 characters; 0 otherwise. Prefixes come from the model's vocabulary (a trie).
- `score_boundary=False` drops the final `</s>` (a line is still read after `<s>`: a neural model
  cannot predict a first word from nothing).
- pyctcdecode's last step scores a beam that ends with a space with the word "": here that is no
  word (only `</s>`, no β), where KenLM would read "" as `<unk>`.
So for every final beam, combined − logit = α·Σ `lm.full_scores(text)` + β·words (+ the OOV
offsets): a test checks it inside the real decoder.

Speed: `FusionDecoderCTC` (what `build_ctcdecoder` returns) creates all the children a step asks
for before scoring them, so the LM work of a frame, and of the final `</s>` step, is one batched
model call; the plain `BeamSearchDecoderCTC(alphabet, WordlmLanguageModel(lm))` works too (one call
per frame as well, but one per final beam at the end). With `lookahead=True` a partial word is
scored from the LM's own mass over the vocabulary words with that prefix, from the beam's state:
α·ln Σ_{w ⊒ part} p(w | state) (only `FusionDecoderCTC` can: it passes the state; the result's
final scores are unchanged, only the search differs).

Not here: lazy states and the cache (`states.py`), n-best output (`nbest.py`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from pyctcdecode.alphabet import Alphabet
from pyctcdecode.constants import AVG_TOKEN_LEN, DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_UNK_LOGP_OFFSET
from pyctcdecode.decoder import BeamSearchDecoderCTC, _merge_tokens
from pyctcdecode.language_model import AbstractLanguageModel

from wordlm.fusion.states import FusionLM, Node

LN10 = math.log(10.0)


class WordlmLanguageModel(AbstractLanguageModel):
    """A wordlm model (or mixture: anything with `begin`/`extend`) as pyctcdecode's language model.
    States are `states.Node`s; see the module docstring for the scores."""

    def __init__(self, lm, alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA,
                 unk_score_offset: float = DEFAULT_UNK_LOGP_OFFSET, score_boundary: bool = True,
                 *, cache_mb: float = 256.0, upper: bool = False, fusion: FusionLM | None = None):
        self.fusion = fusion or FusionLM(lm, cache_mb=cache_mb, spell=str.upper if upper else None)
        self.alpha, self.beta = float(alpha), float(beta)
        self.unk_score_offset, self.score_boundary = float(unk_score_offset), bool(score_boundary)

    @property
    def order(self) -> int:
        """pyctcdecode's `prune_history` keeps order − 1 words: a neural model reads the whole
        history, so this is large (history pruning then merges only beams with equal texts)."""
        return 1 << 16

    def get_start_state(self) -> Node:
        return self.fusion.start()

    def reset_params(self, **params: Any) -> None:
        """alpha, beta, unk_score_offset (floats), score_boundary (bool), as pyctcdecode's LanguageModel."""
        for name, kind in (("alpha", float), ("beta", float), ("unk_score_offset", float), ("score_boundary", bool)):
            value = params.get(name)
            if value is not None:
                if not isinstance(value, kind):
                    raise ValueError(f"{name} must be a {kind.__name__}. Got {type(value)}.")
                setattr(self, name, value)

    def score_partial_token(self, partial_token: str) -> float:
        is_oov = partial_token not in self.fusion.trie
        unk_score = self.unk_score_offset * is_oov
        if len(partial_token) > AVG_TOKEN_LEN:
            unk_score = unk_score * len(partial_token) / AVG_TOKEN_LEN
        return unk_score

    def raw_score(self, prev_state: Node, word: str, is_last_word: bool = False) -> tuple[float, Node]:
        """(ln p(word | state) [+ ln p(</s> | …)] + the OOV offset, the state after `word`): unweighted."""
        fusion = self.fusion
        if not word:
            end = fusion.logprob(prev_state, fusion.eos_id) if is_last_word and self.score_boundary else 0.0
            return end, prev_state
        wid = fusion.word_id(word)
        lp = fusion.logprob(prev_state, wid)
        if wid == fusion.unk_id:
            lp += LN10 * self.unk_score_offset
        node = fusion.child(prev_state, wid)
        if is_last_word and self.score_boundary:
            lp += fusion.logprob(node, fusion.eos_id)
        return lp, node

    def score(self, prev_state: Node, word: str, is_last_word: bool = False) -> tuple[float, Node]:
        raw, node = self.raw_score(prev_state, word, is_last_word)
        return self.alpha * raw + (self.beta if word else 0.0), node


class FusionDecoderCTC(BeamSearchDecoderCTC):
    """pyctcdecode's decoder, its LM step batched: the children of a step are created before any is
    scored, so a frame's LM work (and the final `</s>` step's) is one model call. Same results as
    `BeamSearchDecoderCTC` with the same LM (a test), unless `lookahead`."""

    def __init__(self, alphabet: Alphabet, language_model: WordlmLanguageModel, lookahead: bool = False):
        super().__init__(alphabet, language_model)
        self.lookahead = bool(lookahead)

    @property
    def fusion(self) -> FusionLM:
        """The LM side (`states.FusionLM`): counters `calls`, `rows`, `hits`; `clear()`."""
        return self._language_model.fusion

    def _get_lm_beams(self, beams, hotword_scorer, cached_lm_scores, cached_partial_token_scores, is_eos=False):
        lm = self._language_model
        if not isinstance(lm, WordlmLanguageModel):
            return super()._get_lm_beams(beams, hotword_scorer, cached_lm_scores, cached_partial_token_scores,
                                         is_eos)
        fusion = lm.fusion
        # 1. evaluate, in one call, the states this step reads: the beams' states (children of an
        #    earlier frame, still pending) and, at the end, the children whose </s> is scored now
        fresh = [(cached_lm_scores[(text, False)][2], next_word) for text, next_word, *_ in beams
                 if next_word and (_merge_tokens(text, next_word), is_eos) not in cached_lm_scores]
        if any(parent.row is None for parent, _ in fresh) or (self.lookahead and any(b[2] for b in beams)):
            fusion.flush()
        if is_eos:
            for parent, word in fresh:
                fusion.child(parent, fusion.word_id(word))
            fusion.flush()
        # 2. pyctcdecode's own step (its `_get_lm_beams`), with the look-ahead where asked
        new_beams = []
        for text, next_word, word_part, last_char, frame_list, frames, logit_score in beams:
            new_text = _merge_tokens(text, next_word)
            cache_key = (new_text, is_eos)
            if cache_key not in cached_lm_scores:
                _, prev_raw_lm_score, start_state = cached_lm_scores[(text, False)]
                score, end_state = lm.score(start_state, next_word, is_last_word=is_eos)
                raw_lm_score = prev_raw_lm_score + score
                lm_hw_score = raw_lm_score + hotword_scorer.score(new_text)
                cached_lm_scores[cache_key] = (lm_hw_score, raw_lm_score, end_state)
            lm_score, _, state = cached_lm_scores[cache_key]
            if word_part:
                partial = cached_partial_token_scores.get(word_part)
                if partial is None:  # pyctcdecode's rule: a hotword prefix, else the LM's
                    if word_part in hotword_scorer:
                        partial = hotword_scorer.score_partial_token(word_part)
                        cached_partial_token_scores[(word_part,)] = True  # marks a hotword prefix
                    else:
                        partial = lm.score_partial_token(word_part)
                    cached_partial_token_scores[word_part] = partial
                if self.lookahead and (word_part,) not in cached_partial_token_scores:
                    ahead = fusion.prefix_logprob(state, word_part)
                    partial = lm.alpha * ahead if ahead > -math.inf else partial
                lm_score += partial
            new_beams.append((new_text, "", word_part, last_char, frame_list, frames, logit_score,
                              logit_score + lm_score))
        return new_beams


def build_ctcdecoder(labels: Sequence[str], lm=None, *, kenlm_model_path: str | None = None,
                     kenlm_weight: float = 0.5, alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA,
                     unk_score_offset: float = DEFAULT_UNK_LOGP_OFFSET, lm_score_boundary: bool = True,
                     lookahead: bool = False, cache_mb: float = 256.0) -> BeamSearchDecoderCTC:
    """pyctcdecode's `build_ctcdecoder` with a wordlm model where it takes a KenLM path.

    `lm`: a loaded model or mixture (`wordlm.load(...)`), or a path (model directory, mixture file,
    ARPA/KenLM binary). `kenlm_model_path` with a model: the two interpolated per word
    (`wordlm.mixture`), `kenlm_weight` the n-gram's share. No model: plain CTC beam search.
    Upper-case labels (LibriSpeech's) are matched to a lower-casing model's words. Returns a
    `FusionDecoderCTC` (a `BeamSearchDecoderCTC`).
    """
    alphabet = Alphabet.build_alphabet(list(labels))
    if lm is None and kenlm_model_path is None:
        return BeamSearchDecoderCTC(alphabet, None)
    model = fusion_model(lm, kenlm_model_path, kenlm_weight)
    letters = [c for c in labels if c.isalpha()]
    upper = bool(letters) and all(c.isupper() for c in letters)
    language_model = WordlmLanguageModel(model, alpha, beta, unk_score_offset, lm_score_boundary,
                                         cache_mb=cache_mb, upper=upper)
    return FusionDecoderCTC(alphabet, language_model, lookahead)


def fusion_model(lm=None, kenlm_model_path: str | None = None, kenlm_weight: float = 0.5):
    """The model to fuse: `lm` (loaded, or a path), the KenLM file alone, or both interpolated."""
    from pathlib import Path

    if isinstance(lm, (str, Path)):
        from wordlm.mixture.file import is_mixture_file

        if not Path(lm).is_dir() and not is_mixture_file(lm):  # an ARPA or KenLM binary file
            lm, kenlm_model_path, kenlm_weight = None, (lm if kenlm_model_path is None else kenlm_model_path), 1.0
        else:
            from wordlm.loading import load

            lm = load(lm)
    if kenlm_model_path is None:
        return lm
    from wordlm.mixture.components import NgramModel, WordModel
    from wordlm.mixture.model import Mixture

    ngram = NgramModel(str(kenlm_model_path))
    if lm is None:
        return Mixture([ngram], [1.0])
    if isinstance(lm, Mixture):
        components, weights = [*lm.components, ngram], [*(lm.weights * (1 - kenlm_weight)), kenlm_weight]
    else:
        components, weights = [WordModel(lm, str(getattr(lm, "path", "") or "")), ngram], [1 - kenlm_weight, kenlm_weight]
    return Mixture(components, weights)
