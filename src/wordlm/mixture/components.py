"""The components of a mixture, each answering two questions about the mixture's words (strings):

- `token_logprobs(lines, bos, eos, contexts)` → for each line (a list of words), <float64>[n + eos]:
  ln p(token_k | <s>, the words before it) for the line's words and then `</s>` (natural log), NaN
  where a token is context only (the first word when `bos` is False). A word the component does not
  know is scored as its `<unk>` (the mixture then applies its own rule, `model.py`). One batched
  call per component for the whole list of lines.
- `next_logprobs(histories, words)` → <float64>[rows, len(words)]: ln p(word | <s> + history) for
  each history (a list of words) and each candidate word (`</s>` and `<unk>` among them).

Three kinds:
- `WordModel`: a wordlm word-level model directory (any framing with boundaries, forward).
- `CharModel`: a wordlm character model. A word's probability is the product of its characters'
  probabilities up to the word boundary, normalised so the word-level factors multiply to exactly the
  character model's sentence probability. With s_i = p(" " | line up to the end of word i), e_i =
  p(</s> | the same) and B_i = s_i + e_i (a boundary follows word i):
      p(w_1 | <s>)      = Π p(characters of w_1) · B_1
      p(w_i | …), i > 1 = (s_{i-1} / B_{i-1}) · Π p(" " and the characters of w_i … ) / p(" ") · B_i
                          (the line goes on, then the word's characters, then a boundary)
      p(</s> | …)       = e_n / B_n                 (p(</s> | <s>) for an empty line)
  The product over a line is p_char(line) exactly (a test). `<unk>` as a next word is the mass the
  character model leaves to words outside the candidate list, so its next-word distribution over
  the mixture's vocabulary sums to 1 as well.
- `NgramModel`: a KenLM model (ARPA or KenLM binary) through the `kenlm` Python module
  (`pip install 'wordlm[ngram]'`): `full_scores` for sentences (log10, converted to natural log),
  the `State` API for next words. Its vocabulary is read from the ARPA's unigrams, or from the word
  list a KenLM binary stores at its end (each word checked with `word in model`).

Not here: the interpolation and the OOV rule (`model.py`), the mixture file (`file.py`).
"""

from __future__ import annotations

import math
from pathlib import Path
import numpy as np

from wordlm.errors import ModelError
from wordlm.vocab import BOS_ID, EOS_ID, UNK

LN10 = math.log(10.0)
EOS = "</s>"


class Component:
    kind = ""
    path: str = ""
    open_vocabulary = False  # True: gives every spelled word a probability (character models)
    recurrent = False  # reads running-text contexts (`--context-tokens`)

    def words(self) -> list[str]:
        """The words the component knows (no markers), in its own order."""
        return []

    def knows(self, word: str) -> bool:
        raise NotImplementedError

    def token_logprobs(self, lines, bos=True, eos=True, contexts=None, trie=False) -> list[np.ndarray]:
        raise NotImplementedError

    def next_logprobs(self, histories, words) -> np.ndarray:
        raise NotImplementedError


# -- wordlm word models ---------------------------------------------------------------------------
class WordModel(Component):
    kind = "wordlm"

    def __init__(self, lm, path: str):
        self.lm, self.path = lm, path
        self.recurrent = lm.framing.recurrent

    def words(self):
        return self.lm.vocab.id_to_token[4:]

    def knows(self, word):
        return word in self.lm.vocab

    def _ids(self, words):
        return [EOS_ID if w == EOS else BOS_ID if w == "<s>" else i for w, i in zip(words, self.lm.vocab.encode(words))]

    def token_logprobs(self, lines, bos=True, eos=True, contexts=None, trie=False):
        """`trie`: read the lines through the reranking trie (each distinct prefix once: many
        hypotheses sharing prefixes), else the scorer's path (`lm.stream_logprobs`), so that a
        one-component mixture scores exactly as its model."""
        lm = self.lm
        streams, skips = [], []
        for k, words in enumerate(lines):
            ctx = self._ids(contexts[k]) if contexts is not None and self.recurrent else []
            stream = ctx + ([BOS_ID] if bos else []) + lm.vocab.encode(words) + ([EOS_ID] if eos else [])
            streams.append(stream)
            skips.append(len(ctx))
        if any(skips):
            scored = lm.stream_logprobs(streams, skips=skips)
        elif trie and getattr(lm, "runtime", None) is not None and lm.carries_state(max((len(s) for s in streams), default=1) - 1):
            from wordlm.rerank.trie import trie_token_logprobs

            scored = trie_token_logprobs(lm, streams)
        else:
            scored = lm.stream_logprobs(streams)
        out = []
        for words, lp in zip(lines, scored):
            n = len(words) + eos
            row = np.full(n, np.nan)
            row[n - len(lp):] = lp  # without <s> the first word is context only
            out.append(row)
        return out

    def next_logprobs(self, histories, words):
        lm = self.lm
        rows = lm.next_logprobs([[BOS_ID, *lm.vocab.encode(h)] for h in histories]).astype(np.float64)
        cols = np.array(self._ids(words), dtype=np.int64)
        return rows[:, cols]


# -- wordlm character models ----------------------------------------------------------------------
class CharModel(Component):
    kind = "wordlm"
    open_vocabulary = True

    def __init__(self, lm, path: str):
        self.lm, self.path = lm, path
        self.space = lm.vocab.encode([" "])[0]

    def knows(self, word):
        return True

    def _chars(self, text: str) -> list[int]:
        return self.lm.vocab.encode(self.lm.tokenizer.tokenize(text))

    def token_logprobs(self, lines, bos=True, eos=True, contexts=None, trie=False):
        from wordlm.inference.streams import stream_logprobs_pair

        space = self.space
        streams, alts, spans = [], [], []
        for words in lines:
            stream = [BOS_ID] if bos else []
            word_spans = []  # per word: (position of its first character, position of the boundary after it)
            for i, w in enumerate(words):
                if i:
                    stream.append(space)
                start = len(stream)
                stream.extend(self._chars(w))
                word_spans.append((start, len(stream)))
            stream.append(EOS_ID)  # always: the last word's boundary needs p(</s>) and p(" ") there
            alt = list(stream)  # at each boundary, the other boundary token
            for _, stop in word_spans:
                alt[stop] = EOS_ID if stream[stop] == space else space
            streams.append(stream)
            alts.append(alt)
            spans.append(word_spans)
        out = []
        for words, stream, word_spans, (lp, lp_alt) in zip(lines, streams, spans,
                                                          stream_logprobs_pair(self.lm, streams, alts)):
            # lp[t - 1] = ln p(stream[t] | stream[:t]); lp_alt[t - 1] the same for alt[t]
            row = np.full(len(words) + eos, np.nan)
            go_on = end = 0.0
            for i, (start, stop) in enumerate(word_spans):
                here, other = lp[stop - 1], lp_alt[stop - 1]
                s_lp, e_lp = (here, other) if stream[stop] == space else (other, here)
                boundary = np.logaddexp(s_lp, e_lp)
                if start >= 1:  # without <s> the first character (so the first word) is context only
                    row[i] = (go_on if i else 0.0) + float(np.sum(lp[start - 1 : stop - 1])) + boundary
                go_on, end = s_lp - boundary, e_lp - boundary
            if eos:
                if words:
                    row[-1] = end
                elif len(lp):
                    row[-1] = lp[-1]  # an empty line: p(</s> | <s>)
            out.append(row)
        return out

    def next_logprobs(self, histories, words):
        from wordlm.scoring.conditional import continuations

        lm, space = self.lm, self.space
        out = np.full((len(histories), len(words)), -np.inf)
        cands = [i for i, w in enumerate(words) if w not in (EOS, UNK)]
        for r, h in enumerate(histories):
            history = [BOS_ID, *self._chars(" ".join(h))]
            after = lm.next_logprobs([history])[0].astype(np.float64)
            if h:  # the line goes on (s / B), or ends (e / B)
                boundary = np.logaddexp(after[space], after[EOS_ID])
                go_on, end, lead = after[space] - boundary, after[EOS_ID] - boundary, [space]
            else:
                go_on, end, lead = 0.0, after[EOS_ID], []
            conts = [lead + self._chars(words[i]) for i in cands]
            with_space = continuations(lm, history, [c + [space] for c in conts])
            with_end = continuations(lm, history, [c + [EOS_ID] for c in conts])
            for i, a, b in zip(cands, with_space, with_end):
                out[r, i] = go_on + float(np.sum(a[len(lead):-1])) + np.logaddexp(a[-1], b[-1])
            if EOS in words:
                out[r, words.index(EOS)] = end
            if UNK in words:  # the mass left to every word outside the list
                k = words.index(UNK)
                listed = float(np.logaddexp.reduce(np.delete(out[r], k))) if len(words) > 1 else -np.inf
                out[r, k] = math.log(-math.expm1(listed)) if listed < 0 else -np.inf
        return out


# -- KenLM n-gram models --------------------------------------------------------------------------
BINARY_MAGIC = b"mmap lm http://kheafield.com/code"


class NgramModel(Component):
    kind = "kenlm"

    def __init__(self, path: str):
        self.path = str(path)
        kenlm = import_kenlm(self.path)
        config = kenlm.Config()
        config.arpa_complain = 2  # lm::ngram::Config::NONE: no warnings on stderr while loading
        config.show_progress = False
        try:
            self.model = kenlm.Model(self.path, config)
        except Exception as e:  # kenlm raises OSError or RuntimeError with the parser's message
            message = " ".join(str(e).split())[:200] or type(e).__name__
            raise ModelError(f"{self.path}: not an ARPA or KenLM binary n-gram file ({message})") from None
        self.kenlm = kenlm
        self._words = [w for w in read_ngram_vocabulary(self.path) if w in self.model]
        self._known = set(self._words)

    @property
    def order(self) -> int:
        return int(self.model.order)

    def words(self):
        return self._words

    def knows(self, word):
        return word in self._known

    def token_logprobs(self, lines, bos=True, eos=True, contexts=None, trie=False):
        out = []
        full_scores = self.model.full_scores
        for words in lines:
            lp = [s[0] * LN10 for s in full_scores(" ".join(words), bos=bos, eos=eos)]
            row = np.array(lp, dtype=np.float64)
            if not bos and len(words):
                row[0] = np.nan  # context only, as for the neural components
            out.append(row)
        return out

    def next_logprobs(self, histories, words):
        kenlm, model = self.kenlm, self.model
        out = np.empty((len(histories), len(words)))
        for r, h in enumerate(histories):
            state, nxt = kenlm.State(), kenlm.State()
            model.BeginSentenceWrite(state)
            for w in h:
                model.BaseScore(state, w, nxt)
                state, nxt = nxt, state
            scratch = kenlm.State()
            out[r] = [model.BaseScore(state, w, scratch) for w in words]
        return out * LN10


def import_kenlm(path: str):
    try:
        import kenlm
    except ImportError:
        raise ModelError(f"{path}: reading an n-gram model needs the kenlm module, which is not installed: "
                         "pip install 'wordlm[ngram]' (or pip install kenlm)") from None
    return kenlm


def read_ngram_vocabulary(path: str) -> list[str]:
    """The words of an n-gram file (no `<s>`, `</s>`, `<unk>`): an ARPA file's unigrams, or the word
    list a KenLM binary keeps after its tables (index order, from `<unk>` on)."""
    with open(path, "rb") as f:
        head = f.read(len(BINARY_MAGIC))
    markers = {"<s>", "</s>", UNK}
    if head == BINARY_MAGIC:
        data = Path(path).read_bytes()
        at = data.rfind(b"<unk>\x00")
        if at < 0:
            return []
        words = data[at:].split(b"\x00")
        return [w.decode("utf-8", "replace") for w in words if w and w.decode("utf-8", "replace") not in markers]
    out, in_unigrams = [], False
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            s = line.strip()
            if s.startswith("\\"):
                if in_unigrams:
                    break
                in_unigrams = s == "\\1-grams:"
                continue
            if in_unigrams and s:
                parts = s.split()
                if len(parts) >= 2 and parts[1] not in markers:
                    out.append(parts[1])
    return out


def load_component(path: Path, kind: str, where: str) -> Component:
    """The component at `path`; errors name the mixture file (`where`) and the component."""
    if kind == "kenlm":
        return NgramModel(str(path))
    from wordlm.saving import load

    lm = load(path)
    if lm.reverse:
        raise ModelError(f"{where}: {path}: a --reverse model reads lines backwards; per-word interpolation needs "
                         "forward models (combine it log-linearly instead: rerank/tune --lm)")
    if not lm.boundaries:
        raise ModelError(f"{where}: {path}: a model without boundaries cannot predict a line's first word or </s>; "
                         "a mixture needs models trained with boundaries")
    if lm.tokenizer.mode == "char":
        return CharModel(lm, str(path))
    return WordModel(lm, str(path))
