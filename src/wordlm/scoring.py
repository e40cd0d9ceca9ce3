"""Scoring: sentence log-probabilities, per-token scores, perplexity, conditional and fill-in scores.

Job: turn the LanguageModel primitive (`lm.stream_logprobs`, `lm.next_logprobs`, `lm.start`/`step`)
into the numbers people compare with KenLM and SRILM. Not its job: reading files, sharding and
printing (`cli/score_cmds.py`), or running the network (`lm.py`).

Conventions (DESIGN.md "Scoring conventions"):
- Natural log everywhere. A sentence is a line; its log-probability is `ln p(w1 … wn </s> | <s>)`:
  `<s>` is context only, never predicted nor counted; `</s>` is predicted and counted. Sums are
  float64 (the network's per-token numbers are float32).
- `bos=False` (`--no-bos`): no `<s>` before the first word. A neural model cannot predict a word
  from nothing, so the first word becomes context only: it is in the word count W but adds
  nothing to the log-probability and is not in the perplexity's denominator.
- `eos=False` (`--no-eos`): `</s>` is not predicted (and S leaves the denominator).
- Models without boundaries (`--no-boundaries`): there are no markers to add or remove; the first
  `framing.first_target` tokens of a line (1, or n for a no-boundary `window` n) are context only.
- OOV: a word not in the vocabulary is scored as `<unk>` (`oov="unk"`), or skipped (`oov="skip"`,
  SRILM): it still enters the history as `<unk>`, but adds nothing and is not counted.
- Counts: S sentences, W words (every token of the line, no `</s>`), O OOVs (skipped or not).
  `scored` = tokens whose log-probability is in L (`</s>` included), `ends` = the `</s>` among them.
  `ppl = exp(-L / scored)` and `ppl1 = exp(-L / (scored - ends))`; by default `scored = W - O_skipped
  + S`, i.e. DESIGN's formulas. Always from totals, never a mean of sentence perplexities.
- Character models: tokens are characters; W counts the line's whitespace-separated words, `ppl`
  and `ppl1` are word-level (`exp(-L/(W+S))`, `exp(-L/W)`) so word and character models compare;
  `char_ppl = exp(-L / scored)` and `bpc` (bits per character) are the per-character figures.
- Corpus totals are kept in fixed point (integer multiples of 2^-20 nats), so they add
  associatively: summaries of shards merge into exactly (bit for bit) the unsharded summary.
- A backward model (`lm.reverse`) reads each line right to left: its per-token list is in that
  order, `</s>` last (it stands for the start of the line).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from wordlm.errors import InputError, WordlmError
from wordlm.running_text import RunningContext, check_context, context_ids, in_context  # noqa: F401
from wordlm.vocab import BOS_ID, EOS_ID, PAD_ID, RESERVED, UNK_ID

OOV_MODES = ("unk", "skip")
BLANK = "___"
FIXED_POINT = 2**20  # corpus log-probabilities are kept as integers in units of 2^-20 nats
MAX_LOGITS = 1 << 26  # float32 logits one forward pass may hold (256 MiB); longer lines go in chunks
MAX_BATCH = 64  # sentences per forward pass (recurrent framings; fastest on PTB, benchmarks/scoring.md)
CHUNK = 512  # candidates per batched call in conditional and fill-in scoring


# -- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    """How sentences are scored: `<s>` before, `</s>` after, and what an OOV word adds."""

    bos: bool = True
    eos: bool = True
    oov: str = "unk"

    def __post_init__(self):
        if self.oov not in OOV_MODES:
            raise InputError(f"unknown OOV mode {self.oov!r}: expected one of {', '.join(OOV_MODES)}")


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
        return math.exp(-self.logprob / n) if n else None

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


@dataclass
class Summary:
    """Corpus totals. `add` a sentence, `merge` another summary (totals add, exactly)."""

    unit: str = "word"  # "char" for character models
    options: Options = field(default_factory=Options)
    sentences: int = 0
    words: int = 0
    oovs: int = 0
    scored: int = 0
    ends: int = 0
    chars: int = 0
    fixed: int = 0  # the log-probability in units of 2^-20 nats

    def add(self, s: SentenceScore) -> None:
        self.sentences += 1
        self.words += s.words
        self.oovs += s.oovs
        self.scored += s.scored
        self.ends += s.ends
        self.chars += s.chars or 0
        self.fixed += round(s.logprob * FIXED_POINT)

    def merge(self, other: "Summary") -> None:
        if (other.unit, other.options) != (self.unit, self.options):
            raise InputError(
                f"cannot merge summaries scored differently: {_describe(self)} and {_describe(other)}"
            )
        for name in ("sentences", "words", "oovs", "scored", "ends", "chars", "fixed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def logprob(self) -> float:
        return self.fixed / FIXED_POINT

    def _exp(self, n: int) -> float | None:
        return math.exp(-self.logprob / n) if n > 0 else None

    @property
    def ppl(self) -> float | None:
        return self._exp(self.scored if self.unit == "word" else self.words + self.ends)

    @property
    def ppl1(self) -> float | None:
        return self._exp(self.scored - self.ends if self.unit == "word" else self.words)

    def to_json(self) -> dict:
        out = {"sentences": self.sentences, "words": self.words, "oovs": self.oovs, "logprob": self.logprob,
               "ppl": self.ppl, "ppl1": self.ppl1, "scored": self.scored, "ends": self.ends}
        if self.unit == "char":
            out.update(chars=self.chars, char_ppl=self._exp(self.scored),
                       bpc=-self.logprob / math.log(2) / self.scored if self.scored else None)
        out["options"] = {"unit": self.unit, "bos": self.options.bos, "eos": self.options.eos, "oov": self.options.oov}
        return out

    @classmethod
    def from_json(cls, obj, where: str = "summary") -> "Summary":
        """Read a summary written by `to_json` (e.g. `wordlm score --summary`); errors name `where`."""
        need = ("sentences", "words", "oovs", "logprob", "scored", "ends", "options")
        if not isinstance(obj, dict) or any(k not in obj for k in need):
            raise InputError(f"{where}: not a wordlm summary (expected the fields {', '.join(need)}; "
                             "write one with `wordlm score --summary FILE` or `wordlm perplexity --json`)")
        opt = obj["options"]
        try:
            s = cls(unit=opt["unit"], options=Options(bool(opt["bos"]), bool(opt["eos"]), opt["oov"]))
            for name in ("sentences", "words", "oovs", "scored", "ends", "chars"):
                value = obj.get(name, 0)
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f'"{name}" must be a non-negative integer, got {value!r}')
                setattr(s, name, value)
            s.fixed = round(float(obj["logprob"]) * FIXED_POINT)
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{where}: malformed summary: {e}") from None
        return s


def _describe(s: Summary) -> str:
    o = s.options
    return f"unit={s.unit} bos={o.bos} eos={o.eos} oov={o.oov}"


# -- sentences ----------------------------------------------------------------------------------
def score_sentences(lm, texts: Sequence[str], options: Options = Options(), max_logits: int = MAX_LOGITS,
                    max_batch: int = MAX_BATCH, contexts: Sequence[Sequence[int]] | None = None) -> list[SentenceScore]:
    """Score each line of `texts` (one sentence per line) under `options`. Independent of batching.

    `contexts[i]` (recurrent models): ids read before line i, context only (see `context_ids`).
    """
    prepared = [_prepare(lm, text, options) for text in texts]
    contexts = [list(c) for c in contexts] if contexts is not None else [[] for _ in texts]
    streams = [ctx + p[0] for ctx, p in zip(contexts, prepared)]
    first, char = lm.framing.first_target, lm.tokenizer.mode == "char"
    skips = [max(len(ctx), first - 1) for ctx in contexts]  # positions of each stream not scored
    results = []
    for text, ctx, skip, (_stream, head, tokens, oov, end), lp in zip(
        texts, contexts, skips, prepared,
        stream_scores(lm, streams, max_logits, max_batch, skips if any(contexts) else None),
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
        check_context(lm, options.bos)
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


def summarize(lm, scores: Iterable[SentenceScore], options: Options = Options()) -> Summary:
    summary = new_summary(lm, options)
    for s in scores:
        summary.add(s)
    return summary


def new_summary(lm, options: Options = Options()) -> Summary:
    return Summary(unit="char" if lm.tokenizer.mode == "char" else "word", options=options)


# -- streams: the fast exact paths --------------------------------------------------------------
def stream_scores(lm, streams: Sequence[Sequence[int]], max_logits: int = MAX_LOGITS,
                  max_batch: int = MAX_BATCH, skips: Sequence[int] | None = None) -> list[np.ndarray]:
    """`lm.stream_logprobs` (the same numbers), fast and in bounded memory.

    Recurrent framings: streams sorted by length go through one forward pass per group of at most
    `max_batch` streams and `max_logits` logits, the softmax computed only at scored positions; a
    stream too long for one pass is read in chunks carrying the LSTM state. `skips[i]`: stream i's
    first `skips[i]` positions are context only (read, not scored: the result starts at position
    `skips[i]`, i.e. at ln p(s[skips[i] + 1] | …)); default `first_target - 1`, as `lm.stream_logprobs`.
    Fixed contexts: `lm.stream_logprobs` (it batches rows in bounded chunks).
    """
    first, vocab = lm.framing.first_target, lm.vocab_size
    if skips is None:
        skips = [first - 1] * len(streams)
    elif not lm.framing.recurrent:
        raise InputError("context-only positions need a recurrent model (sequence or char framing)")
    if not lm.framing.recurrent or getattr(lm, "keras_model", None) is None:  # (stub models: no network)
        return lm.stream_logprobs(streams)
    fns = _compiled(lm)
    out: list[np.ndarray] = [np.zeros(0)] * len(streams)
    group: list[int] = []

    def flush():
        steps = [len(streams[i]) - 1 for i in group]
        x = np.zeros((len(group), max(steps)), dtype=np.int32)
        y = np.zeros_like(x)
        for r, i in enumerate(group):
            x[r, : steps[r]] = streams[i][:-1]
            y[r, : steps[r]] = streams[i][1:]
        start = np.array([skips[i] for i in group], dtype=np.int32)
        flat = fns["targets"](x, y, start).numpy().astype(np.float64)  # row by row, scored positions only
        counts = [n - skips[i] for i, n in zip(group, steps)]
        for i, lo, n in zip(group, np.cumsum([0, *counts[:-1]]), counts):
            out[i] = flat[lo : lo + n]
        group.clear()

    for i in sorted(range(len(streams)), key=lambda i: len(streams[i])):
        steps = len(streams[i]) - 1
        if steps <= skips[i]:
            continue
        if steps * vocab > max_logits:
            out[i] = _chunked(lm, streams[i], max(1, max_logits // vocab))[skips[i] :]
            continue
        if group and ((len(group) + 1) * steps * vocab > max_logits or len(group) >= max_batch):
            flush()
        group.append(i)
    if group:
        flush()
    return out


def _chunked(lm, stream: Sequence[int], chunk: int) -> np.ndarray:
    """ln p(s[t + 1] | s[:t + 1]) at every position t of one long stream, `chunk` positions a compiled call."""
    fn = _compiled(lm)["chunk"]
    state = np.zeros((1, lm.state_size), dtype=np.float32)
    x = np.asarray(stream[:-1], dtype=np.int32)
    y = np.asarray(stream[1:], dtype=np.int32)
    parts = []
    for lo in range(0, len(x), chunk):
        lp, state = fn(x[lo : lo + chunk], y[lo : lo + chunk], state)
        parts.append(lp.numpy().astype(np.float64))
    return np.concatenate(parts)


def _compiled(lm) -> dict:
    """Compiled scoring functions of a recurrent model, built on `lm.network()` (shared weights):

    - `targets(x, y, start)`: <int32>[B, T] inputs and targets (post-padded with `<pad>`), <int32>[B]
      first scored positions → <float32>[scored positions]: ln p(y | x) row by row, the softmax
      computed only where x is not padding and from `start` on, as
      logsumexp − target logit (no [B, T, V] log-softmax is written): 1.3–1.6× lm's speed on PTB;
    - `chunk(x, y, state)`: one stream's next positions and the LSTM state carried across calls
      (`Network.cell_step` scanned, as `lm.step` reads), for lines too long for one forward pass.
    """
    cached = getattr(lm, "_scoring_fns", None)
    if cached is not None and cached[0] is lm.keras_model:
        return cached[1]
    import tensorflow as tf

    net = lm.network()
    top = lm.state_size - 2 * net.units  # the top layer's h in the flat state [h1, c1, h2, c2, …]

    def target_logprobs(h, y):  # h <float>[N, units], y <int>[N] -> <float>[N]
        logits = net.logits(h)
        return tf.gather(logits, y, axis=1, batch_dims=1) - tf.reduce_logsumexp(logits, axis=-1)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2 + [tf.TensorSpec([None], tf.int32)])
    def targets(x, y, start):
        # Post-padded rows: a real position never sees the padding after it, so the LSTMs run
        # without a mask (identical numbers, ~13% faster); only real positions from each row's
        # `start` on reach the softmax.
        h = tf.gather(net.embedding.embeddings, x)
        for layer in net.lstms:
            h = layer(h, training=False)
        mask = tf.not_equal(x, PAD_ID) & (tf.range(tf.shape(x)[1])[None, :] >= start[:, None])
        return target_logprobs(tf.boolean_mask(h, mask), tf.boolean_mask(y, mask))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([1, lm.state_size], tf.float32)])
    def chunk(x, y, state):
        states = tf.scan(lambda s, i: net.cell_step(i[None], s)[1], x, initializer=state)  # [T, 1, state]
        return target_logprobs(states[:, 0, top : top + net.units], y), states[-1]

    fns = {"targets": targets, "chunk": chunk}
    lm._scoring_fns = (lm.keras_model, fns)
    return fns


# -- next words and conditional scores -----------------------------------------------------------
def _prompt_history(lm, prompt: str) -> list[int]:
    history = lm.history(prompt)
    if not history:
        raise InputError("this model has no boundary markers, so it cannot predict the first word of a line: "
                         "give a prompt of at least one word")
    return history


class NextWord(NamedTuple):
    """A next word and ln p(word | prompt) (natural log); `prob` is its probability."""

    word: str
    logprob: float

    @property
    def prob(self) -> float:
        return math.exp(self.logprob)

    def to_json(self) -> dict:
        return {"word": self.word, "logprob": self.logprob, "prob": self.prob}


def next_words(lm, prompt: str, top: int | None = None, prefix: str | None = None) -> list[NextWord]:
    """Every token the model can predict after `prompt` (`</s>` and `<unk>` included), most likely
    first, with ln p(token | prompt); the probabilities of the full list sum to 1. `prefix`: only
    vocabulary words that start with it (a keyboard completing the word being typed)."""
    return next_words_batch(lm, [prompt], top, prefix)[0]


def next_words_batch(lm, prompts: Sequence[str], top: int | None = None,
                     prefix: str | None = None) -> list[list[NextWord]]:
    """`next_words` of several prompts, from one batched call of the model."""
    if prefix is not None and lm.tokenizer.mode == "char":
        raise InputError("a prefix completes a word: a character model predicts one character at a time")
    allowed = None
    if prefix is not None:
        prefix = prefix.lower() if lm.tokenizer.lower else prefix
        allowed = np.zeros(lm.vocab_size, dtype=bool)
        allowed[[i for i, w in enumerate(lm.vocab.id_to_token) if i >= len(RESERVED) and w.startswith(prefix)]] = True
    rows = lm.next_logprobs([_prompt_history(lm, p) for p in prompts]).astype(np.float64) if prompts else []
    out = []
    for lp in rows:
        order = [i for i in np.argsort(-lp, kind="stable") if np.isfinite(lp[i]) and (allowed is None or allowed[i])]
        out.append([NextWord(lm.vocab.id_to_token[i], float(lp[i])) for i in order[:top]])
    return out


def candidate_ids(lm, candidate: str) -> list[int]:
    """A candidate continuation's ids in the model's reading order; a `</s>` token ends the line."""
    tokens = lm.tokens(candidate)
    if not tokens:
        raise InputError(f"empty candidate {candidate!r}: expected one or more words")
    ids = [EOS_ID if t == "</s>" and lm.boundaries else i for t, i in zip(tokens, lm.vocab.encode(tokens))]
    if EOS_ID in ids[:-1]:
        raise InputError(f"candidate {candidate!r}: '</s>' can only be its last token")
    return ids


def continuation_logprobs(lm, prompt: str, candidates: Sequence[str]) -> list[float]:
    """ln p(candidate | prompt) for each candidate continuation (one or more words, natural log).

    The prompt is the beginning of a line (after `<s>` with boundaries); for a backward model it is
    the text that follows, and a candidate is the text just before it, both in normal order. An
    OOV word of a candidate is scored as `<unk>`. All candidates go through the model together.
    """
    per_token = continuations(lm, _prompt_history(lm, prompt), [candidate_ids(lm, c) for c in candidates])
    return [float(x.sum()) for x in per_token]


def continuations(lm, history: Sequence[int], conts: Sequence[Sequence[int]], first: int = 0) -> list[np.ndarray]:
    """For each continuation c, <float64>[len(c)]: ln p(c[j] | history + c[:j]).

    Positions (in history + c) before `first`, and position 0, are context only: NaN. Stateful
    models read the history once and step every continuation in one batch (`CHUNK` rows a call);
    the others batch one row per distinct context (shared contexts are computed once).
    """
    history = list(history)
    longest = max((len(c) for c in conts), default=0)
    limit = lm.max_stateful_history()
    if longest and lm.stateful and (limit is None or len(history) + longest - 1 <= limit):
        return _continuations_stateful(lm, history, conts, first)
    return _continuations_by_context(lm, history, conts, first)


def _continuations_stateful(lm, history, conts, first):
    out = [np.full(len(c), np.nan) for c in conts]
    h = len(history)
    if h:
        lp0, state0 = lm.start([history])
    for lo in range(0, len(conts), CHUNK):
        rows = conts[lo : lo + CHUNK]
        width = max(len(c) for c in rows)
        ids = np.full((len(rows), width), PAD_ID, dtype=np.int32)
        for r, c in enumerate(rows):
            ids[r, : len(c)] = c
        if h:
            lp, state, j0 = np.repeat(lp0, len(rows), axis=0), np.repeat(state0, len(rows), axis=0), 0
        else:  # nothing to predict the first token from: it is context only
            lp, state = lm.start([[c[0]] for c in rows])
            j0 = 1
        for j in range(j0, width):
            if h + j >= first:
                got = lp[np.arange(len(rows)), ids[:, j]]
                for r, c in enumerate(rows):
                    if j < len(c):
                        out[lo + r][j] = got[r]
            if j + 1 < width:
                lp, state = lm.step(state, ids[:, j])
    return out


def _continuations_by_context(lm, history, conts, first):
    out = [np.full(len(c), np.nan) for c in conts]
    rows: dict[tuple, int] = {}  # distinct model input -> row
    reps, wants = [], []  # a history per row; (row, continuation, position, target)
    for ci, c in enumerate(conts):
        for j, target in enumerate(c):
            pos = len(history) + j
            if pos < max(first, 1):
                continue
            hist = history + list(c[:j])
            key = tuple(lm.framing.context(hist))
            if key not in rows:
                rows[key] = len(reps)
                reps.append(hist)
            wants.append((rows[key], ci, j, target))
    wants.sort()
    k = 0
    for lo in range(0, len(reps), CHUNK):
        lp = lm.next_logprobs(reps[lo : lo + CHUNK])
        while k < len(wants) and wants[k][0] < lo + CHUNK:
            row, ci, j, target = wants[k]
            out[ci][j] = lp[row - lo, target]
            k += 1
    return out


# -- fill in the blank ---------------------------------------------------------------------------
@dataclass
class Filled:
    """A word for the blank: the filled sentence's log-probability (`</s>` included) and the word's
    probability given the rest of the sentence, p(w | rest) = p(sentence_w) / Σ_v p(sentence_v)."""

    word: str
    text: str
    logprob: float
    prob: float
    forward: float | None = None  # with a backward model: each model's own ln p(sentence)
    backward: float | None = None

    def to_json(self) -> dict:
        out = {"word": self.word, "text": self.text, "logprob": self.logprob, "prob": self.prob}
        if self.backward is not None:
            out.update(forward=self.forward, backward=self.backward)
        return out


def fill(lm, text: str, top: int | None = 10, backward=None) -> list[Filled]:
    """Rank every vocabulary word for the one `___` in `text` by the filled sentence's log-probability.

    The sentence is scored as `score_sentences` would (`<s>`, `</s>`, OOV context words as `<unk>`);
    `<unk>` and the markers are not candidates. With a `backward` model (trained with `--reverse`,
    same tokenizer) a word's `logprob` is the mean of the two models' ln p(sentence) — two estimates
    of the same quantity — and only words in both vocabularies are candidates.
    """
    if text.count(BLANK) != 1:
        raise InputError(f"expected exactly one {BLANK} (the blank to fill) in {text!r}, found {text.count(BLANK)}")
    if backward is not None:
        if not backward.reverse or lm.reverse:
            raise InputError("the backward model must be trained with --reverse and the main model without it")
        if backward.tokenizer != lm.tokenizer:
            raise InputError(f"the backward model's tokenizer ({backward.tokenizer}) differs from the model's "
                             f"({lm.tokenizer}): train both with the same --tokenizer")
    left, right = text.split(BLANK)
    words = [w for w in lm.vocab.id_to_token[len(RESERVED):] if backward is None or w in backward.vocab]
    if not words:
        raise InputError("no candidate words: the two models' vocabularies have no word in common")
    score = fwd = fill_logprobs(lm, left, right, words)
    bwd = None
    if backward is not None:
        bwd = fill_logprobs(backward, left, right, words)
        score = (fwd + bwd) / 2
    prob = np.exp(score - np.logaddexp.reduce(score))
    order = np.argsort(-score, kind="stable")[:top]
    return [Filled(word=words[i], text=f"{left}{words[i]}{right}", logprob=float(score[i]),
                   prob=float(prob[i]), forward=float(fwd[i]) if bwd is not None else None,
                   backward=float(bwd[i]) if bwd is not None else None) for i in order]


def fill_logprobs(lm, left: str, right: str, words: Sequence[str]) -> np.ndarray:
    """<float64>[len(words)]: ln p(left + word + right) for each word (`<s>`, `</s>` as in scoring).

    The part before the blank is read once; each word and the whole part after it go through the
    model for all words together (stateful models: one batched step per token, `CHUNK` words a call).
    """
    before, after = lm.tokenizer.tokenize(left), lm.tokenizer.tokenize(right)
    if lm.reverse:  # a backward model reads the line right to left
        before, after = after[::-1], before[::-1]
    before_ids, after_ids = lm.vocab.encode(before), lm.vocab.encode(after)
    history = [BOS_ID, *before_ids] if lm.boundaries else before_ids
    tail = [*after_ids, EOS_ID] if lm.boundaries else after_ids
    first = lm.framing.first_target
    known = float(lm.stream_logprobs([history])[0].sum()) if len(history) > first else 0.0
    ids = lm.vocab.encode(words)
    per_token = continuations(lm, history, [[w, *tail] for w in ids], first)
    return known + np.array([np.nansum(x) for x in per_token])
