"""The object API of a loaded model, KenLM-style: a handful of methods, each a thin call into the algorithms.

    import wordlm
    lm = wordlm.load("goose")
    lm.score("jack and jill")                 # ln p(jack and jill </s> | <s>)
    lm.full_scores("jack and jill")           # [TokenScore(token="jack", logprob=-3.1, oov=False), …, "</s>"]
    lm.perplexity("valid.txt").ppl            # an existing file, or a list of lines (a sentence: ["…"])
    lm.words[lm.eos_id], lm.word_ids(["jack", "zebra"])   # id -> word ("</s>"), words -> ids (<unk> for OOVs)
    lm.next_words("jack and", top=3)          # [NextWord("jill", -0.2), …]
    rows = lm.begin(2); lp, rows, oov = lm.advance(rows, ["jack", "jill"])   # incremental, batched
    rows = lm.extend(rows, parents=[0, 0, 1], ids=lm.word_ids(["and", "went", "came"]))  # a beam step

Conventions, everywhere (README.md, "Conventions"): natural log; a text is one sentence;
`<s>` is context only, never predicted nor counted; `</s>` is predicted and counted (`eos=True`);
`full_scores` yields `TokenScore`s whose fields are read by name (`token`, `logprob`, `oov`: not
KenLM's tuple order; `wordlm.kenlm_compat` has KenLM's exact shapes, log10);
`bos=False` makes the first word context only; `oov="unk"` scores a word outside the vocabulary as
`<unk>`, `oov="skip"` leaves it out (SRILM). Lists in, lists out, batched underneath: a method given
a list of texts makes batched model calls and returns a list. A string where a list of lines
belongs is refused (it would otherwise be read as one line per character).

Not here: the algorithms (`scoring/`, `decoding/`, `rerank/`), the network (`inference/`).
"""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import numpy as np

from wordlm.inference.rows import Rows
from wordlm.text import lines_argument  # noqa: F401 (the API's argument check; its home is text.py)
from wordlm.vocab import BOS_ID, EOS, EOS_ID, UNK_ID


class TokenScore(NamedTuple):
    """One token of `full_scores`, read by name: `token` (the word as the tokenizer gave it, `</s>`
    last), `logprob` (ln p(token | what precedes it), natural log; None where it is context only or a
    skipped OOV), `oov` (True where the word is not in the vocabulary, scored as `<unk>`).

    The tuple order is NOT KenLM's `(prob, ngram_length, oov)` (log10): `for prob, length, oov in
    lm.full_scores(s)` would bind the token string to `prob`. Read the fields by name, or use the
    KenLM drop-in (`wordlm.kenlm_compat.Model`), which yields KenLM's tuples."""

    token: str
    logprob: float | None
    oov: bool


# The rows of incremental scoring (`begin`, `extend`, `advance`): one type, owned by the inference core.
States = Rows


class LanguageModelAPI:
    """The user-facing methods of `LanguageModel` (mixed in; the primitives live in `lm.py`)."""

    # -- scores ----------------------------------------------------------------------------------
    def score(self, text: str | Sequence[str], *, bos: bool = True, eos: bool = True, oov: str = "unk"):
        """ln p(w1 … wn </s> | <s>) of one sentence (float), or of each sentence of a list (list of floats)."""
        if isinstance(text, str):
            return self.score_lines([text], bos=bos, eos=eos, oov=oov)[0].logprob
        return [s.logprob for s in self.score_lines(text, bos=bos, eos=eos, oov=oov)]

    def score_lines(self, texts: Sequence[str], *, bos: bool = True, eos: bool = True, oov: str = "unk",
                    context_tokens: int = 0):
        """`SentenceScore` of each line (logprob, per-token logprobs, words, OOVs, ppl), batched.

        `context_tokens` > 0: running text, each line read after the lines before it (`running_text.py`).
        """
        from wordlm.scoring import Options, score_stream

        texts = lines_argument(texts)
        return [s for _, s in score_stream(self, enumerate(texts, 1), Options(bos, eos, oov),
                                           context_tokens=context_tokens)]

    def full_scores(self, text: str | Sequence[str], *, bos: bool = True, eos: bool = True, oov: str = "unk"):
        """Per-token scores, `</s>` last when `eos`: a list of `TokenScore` (a list of lists for a list).

        The logprobs that are not None sum to `score(text)` (natural log).
        """
        single = isinstance(text, str)
        scores = self.score_lines([text] if single else text, bos=bos, eos=eos, oov=oov)
        out = [[TokenScore(t, None if np.isnan(lp) else float(lp), o) for t, lp, o in zip(s.tokens, s.logprobs, s.oov)]
               for s in scores]
        return out[0] if single else out

    def perplexity(self, lines_or_file, *, bos: bool = True, eos: bool = True, oov: str = "unk",
                   context_tokens: int = 0):
        """The `Summary` of a corpus (`.ppl`, `.ppl1`, `.logprob`, counts): a list of lines, or a path
        (a `pathlib.Path`, or a string naming an existing file; plain, `.gz`, `-` for stdin).
        Perplexity from totals, SRILM's formulas. A string that names no file is refused (InputError):
        it is never read as text, and text is never read as a file name — pass `[text]` to score a
        sentence (KenLM's `perplexity(sentence)` is `kenlm_compat.Model.perplexity`)."""
        from wordlm.errors import InputError
        from wordlm.scoring import Options, score_stream, summarize
        from wordlm.text import read_lines

        if isinstance(lines_or_file, str) and lines_or_file != "-" and not os.path.exists(lines_or_file):
            shown = lines_or_file if len(lines_or_file) <= 60 else lines_or_file[:57] + "..."
            raise InputError(f"perplexity: {shown!r} is not an existing file; to score text, pass a list of "
                             "lines: lm.perplexity([text])")
        if isinstance(lines_or_file, (str, os.PathLike)):
            numbered = read_lines(lines_or_file)
        else:
            numbered = enumerate(lines_argument(lines_or_file, "lines"), 1)
        options = Options(bos, eos, oov)
        return summarize(self, (s for _, s in score_stream(self, numbered, options, context_tokens=context_tokens)),
                         options)

    # -- next words ------------------------------------------------------------------------------
    def next_words(self, prompt: str | Sequence[str], top: int | None = 10, prefix: str | None = None):
        """The most likely next tokens after a prompt (the beginning of a line): a list of `NextWord`
        (word, logprob, prob), most likely first, `</s>` and `<unk>` included; over the whole list the
        probabilities sum to 1. `prefix`: only words starting with those letters (completing a word
        being typed), ranked by the same probabilities. A list of prompts gives a list of lists,
        from one batched model call."""
        from wordlm.scoring import next_words_batch

        if isinstance(prompt, str):
            return next_words_batch(self, [prompt], top, prefix)[0]
        return next_words_batch(self, lines_argument(prompt, "prompts"), top, prefix)

    def candidates(self, prompt: str, words: Sequence[str]):
        """ln p(candidate | prompt) of each candidate continuation (one or more words; `</s>` may end
        one), as `NextWord`s in the order given."""
        from wordlm.scoring import NextWord, continuation_logprobs

        words = lines_argument(words, "words")
        return [NextWord(w, lp) for w, lp in zip(words, continuation_logprobs(self, prompt, words))]

    def fill(self, text: str, top: int | None = 10, backward=None):
        """Words for the one `___` in `text`, ranked by the filled sentence's log-probability (`Filled`:
        word, text, logprob, prob = p(word | rest)); `backward`: a `--reverse` model to average with."""
        from wordlm.scoring import fill

        return fill(self, text, top, backward)

    # -- generation ------------------------------------------------------------------------------
    def generate(self, prompt: str | Sequence[str], options=None, **overrides):
        """Continuations (`Hypothesis`: text, continuation, logprob, score) of a prompt, or a list of
        lists for a list of prompts decoded side by side. `options`: a `DecodeOptions`; keyword
        arguments override its fields (strategy="beam", beam_size=8, num=3, seed=0, …)."""
        from wordlm.decoding import generate_batch

        if isinstance(prompt, str):
            return generate_batch(self, [prompt], options, **overrides)[0]
        return generate_batch(self, lines_argument(prompt, "prompts"), options, **overrides)

    # -- reranking -------------------------------------------------------------------------------
    def rerank(self, nbest, *, lm_weight: float = 1.0, word_bonus: float = 0.0, am: dict | None = None,
               all_hyps: bool = False, fmt: str = "auto") -> list[dict]:
        """Rerank n-best lists: total = Σ am_f·h[f] + lm_weight·ln p(h) + word_bonus·words(h).

        `nbest`: a path (any format `wordlm rerank` reads) or a list of `nbest.Utterance`; `am`:
        {field: weight}, default {"score": 1}. Returns the records `wordlm rerank --json` prints.
        """
        from wordlm.nbest import read_nbest
        from wordlm.rerank import record, score_nbest

        am = dict(am or {"score": 1.0})
        utterances = read_nbest(nbest, fmt, required=am) if isinstance(nbest, (str, os.PathLike)) else list(nbest)
        return [record(s, lm_weight, word_bonus, all_hyps) for s in score_nbest(self, utterances, am)]

    # -- the model interface (`protocol.py`) -----------------------------------------------------
    eos_id = EOS_ID
    unk_id = UNK_ID

    @property
    def words(self) -> list[str]:
        """id -> word (`words[eos_id] == "</s>"`, `words[unk_id] == "<unk>"`); do not modify."""
        return self.vocab.id_to_token

    def word_ids(self, words: Sequence[str]) -> np.ndarray:
        """<int32>[len(words)]: ids of words already tokenized; `"</s>"` is `eos_id` (with boundaries),
        a word outside the vocabulary `unk_id`. No model call."""
        eos = self.boundaries
        return np.array([EOS_ID if eos and w == EOS else i for w, i in zip(words, self.vocab.encode(words))],
                        dtype=np.int32)

    def is_oov(self, word: str) -> bool:
        """True for a word read as `<unk>` (a literal `<unk>` included; `</s>` is not an OOV)."""
        return not (self.boundaries and word == EOS) and self.vocab.is_oov(word)

    def tokenize(self, text: str) -> list[str]:
        """The words of a line as `score` reads them (reading order: reversed for a backward model)."""
        return self.tokens(text)

    @property
    def exact_state(self) -> bool:
        """True when carried state equals re-reading for histories of any length."""
        return self.carries_state(1 << 30)

    # Declared capabilities (`protocol.py`), never probed: `scores_text` True for a model that scores
    # lines from their words (a mixture: each component tokenizes, spells or looks up words itself),
    # which consumers hand texts (`score_sentences`, `text_logprobs`, `fill_texts`) instead of id
    # streams; `has_network` True for one network with compiled functions under a runtime
    # (`lm.runtime`: TensorFlow's Keras network or ONNX Runtime's graph; `lm.compiled`: the compiled
    # decoding loops, the trie's level step, export).
    scores_text = False
    has_network = False
    # True for a model whose empty history predicts (an n-gram model: its unigrams, KenLM's null
    # context); else a row with an empty history predicts nothing (NaN) and its first word is context only
    predicts_from_nothing = False

    # None: a row's future depends on its whole history; k: only on its last k ids (an n-gram model
    # of order k + 1), so `Rows.key` is that context (`inference/rows.py`)
    row_context: int | None = None

    def begin(self, n: int = 1, *, bos: bool = True) -> Rows:
        """`n` rows at the start of a line (after `<s>` when the model has boundaries and `bos`)."""
        start = (BOS_ID,) if self.boundaries and bos else ()
        return self.read_rows([start] * n)

    def extend(self, rows: Rows, parents: Sequence[int], ids: Sequence[int]) -> Rows:
        """Row r of the result = row `parents[r]` of `rows` + word id `ids[r]`: one batched model call
        (one LSTM step while carried state is exact, else the histories re-read)."""
        parents = np.asarray(parents, dtype=np.int64).reshape(-1)
        ids = np.asarray(ids, dtype=np.int32).reshape(-1)
        if len(parents) != len(ids):
            raise ValueError(f"extend: {len(parents)} parents for {len(ids)} ids")
        if not len(ids):
            return Rows((), np.zeros((0, self.vocab_size), dtype=np.float32), None, self.row_context)
        if parents.min() < 0 or parents.max() >= len(rows):
            raise IndexError(f"extend: parent index out of range for {len(rows)} rows")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"extend: word id out of range [0, {self.vocab_size})")
        longest = int(rows.lengths[parents].max()) + 1
        if rows.state is not None and self.carries_state(longest):
            lp, state = self.step(rows.state[parents], ids)
            return Rows.extended(rows, parents, ids, lp, state)
        out = Rows.extended(rows, parents, ids, None, None)
        return self.read_rows(out.histories)

    def read_rows(self, histories: Sequence[Sequence[int]], *, carry_state: bool = True) -> Rows:
        """Rows after reading whole histories (ids, `<s>` first where the model has boundaries), in one
        batched call; an empty history predicts nothing (NaN). `carry_state=False`: keep no LSTM state
        (every `extend` re-reads the histories; for tests and benchmarks of that path)."""
        histories = [tuple(h) for h in histories]
        rows = [i for i, h in enumerate(histories) if h or self.predicts_from_nothing]
        logprobs = np.full((len(histories), self.vocab_size), np.nan, dtype=np.float32)
        carry = carry_state and self.carries_state(max(map(len, histories), default=0))
        state = np.zeros((len(histories), self.state_size), dtype=np.float32) if carry else None
        if rows:
            read = [list(histories[i]) for i in rows]
            if carry:
                logprobs[rows], state[rows] = self.start(read)
            else:
                logprobs[rows] = self.next_logprobs(read)
        return Rows(histories, logprobs, state, self.row_context)

    def advance(self, states: Rows, words: Sequence[str]) -> tuple[np.ndarray, Rows, np.ndarray]:
        """Read one word per row: (<float64>[rows] ln p(word | row's history), the new rows,
        <bool>[rows] OOV flags: True where the word was read and scored as `<unk>`).

        Each word goes through the model's tokenizer; a word it would change or split (`"Jack"` for a
        lower-casing tokenizer, `"jack and"`, `""`) is refused (ValueError): tokenize the text first
        (`lm.tokenize`). `"</s>"` is the end of the line. A row whose history is empty (no boundaries,
        or `bos=False`) scores NaN: its first word is context only. Summing the logprobs of a
        sentence's words and `</s>` gives `score(sentence)` (to 1e-5). Ids in: `extend`.
        """
        words = lines_argument(words, "words")
        if len(words) != len(states):
            raise ValueError(f"advance: {len(words)} words for {len(states)} rows")
        for w in words:
            if w != EOS and self.tokenize(w) != [w]:
                raise ValueError(f"advance: {w!r} is not one word as this model reads it "
                                 f"(its tokenizer gives {self.tokenize(w)!r}); pass lm.tokenize(text)'s words")
        ids = self.word_ids(words)
        oov = np.array([self.is_oov(w) for w in words], dtype=bool)
        logprobs = states.logprobs[np.arange(len(ids)), ids].astype(np.float64)
        return logprobs, self.extend(states, np.arange(len(ids)), ids), oov

    # -- files -----------------------------------------------------------------------------------
    def describe(self) -> dict:
        """What `wordlm info --json` says of this model: framing, tokenizer, vocabulary, sizes,
        parameters, training corpus and validation perplexity (a JSON-ready dict)."""
        from wordlm.describe import describe
        from wordlm.model_dir import model_config

        return describe(model_config(self))

    def save(self, path):
        """Save as one model directory (atomically); `wordlm.load(path)` gives identical scores."""
        from wordlm.model_dir import save

        return save(self, path)

    def export(self, path, top: int = 10, overwrite: bool = False) -> dict:
        """Write a TensorFlow SavedModel with `score` and `next_words` signatures (checked against this model)."""
        from wordlm.export import export

        return export(self, path, top, overwrite)  # a model loaded under ONNX Runtime: reloaded under TensorFlow
