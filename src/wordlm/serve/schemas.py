"""The service's requests and responses: pydantic models, so that the OpenAPI schema and the 422
errors (which name the field) come from one declaration.

Field names and defaults are the CLI's and the Python API's (`--per-token` is `per_token`,
`--beam-size` is `beam_size`, …); numbers are natural-log log-probabilities, `</s>` predicted and
counted, `<s>` context only (DESIGN.md). Requests are strict: a wrong type (`"top": "3"`) or an
unknown field (`"per-token"`) is refused, not guessed at.

Caps, so that one request cannot hold the model for long: the decoding caps of the library
(`MAX_WORDS`, `MAX_NUM`, `MAX_BEAM` in `decoding.options`), `MAX_CONTEXT_TOKENS` of running text,
and the service's own `MAX_LINES` (lines, hypotheses or candidates per request), `MAX_TOP`,
`MAX_TEXT_CHARS` (one text: a prompt, a line, a hypothesis), `MAX_UTTERANCES` and `MAX_HYPS` (a batch
of n-best lists); the body's size (`limits.py`) and the compute budget (`batching.py`) bound the rest.

Every text is one line, read as the CLI reads a line of a file (`Text`, `wordlm.text.one_line`): a
leading byte-order mark (U+FEFF) and one trailing line end (`\n`, `\r\n`) are dropped; a line break
inside is refused (422), since the CLI would read two lines (send several lines as `lines`).
Not here: running the requests (`app.py`).
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from wordlm.decoding.options import LENGTH_NORMS, MAX_BEAM, MAX_NUM, MAX_WORDS, STRATEGIES
from wordlm.errors import InputError
from wordlm.running_text import MAX_CONTEXT_TOKENS
from wordlm.text import one_line as text_rule  # the one text rule of the CLI, the API and the service

MAX_LINES = 1_000  # lines (score, perplexity), hypotheses (rerank) or candidates (next) in one request
MAX_TOP = 10_000  # next words or fill-in words returned by one request
MAX_TEXT_CHARS = 20_000  # characters of one text (a prompt, a line, a hypothesis): a sentence, not a book
MAX_UTTERANCES = 10_000  # utterances of one batch /v1/rerank request
MAX_HYPS = 20_000  # hypotheses of one /v1/rerank request, all utterances together
MAX_CELLS = 1 << 22  # rows × vocabulary of one decoding step (16 MiB of float32 log-probabilities; a step's
#                      sampling or pruning is a few passes over them, so this also bounds the time between steps)
DEFAULT_TOP = 10  # as `wordlm next` and `wordlm fill`
NBEST_FORMATS = ("auto", "jsonl", "tsv", "hyporadise", "mlm", "nemo", "srilm")  # those a single text can hold


def one_line(value: str) -> str:
    """A text read as the CLI reads a line of a file (`wordlm.text.one_line`: a leading byte-order mark
    and one trailing line end dropped; a line break inside refused), at most `MAX_TEXT_CHARS`."""
    try:
        value = text_rule(value, "text")
    except InputError as e:
        raise ValueError(str(e).removeprefix("text: ")) from None
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"{len(value):,} characters: at most {MAX_TEXT_CHARS:,} in one text")
    return value


def one_line_or_error(value: str, what: str) -> str:
    """`one_line` with its problem as an `InputError` naming `what` (for texts read from n-best files)."""
    try:
        return one_line(value)
    except ValueError as e:
        raise InputError(f"{what}: {e}") from None


Text = Annotated[str, AfterValidator(one_line)]

Strategy = Literal[STRATEGIES]  # type: ignore[valid-type]
LengthNorm = Literal[LENGTH_NORMS]  # type: ignore[valid-type]


class Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ScoringOptions(Request):
    bos: bool = Field(True, description="`<s>` before the first word (false: the first word is context only).")
    eos: bool = Field(True, description="Predict and count `</s>` at the end of each line.")
    oov: Literal["unk", "skip"] = Field("unk", description="unk: score OOV words as `<unk>`; skip: leave them out (SRILM).")
    context_tokens: int = Field(0, ge=0, le=MAX_CONTEXT_TOKENS,
                                description="Running text: read each line after the lines before it in this "
                                            "request that fit, with it, in N tokens (0: lines independent).")


class ScoreRequest(ScoringOptions):
    """One sentence (`text`) or several (`lines`): each line is a sentence."""

    text: Optional[Text] = Field(None, description="One line; the answer is one score object.")
    lines: Optional[list[Text]] = Field(None, max_length=MAX_LINES,
                                       description="Several lines; the answer is {\"results\": [...]}.")
    per_token: bool = Field(False, description="Also each token's log-probability (`tokens`).")

    @model_validator(mode="after")
    def _one_of(self):
        if (self.text is None) == (self.lines is None):
            raise ValueError("give either text (one line) or lines (a list of lines)")
        return self


class PerplexityRequest(ScoringOptions):
    lines: list[Text] = Field(..., min_length=1, max_length=MAX_LINES, description="The corpus, one sentence per line.")


class NextRequest(Request):
    prompt: Text = Field("", description="The beginning of a line (for a --reverse model: its end).")
    top: int = Field(DEFAULT_TOP, ge=1, le=MAX_TOP, description="How many of the most likely next words.")
    prefix: Optional[Text] = Field(None, description="Only words that start with these letters (the word being typed).")
    candidates: Optional[list[Text]] = Field(None, min_length=1, max_length=MAX_LINES,
                                            description="Continuations to score instead (one or more words each).")

    @field_validator("candidates")
    @classmethod
    def _not_with_prefix(cls, value, info: ValidationInfo):
        if value is not None and info.data.get("prefix") is not None:
            raise ValueError("prefix filters the ranked next words: not with candidates")
        return value


class FillRequest(Request):
    text: Text = Field(..., description="A sentence with one `___` to fill in.")
    top: int = Field(DEFAULT_TOP, ge=1, le=MAX_TOP)


SAMPLING_ONLY = ("temperature", "top_k", "top_p")


class GenerateRequest(Request):
    """Every option of `wordlm generate` / `DecodeOptions`, with the same defaults."""

    prompt: Text = Field(..., description="The beginning of the line to continue.")
    strategy: Strategy = "greedy"
    max_words: int = Field(20, ge=1, le=MAX_WORDS, description="Most words to generate (`</s>` not counted).")
    min_words: int = Field(0, ge=0, le=MAX_WORDS, description="Forbid `</s>` before this many words.")
    num: int = Field(1, ge=1, le=MAX_NUM, description="Results: samples, or the n best of the beam.")
    beam_size: Optional[int] = Field(None, ge=1, le=MAX_BEAM, description="Beam width (beam; default max(4, num)).")
    temperature: Optional[float] = Field(None, ge=0, description="Sampling temperature (0 = greedy; default 1).")
    top_k: Optional[int] = Field(None, ge=1, description="Sample among the K most likely words.")
    top_p: Optional[float] = Field(None, gt=0, le=1, description="Sample in the nucleus of mass P.")
    length_norm: LengthNorm = "none"
    length_penalty: float = Field(1.0, ge=0, description="A, the exponent of length_norm.")
    no_repeat_ngram: Optional[int] = Field(None, ge=1, description="Never repeat an N-gram of the line.")
    forbid: list[Text] = Field(default_factory=list, max_length=MAX_LINES, description="Words never to generate.")
    allow_unk: bool = False
    seed: Optional[int] = Field(None, ge=0, lt=2**32, description="Sampling seed: the same seed, the same output.")

    @field_validator(*SAMPLING_ONLY, "beam_size")
    @classmethod
    def _for_strategy(cls, value, info: ValidationInfo):
        needs = "beam" if info.field_name == "beam_size" else "sample"
        strategy = info.data.get("strategy")
        if value is not None and strategy is not None and strategy != needs:
            raise ValueError(f"{info.field_name} applies to strategy {needs} (got strategy {strategy})")
        return value


class RerankRequest(Request):
    """N-best lists and the weights. One utterance as a line of a `jsonl` n-best file (`hyps`, with
    `utt_id` and `ref`): the answer is its record. A batch: `utterances` (a list of such objects), or
    `nbest`, the text of an n-best file in any format `wordlm rerank` reads from one file (`format`,
    `beam_size` for nemo): the answer is {"results": [...]}, the records `wordlm rerank --json` prints."""

    utt_id: Union[str, int] = "1"
    ref: Optional[Text] = Field(None, description="The reference transcript (echoed with all=true).")
    hyps: Optional[list[dict]] = Field(None, min_length=1, max_length=MAX_LINES,
                                       description='One utterance\'s hypotheses in the recogniser\'s order: '
                                                   '{"text", "score", ...numeric fields}.')
    utterances: Optional[list[dict]] = Field(None, min_length=1, max_length=MAX_UTTERANCES,
                                             description='A batch: {"utt_id", "ref"?, "hyps": [...]} per utterance.')
    nbest: Optional[str] = Field(None, min_length=1,
                                 description="A batch: the text of an n-best file (jsonl, tsv, hyporadise, mlm, "
                                             "nemo, srilm), as `wordlm rerank NBEST` reads it.")
    format: Literal[NBEST_FORMATS] = Field("auto", description="The format of `nbest` (auto: as the CLI detects it).")  # type: ignore[valid-type]
    beam_size: Optional[int] = Field(None, ge=1, le=MAX_LINES, description="Hypotheses per utterance (format nemo).")
    am: Union[dict[str, float], str, None] = Field(
        None, description='First-pass score: {"field": weight} or "decoder=0.6,ctc=0.4" (default {"score": 1}).')
    lm_weight: float = Field(1.0, description="α, the LM's weight.")
    word_bonus: float = Field(0.0, description="β, added per word.")
    all: bool = Field(False, description="Also every hypothesis, best first, with its scores.")

    @model_validator(mode="after")
    def _one_of(self):
        given = [name for name in ("hyps", "utterances", "nbest") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give one of hyps (one utterance), utterances (a list of them) or nbest (the text of "
                             f"an n-best file){'; got ' + ' and '.join(given) if given else ''}")
        if self.nbest is None and (self.format != "auto" or self.beam_size is not None):
            raise ValueError("format and beam_size describe nbest: give them with nbest only")
        return self


# -- responses (documentation of the schema; the service writes these shapes) ------------------
class TokenOut(BaseModel):
    token: str
    logprob: Optional[float] = Field(description="null where the token is context only or a skipped OOV")
    oov: bool


class SentenceOut(BaseModel):
    text: str
    logprob: float
    words: int
    oovs: int
    ppl: Optional[float]
    chars: Optional[int] = None
    tokens: Optional[list[TokenOut]] = None


class ScoresOut(BaseModel):
    results: list[SentenceOut]


class SummaryOut(BaseModel):
    sentences: int
    words: int
    oovs: int
    logprob: float
    ppl: Optional[float]
    ppl1: Optional[float]
    scored: int
    ends: int
    options: dict


class WordOut(BaseModel):
    word: str
    logprob: float
    prob: float


class NextOut(BaseModel):
    prompt: str
    words: list[WordOut]


class FilledOut(BaseModel):
    word: str
    text: str
    logprob: float
    prob: float


class FillOut(BaseModel):
    words: list[FilledOut]


class HypothesisOut(BaseModel):
    text: str
    continuation: str
    logprob: float
    score: float


class GenerateOut(BaseModel):
    hypotheses: list[HypothesisOut]
    warnings: list[str]


class RerankOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    utt_id: str
    text: str
    rank_before: int
    score: float
    first_pass: float
    wordlm: float
    words: int


class ErrorItem(BaseModel):
    loc: list[Union[str, int]]
    msg: str
    type: str


class RerankBatchOut(BaseModel):
    results: list[RerankOut]


class ErrorOut(BaseModel):
    error: str = Field(description="One line naming the field and the problem.")
    detail: list[ErrorItem]
