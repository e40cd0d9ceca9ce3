"""A line's scores: `<s> w1 … wn </s>` read by the model, per-token log-probabilities, counts.

`score_sentences` scores lines in one batched pass (`lm.stream_logprobs`, the one scoring path);
`score_stream` scores `(line number, text)` pairs of a file a batch at a time, in bounded memory,
optionally as running text. The conventions (what `bos`, `eos`, `oov` do, what W, S, O count) are
in the package docstring (`wordlm.scoring`). Not here: corpus totals (`summary.py`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Iterable, Iterator

import numpy as np

from wordlm.errors import InputError, WordlmError
from wordlm.text import _KERAS_TABLE, READ_LINES, lines_argument
from wordlm.running_text import RunningContext, check_context
from wordlm.vocab import BOS_ID, EOS_ID, UNK_ID

OOV_MODES = ("unk", "skip")


@dataclass(frozen=True)
class Options:
    """How sentences are scored: `<s>` before, `</s>` after, and what an OOV word adds."""

    bos: bool = True
    eos: bool = True
    oov: str = "unk"

    def __post_init__(self):
        if self.oov not in OOV_MODES:
            raise InputError(f"unknown OOV mode {self.oov!r}: expected one of {', '.join(OOV_MODES)}")


def perplexity_of(logprob: float, count: int) -> float | None:
    """exp(-logprob / count) (natural log); `inf` where that overflows a float, None for no tokens."""
    if count <= 0:
        return None
    exponent = -logprob / count
    return math.exp(exponent) if exponent < 709.0 else math.inf


@dataclass
class SentenceScore:
    """One line's scores. `tokens` are in the model's reading order and end with `</s>` when the line
    has an end marker (boundaries, `eos`); `logprobs[k]` is ln p(tokens[k] | what precedes it), NaN
    where the token is context only (the first `context` tokens) or a skipped OOV."""

    text: str
    tokens: list[str]
    logprobs: np.ndarray  # <float64>[len(tokens)]
    oov: list[bool]
    words: int
    chars: int | None = None  # character models: characters of the line
    ends: int = 0  # 1 when `</s>` was predicted
    context: int = 0  # leading tokens that are context only (a skipped OOV is NaN after them)
    logprob: float = field(init=False)
    scored: int = field(init=False)

    def __post_init__(self):
        done = ~np.isnan(self.logprobs)
        self.logprob = float(self.logprobs[done].sum())
        self.scored = int(done.sum())

    @classmethod
    def _made(cls, text, tokens, logprobs, oov, words, chars, ends, context, logprob, scored) -> "SentenceScore":
        """A SentenceScore whose `logprob` and `scored` the caller computed (`score_sentences`, for a
        whole batch at once): the same object `SentenceScore(...)` makes, without a numpy call per line."""
        self = object.__new__(cls)
        self.__dict__.update(text=text, tokens=tokens, logprobs=logprobs, oov=oov, words=words, chars=chars,
                             ends=ends, context=context, logprob=logprob, scored=scored)
        return self

    @property
    def oovs(self) -> int:
        return int(sum(self.oov))

    @property
    def ppl(self) -> float | None:
        """exp(-L / (tokens scored)); word-level `exp(-L / (W + ends))` for a character model."""
        n = self.scored if self.chars is None else self.words + self.ends
        return perplexity_of(self.logprob, n)

    def to_json(self, per_token: bool = False) -> dict:
        out = {"text": self.text, "logprob": self.logprob, "words": self.words, "oovs": self.oovs, "ppl": self.ppl}
        if self.chars is not None:
            out["chars"] = self.chars
        if per_token:
            out["tokens"] = [
                {"token": t, "logprob": None if math.isnan(lp) else float(lp), "oov": o}
                for t, lp, o in zip(self.tokens, self.logprobs, self.oov)
            ]
        return out


class ScoredLines(Sequence):
    """The `SentenceScore`s of a batch of lines (a sequence), with their counts as arrays for adding
    up at once: `words`, `oovs`, `scored`, `ends`, `chars` <int64>[lines], `logprobs` <float64>[lines].

    The `SentenceScore` objects are made when one is first asked for: a corpus total (`Summary.add_all`,
    `wordlm perplexity`) reads the arrays and makes none.
    """

    def __init__(self, make, n: int, words, oovs, scored, ends, chars, logprobs):
        self._make, self._items, self._n = make, None, n
        self.words, self.oovs, self.scored, self.ends, self.chars, self.logprobs = (
            words, oovs, scored, ends, chars, logprobs)

    @classmethod
    def of(cls, scores: Sequence[SentenceScore]) -> "ScoredLines":
        """The `ScoredLines` of sentence scores made elsewhere (a mixture's)."""
        scores = list(scores)

        def counts(get, dtype=np.int64):
            return np.fromiter(map(get, scores), dtype=dtype, count=len(scores))

        return cls(lambda: scores, len(scores), counts(lambda x: x.words), counts(lambda x: x.oovs),
                   counts(lambda x: x.scored), counts(lambda x: x.ends), counts(lambda x: x.chars or 0),
                   counts(lambda x: x.logprob, np.float64))

    def _all(self) -> list:
        if self._items is None:
            self._items, self._make = self._make(), None
        return self._items

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):
        return self._all()[index]

    def __iter__(self):
        return iter(self._all())

    def __eq__(self, other):
        return list(self) == list(other) if isinstance(other, (list, ScoredLines)) else NotImplemented

    def __repr__(self) -> str:
        return f"ScoredLines({self._all()!r})"


def score_sentences(lm, texts: Sequence[str], options: Options = Options(),
                    contexts: Sequence[Sequence[int]] | None = None, max_batch: int | None = None) -> ScoredLines:
    """Score each line of `texts` (a list: one sentence per line) under `options`, in batched passes
    of at most `max_batch` lines (`lm.stream_logprobs`; default: 64, more for short lines).

    `contexts[i]` (recurrent models): ids read before line i, context only (`running_text.py`).
    Returns a sequence of `SentenceScore`, one per line (`ScoredLines`, which also holds the counts
    as arrays). The work per line is the tokenizing and encoding; everything after it (the streams,
    placing each token's score, context-only and skipped positions, the sums, the counts) is done on
    the whole batch at once, so a file of one-word lines costs little more per token than one of
    long lines (`benchmarks/bench_short_lines.py`).
    """
    texts = lines_argument(texts)
    if lm.scores_text:  # a mixture scores words from the text itself (`wordlm.mixture`)
        return ScoredLines.of(lm.score_sentences(texts, options, contexts, max_batch))
    n_lines = len(texts)
    char = lm.tokenizer.mode == "char"
    first = lm.framing.first_target
    head = 1 if lm.boundaries and options.bos else 0
    end = 1 if lm.boundaries and options.eos else 0
    tokens_of, encode = _tokens_function(lm), _encode_function(lm.vocab)
    token_lists = [tokens_of(text) for text in texts]
    ids = np.fromiter(encode(itertools.chain.from_iterable(token_lists)), dtype=np.int32)
    n_ids = np.fromiter(map(len, token_lists), dtype=np.int64, count=n_lines)
    ctx_lengths = (np.fromiter(map(len, contexts), dtype=np.int64, count=n_lines) if contexts is not None
                   else np.zeros(n_lines, dtype=np.int64))
    # The streams, packed: line i reads its context, `<s>`, its ids, `</s>`.
    lengths = ctx_lengths + head + n_ids + end
    starts = np.zeros(n_lines + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    packed = np.empty(int(starts[-1]), dtype=np.int32)
    packed[_spread(starts[:-1] + ctx_lengths + head, n_ids)] = ids
    if head:
        packed[starts[:-1] + ctx_lengths] = BOS_ID
    if end:
        packed[starts[1:] - 1] = EOS_ID
    if ctx_lengths.any():
        packed[_spread(starts[:-1], ctx_lengths)] = np.fromiter(itertools.chain.from_iterable(contexts),
                                                                dtype=np.int32)
    skips = np.maximum(ctx_lengths, first - 1)  # positions of each stream not scored
    lp, lp_offsets = lm.stream_logprobs_packed(packed, starts, max_batch, skips if ctx_lengths.any() else None)
    # Token k of line i (its tokens, then `</s>`) is predicted at score index len(ctx) + head + k - 1 - skip:
    # the first `lead[i]` tokens are context only (NaN), the rest are the line's scores in order.
    n_tokens = n_ids + end
    lead = np.minimum(n_tokens, np.maximum(0, skips + 1 - ctx_lengths - head))
    token_offsets = np.zeros(n_lines + 1, dtype=np.int64)
    np.cumsum(n_tokens, out=token_offsets[1:])
    per_token = np.full(int(token_offsets[-1]), np.nan)
    per_token[_spread(token_offsets[:-1] + lead, np.diff(lp_offsets))] = lp
    oov_flat = np.zeros(len(per_token), dtype=bool)  # every OOV word (and a literal <unk>) encodes as <unk>
    oov_flat[_spread(token_offsets[:-1], n_ids)] = ids == UNK_ID
    if options.oov == "skip":
        per_token[oov_flat] = np.nan
    logprobs, scored = _line_sums(per_token, token_offsets)
    ended = np.zeros(n_lines, dtype=bool)
    if end:
        ended = n_tokens > 0
        ended[ended] = ~np.isnan(per_token[token_offsets[1:][ended] - 1])
    line_tokens = n_ids  # tokens of each line, without </s>
    words = np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=n_lines) if char else line_tokens
    oovs = np.bincount(np.repeat(np.arange(n_lines), n_tokens), weights=oov_flat, minlength=n_lines).astype(np.int64)

    def make() -> list[SentenceScore]:
        oov_flags = oov_flat.tolist()
        made = SentenceScore._made
        return [made(text, tokens + ["</s>"] if end else tokens, per_token[lo:hi], oov_flags[lo:hi],
                     w, n if char else None, e, c, lp, k)
                for text, tokens, lo, hi, n, w, e, c, lp, k in zip(
                    texts, token_lists, token_offsets[:-1].tolist(), token_offsets[1:].tolist(),
                    line_tokens.tolist(), words.tolist(), ended.astype(int).tolist(), lead.tolist(),
                    logprobs.tolist(), scored.tolist())]

    return ScoredLines(make, n_lines, words, oovs, scored, ended.astype(np.int64),
                       line_tokens if char else np.zeros(n_lines, dtype=np.int64), logprobs)


def _spread(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """<int64>[sum(counts)]: starts[0], starts[0]+1, …, starts[0]+counts[0]-1, starts[1], … (runs laid out)."""
    total = int(counts.sum())
    begin = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=begin[1:])
    return np.repeat(starts - begin, counts) + np.arange(total)


def _line_sums(per_token: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(<float64>[lines] sum of each line's non-NaN scores, <int64>[lines] how many there are).

    Each sum is what `np.sum` gives for that line alone, to the last bit: lines with the same
    number of scores are summed together as the rows of one array (numpy reduces each row of a
    contiguous array exactly as it reduces a 1-D array; `np.add.reduceat` would not).
    """
    lines = len(offsets) - 1
    done = ~np.isnan(per_token)
    owner = np.repeat(np.arange(lines), np.diff(offsets))[done]
    values = per_token[done]
    scored = np.bincount(owner, minlength=lines)
    starts = np.zeros(lines, dtype=np.int64)
    np.cumsum(scored[:-1], out=starts[1:])
    sums = np.zeros(lines, dtype=np.float64)
    for k in np.unique(scored).tolist():
        if k:
            rows = np.flatnonzero(scored == k)
            sums[rows] = values[starts[rows][:, None] + np.arange(k)].sum(axis=1)
    return sums, scored


def _tokens_function(lm):
    """`lm.tokens` for one line, the common case inlined (the keras tokenizer on a line without
    a typed `<s>`, `</s>` or `<unk>` is one `translate` and one `split`: the same tokens)."""
    tokenizer, reverse = lm.tokenizer, lm.reverse
    if tokenizer.mode != "keras":
        return lm.tokens
    lower = tokenizer.lower

    def tokens(text: str) -> list[str]:
        if "<" in text:
            return lm.tokens(text)
        out = (text.lower() if lower else text).translate(_KERAS_TABLE).split()
        return out[::-1] if reverse else out

    return tokens


def _encode_function(vocab):
    get = vocab.token_to_id.get

    def encode(tokens) -> list[int]:
        """`vocab.encode`: anything not in the vocabulary (and any reserved marker) is `<unk>`."""
        return [i if (i := get(t, UNK_ID)) > EOS_ID else UNK_ID for t in tokens]

    return encode


def score_stream(lm, numbered: Iterable[tuple[int, str]], options: Options = Options(),
                 batch_size: int = READ_LINES, context_tokens: int = 0) -> Iterator[tuple[int, SentenceScore]]:
    """Score `(line_number, text)` pairs `batch_size` lines at a time, yielding them in order.

    `context_tokens` > 0: running text; each line is read after the lines before it in `numbered`
    (`context_ids`: whole lines, up to that many tokens with the line). Memory is bounded by one
    batch. When reading fails (a `WordlmError`, e.g. invalid UTF-8), the lines read before it are
    still scored and yielded, then the error is raised.
    """
    for numbers, scores in score_stream_batches(lm, numbered, options, batch_size, context_tokens):
        yield from zip(numbers, scores)


def score_stream_batches(lm, numbered: Iterable[tuple[int, str]], options: Options = Options(),
                         batch_size: int = READ_LINES, context_tokens: int = 0
                         ) -> Iterator[tuple[list[int], "ScoredLines"]]:
    """`score_stream` a batch at a time: (line numbers, their `ScoredLines`) per `batch_size` lines."""
    running = None
    if context_tokens:
        check_context(lm, options.bos, context_tokens)
        running = RunningContext(context_tokens)
    items = iter(numbered)
    while True:
        batch: list[tuple[int, str]] = []
        error = None
        try:
            batch.extend(itertools.islice(items, batch_size))  # keeps what was read before an error
        except WordlmError as e:
            error = e
        if batch:
            texts = [t for _, t in batch]
            contexts = None
            if running:
                contexts = [running.before(lm.vocab.encode(lm.tokens(t))) for t in texts]
            yield [n for n, _ in batch], score_sentences(lm, texts, options, contexts=contexts)
        if error is not None:
            raise error
        if len(batch) < batch_size:
            return


def score_files(lm, paths: Sequence[str], options: Options = Options(), batch_size: int = READ_LINES,
                shard: tuple[int, int] | None = None, context_tokens: int = 0) -> Iterator[SentenceScore]:
    """The scores of every line of the files (paths, `.gz`, `-`), in order, `batch_size` lines at a time.

    `shard` (k, n): only lines k, k + n, k + 2n, … (0-based, numbered across the files). With
    `context_tokens`, each file is running text of its own (a file's first line has no context).
    """
    for batch in score_file_batches(lm, paths, options, batch_size, shard, context_tokens):
        yield from batch


def score_file_batches(lm, paths: Sequence[str], options: Options = Options(), batch_size: int = READ_LINES,
                       shard: tuple[int, int] | None = None, context_tokens: int = 0) -> Iterator["ScoredLines"]:
    """`score_files` a batch at a time (`ScoredLines` of at most `batch_size` lines, in order)."""
    from wordlm.text import read_lines

    if context_tokens:
        if shard is not None:
            raise InputError("context_tokens reads each line after the lines before it: not with a shard")
        check_context(lm, options.bos, context_tokens)
        for path in paths:
            for _, scores in score_stream_batches(lm, read_lines(path), options, batch_size, context_tokens):
                yield scores
        return
    numbered = itertools.chain.from_iterable(read_lines(path) for path in paths)
    if shard is not None:
        numbered = itertools.islice(numbered, shard[0], None, shard[1])
    for _, scores in score_stream_batches(lm, numbered, options, batch_size):
        yield scores
