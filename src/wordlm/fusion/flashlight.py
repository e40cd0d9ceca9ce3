"""flashlight-text (and so torchaudio's `ctc_decoder`) with a wordlm model inside its lexicon beam search.

    from wordlm.fusion.flashlight import build_lexicon_decoder
    tokens = ["-", "|", "a", ..., "z", "'"]               # blank, word separator (silence), letters
    fused = build_lexicon_decoder(lm, tokens, beam_size=32, lm_weight=0.8, word_score=0.5)
    results = fused.decode(log_probs)                    # <float32>[T, N] log-probs; flashlight's DecodeResults
    fused.text(results[0])                               # its words (the model's ids) as text

torchaudio (its `CTCDecoderLM` is flashlight-text's `LM`; its word indices are the order of the
lexicon file, which `write_lexicon` writes):

    from torchaudio.models.decoder import ctc_decoder
    words = write_lexicon(lm, "lexicon.txt")             # "word w o r d |" per line, the model's words
    decoder = ctc_decoder(lexicon="lexicon.txt", tokens=tokens, lm=WordlmFlashlightLM(lm, words),
                          lm_weight=0.8, word_score=0.5, blank_token="-", sil_token="|", unk_word="<unk>")

flashlight's conventions, kept: `score(state, i)` returns (the state after word i, ln p(word i |
state)) — the raw LM score, natural log (flashlight's own KenLM wrapper returns log10: a `lm_weight`
tuned for it is ln 10 times too large here); the decoder multiplies it by `lm_weight` and adds
`word_score` per word, `unk_score` for a spelling outside the lexicon (scored here as `<unk>`), and
`sil_score` per silence. `finish(state)` returns ln p(</s> | state). A word of the decoder's word list
that the model does not know is read and scored as `<unk>`. The lexicon trie is smeared (MAX) with
each word's ln p(word | <s>), flashlight's usual static look-ahead: flashlight passes no state for a
partial word, so the LM's own prefix mass (`FusionLM.prefix_logprob`) cannot be used here.
So a final hypothesis's `lmScore` is Σ `lm.full_scores(text)` (a test), its `score` adds
lm_weight·lmScore + word_score·words to the emissions.

Speed: `score` needs only the parent's distribution; the child is evaluated lazily, all pending
children in one batched `lm.extend` the first time one is extended or finished (`states.py`): at
most one model call per frame, one for all the `finish` calls of the last frame.

Not here: the states and cache (`states.py`), pyctcdecode (`pyctc.py`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from flashlight.lib.text.decoder import (
    LM,
    CriterionType,
    LexiconDecoder,
    LexiconDecoderOptions,
    LMState,
    SmearingMode,
    Trie,
)

from wordlm.fusion.states import FusionLM


class WordlmFlashlightLM(LM):
    """A wordlm model as flashlight-text's `LM`. `words`: the decoder's word list (index → word; the
    lexicon's order), default the model's own ids (`lm.words`). One instance decodes one utterance at
    a time (`start` forgets the previous utterance's states; cached histories are kept)."""

    def __init__(self, lm, words: Sequence[str] | None = None, *, cache_mb: float = 256.0, fusion: FusionLM | None = None):
        LM.__init__(self)
        self.fusion = fusion or FusionLM(lm, cache_mb=cache_mb)
        f = self.fusion
        if words is None:
            self.ids = np.arange(f.vocab_size)
        else:
            self.ids = np.array([f.eos_id if w == "</s>" else f.word_id(w) for w in words], dtype=np.int64)
        self._nodes: dict = {}

    def start(self, start_with_nothing: bool = False):
        state = LMState()
        self._nodes = {state: self.fusion.start()}
        return state

    def score(self, state, usr_token_idx: int):
        node = self._nodes[state]
        wid = int(self.ids[usr_token_idx])
        lp = self.fusion.logprob(node, wid)
        child = state.child(usr_token_idx)
        if child not in self._nodes:
            self._nodes[child] = self.fusion.child(node, wid)
        return child, lp

    def finish(self, state):
        node = self._nodes[state]
        return state.child(-1), self.fusion.logprob(node, self.fusion.eos_id)


def lexicon_words(lm) -> list[str]:
    """The decoder's word list: the model's words in id order (markers other than `<unk>` left as
    they are: no spelling reaches them), so word index = model id."""
    return list(lm.words)


def spelling(word: str, tokens: Sequence[str], sil: str = "|") -> list[str] | None:
    """The tokens of a word followed by the separator, or None where a character is not a token."""
    index = set(tokens)
    chars = list(word)
    if not chars or any(c not in index for c in chars):
        if all(c.upper() in index for c in chars) and chars:
            chars = [c.upper() for c in chars]
        else:
            return None
    return [*chars, sil]


def build_trie(fusion: FusionLM, tokens: Sequence[str], sil: str = "|") -> Trie:
    """flashlight's lexicon trie over the model's words (label = model id), smeared with ln p(w | <s>)."""
    index = {t: i for i, t in enumerate(tokens)}
    trie = Trie(len(tokens), index[sil])
    start = fusion.logprobs(fusion.start())
    for i, w in enumerate(fusion.lm.words):
        if i in (fusion.eos_id, fusion.unk_id) or (w.startswith("<") and w.endswith(">")):
            continue
        spelled = spelling(w, tokens, sil)
        if spelled:
            trie.insert([index[t] for t in spelled], i, float(start[i]))
    trie.smear(SmearingMode.MAX)
    return trie


def build_lexicon_decoder(lm, tokens: Sequence[str], *, beam_size: int = 32, beam_size_token: int | None = None,
                          beam_threshold: float = 50.0, lm_weight: float = 1.0, word_score: float = 0.0,
                          unk_score: float = float("-inf"), sil_score: float = 0.0, log_add: bool = False,
                          blank: str = "-", sil: str = "|", cache_mb: float = 256.0):
    """A `LexiconFusion` (flashlight's `LexiconDecoder`, its LM, its word list) for a wordlm model: the
    lexicon is the model's vocabulary spelled in `tokens` (upper-cased where the tokens are), word
    indices are the model's ids. Options are flashlight's (`LexiconDecoderOptions`), CTC criterion."""
    flm = WordlmFlashlightLM(lm, cache_mb=cache_mb)
    trie = build_trie(flm.fusion, tokens, sil)
    options = LexiconDecoderOptions(beam_size=beam_size, beam_size_token=beam_size_token or len(tokens),
                                    beam_threshold=beam_threshold, lm_weight=lm_weight, word_score=word_score,
                                    unk_score=unk_score, sil_score=sil_score, log_add=log_add,
                                    criterion_type=CriterionType.CTC)
    index = {t: i for i, t in enumerate(tokens)}
    decoder = LexiconDecoder(options, trie, flm, index[sil], index[blank], int(flm.fusion.unk_id), [], False)
    return LexiconFusion(decoder, flm, trie, lexicon_words(lm))


class LexiconFusion:
    """A flashlight `LexiconDecoder` with its wordlm LM and trie (kept alive together: flashlight holds
    C++ references only) and the word list its results index."""

    def __init__(self, decoder, lm: WordlmFlashlightLM, trie, words: list[str]):
        self.decoder, self.lm, self.trie, self.words = decoder, lm, trie, words

    @property
    def fusion(self) -> FusionLM:
        return self.lm.fusion

    def decode(self, log_probs: np.ndarray):
        """flashlight's `DecodeResult`s (best first) for one <float32>[frames, tokens] log-prob matrix."""
        return decode(self.decoder, log_probs)

    def text(self, result) -> str:
        return " ".join(self.words[i] for i in result.words if i >= 0)


def write_lexicon(lm, path, tokens: Sequence[str] | None = None, sil: str = "|") -> list[str]:
    """A flashlight/torchaudio lexicon file ("word w o r d |" per line) of the model's words; returns
    the word list in the file's order (what torchaudio numbers words by: pass it to `WordlmFlashlightLM`)."""
    words = []
    with open(path, "w", encoding="utf-8") as f:
        for i, w in enumerate(lm.words):
            if i in (lm.eos_id, lm.unk_id) or (w.startswith("<") and w.endswith(">")):
                continue
            spelled = [*w, sil] if tokens is None else spelling(w, tokens, sil)
            if spelled:
                f.write(f"{w} {' '.join(spelled)}\n")
                words.append(w)
    return words


def decode(decoder, log_probs: np.ndarray):
    """flashlight's results for one <float32>[frames, tokens] matrix (made C-contiguous here)."""
    em = np.ascontiguousarray(log_probs, dtype=np.float32)
    return decoder.decode(em.ctypes.data, em.shape[0], em.shape[1])
