"""A line's scores: `<s> w1 … wn </s>` read by the model, per-token log-probabilities, counts.

`score_sentences` scores lines in one batched pass (`lm.stream_logprobs`, the one scoring path);
`score_stream` scores `(line number, text)` pairs of a file a batch at a time, in bounded memory,
optionally as running text. The conventions (what `bos`, `eos`, `oov` do, what W, S, O count) are
in the package docstring (`wordlm.scoring`). Not here: corpus totals (`summary.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

from wordlm.api import lines_argument
from wordlm.errors import InputError, WordlmError
from wordlm.inference.streams import MAX_BATCH
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


def score_sentences(lm, texts: Sequence[str], options: Options = Options(),
                    contexts: Sequence[Sequence[int]] | None = None, max_batch: int = MAX_BATCH) -> list[SentenceScore]:
    """Score each line of `texts` (a list: one sentence per line) under `options`, in batched passes
    of at most `max_batch` lines (`lm.stream_logprobs`).

    `contexts[i]` (recurrent models): ids read before line i, context only (`running_text.py`).
    """
    texts = lines_argument(texts)
    if hasattr(lm, "score_sentences"):  # a mixture scores words from the text itself (`wordlm.mixture`)
        return lm.score_sentences(texts, options, contexts, max_batch)
    prepared = [_prepare(lm, text, options) for text in texts]
    contexts = [list(c) for c in contexts] if contexts is not None else [[] for _ in texts]
    streams = [ctx + p[0] for ctx, p in zip(contexts, prepared)]
    first, char = lm.framing.first_target, lm.tokenizer.mode == "char"
    skips = [max(len(ctx), first - 1) for ctx in contexts]  # positions of each stream not scored
    results = []
    for text, ctx, skip, (_stream, head, tokens, oov, end), lp in zip(
        texts, contexts, skips, prepared,
        lm.stream_logprobs(streams, batch_size=max_batch, skips=skips if any(contexts) else None),
    ):
        per_token = np.full(len(tokens), np.nan)
        for k in range(len(tokens)):
            t = len(ctx) + head + k - 1 - skip  # the position predicting token k, in `lp`
            if t >= 0 and not (options.oov == "skip" and oov[k]):
                per_token[k] = lp[t]
        n = len(tokens) - end  # tokens of the line, without </s>
        results.append(SentenceScore(
            text=text, tokens=tokens, logprobs=per_token, oov=oov,
            words=len(text.split()) if char else n, chars=n if char else None,
            ends=int(end and not math.isnan(per_token[-1])),
            context=min(len(tokens), max(0, skip + 1 - len(ctx) - head)),
        ))
    return results


def _prepare(lm, text: str, options: Options):
    """(stream, index of the first token in it, tokens (+ `</s>`), OOV flags, 1 if `</s>` ends it)."""
    tokens = lm.tokens(text)
    ids = lm.vocab.encode(tokens)
    oov = [i == UNK_ID for i in ids]  # every OOV word (and a literal <unk>) encodes as <unk>
    head = [BOS_ID] if lm.boundaries and options.bos else []
    tail = [EOS_ID] if lm.boundaries and options.eos else []
    if tail:
        tokens, oov = tokens + ["</s>"], oov + [False]
    return head + ids + tail, len(head), tokens, oov, len(tail)


def score_stream(lm, numbered: Iterable[tuple[int, str]], options: Options = Options(),
                 batch_size: int = 1024, context_tokens: int = 0) -> Iterator[tuple[int, SentenceScore]]:
    """Score `(line_number, text)` pairs `batch_size` lines at a time, yielding them in order.

    `context_tokens` > 0: running text; each line is read after the lines before it in `numbered`
    (`context_ids`: whole lines, up to that many tokens with the line). Memory is bounded by one
    batch. When reading fails (a `WordlmError`, e.g. invalid UTF-8), the lines read before it are
    still scored and yielded, then the error is raised.
    """
    batch: list[tuple[int, str]] = []
    contexts: list[list[int]] = []
    running = None
    if context_tokens:
        check_context(lm, options.bos, context_tokens)
        running = RunningContext(context_tokens)

    def flush():
        scores = score_sentences(lm, [t for _, t in batch], options, contexts=contexts if running else None)
        return [(n, s) for (n, _), s in zip(batch, scores)]

    try:
        for item in numbered:
            batch.append(item)
            if running:
                contexts.append(running.before(lm.vocab.encode(lm.tokens(item[1]))))
            if len(batch) >= batch_size:
                yield from flush()
                batch, contexts = [], []
    except WordlmError as error:
        yield from flush()
        raise error
    yield from flush()


def score_files(lm, paths: Sequence[str], options: Options = Options(), batch_size: int = 1024,
                shard: tuple[int, int] | None = None, context_tokens: int = 0) -> Iterator[SentenceScore]:
    """The scores of every line of the files (paths, `.gz`, `-`), in order, `batch_size` lines at a time.

    `shard` (k, n): only lines k, k + n, k + 2n, … (0-based, numbered across the files). With
    `context_tokens`, each file is running text of its own (a file's first line has no context).
    """
    from wordlm.text import read_lines

    if context_tokens:
        if shard is not None:
            raise InputError("context_tokens reads each line after the lines before it: not with a shard")
        check_context(lm, options.bos, context_tokens)
        for path in paths:
            yield from (s for _, s in score_stream(lm, read_lines(path), options, batch_size, context_tokens))
        return

    def numbered():
        index = 0
        for path in paths:
            for number, text in read_lines(path):
                if shard is None or index % shard[1] == shard[0]:
                    yield number, text
                index += 1

    yield from (s for _, s in score_stream(lm, numbered(), options, batch_size))
